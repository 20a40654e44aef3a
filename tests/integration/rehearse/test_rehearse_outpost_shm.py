"""The outpost-shm-full rehearsal on a real tmpfs: the patched /dev/shm holds a day of sessions,
the 64Mi default does not; the tmpfs is unmounted and the writer gone afterwards."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from rich.console import Console

from akops.layout import Layout
from akops.rehearse import run
from tests.integration.rehearse.processes import processes_mentioning


@pytest.mark.parametrize(
    ("shm_size", "held"),
    # The patched side runs in `nox -s rehearse` (also in CI); here with AKOPS_REHEARSE_BOTH=1.
    [*([(None, True)] if os.environ.get("AKOPS_REHEARSE_BOTH") else []), ("64Mi", False)],
)
def test_the_patched_shm_holds_a_day_and_the_default_does_not(
    layout: Layout, tmp_path: Path, scratch: Path, shm_size: str | None, held: bool
) -> None:
    opts = run.Options(
        "outpost-shm-full", "prod", out=tmp_path / "out", shm_size=shm_size, acts=("defence",)
    )
    report, _ = run.rehearse(layout, opts, Console(file=io.StringIO(), width=200))
    verdict = {e.id: e for e in report.expectations}["patched-shm-holds-a-day"]
    assert verdict.held is held, verdict.detail
    assert report.exit_code == (0 if held else 1)
    if held:
        assert report.measurements["max_shm_used_pct"] < 80
        assert "sizeLimit 2Gi" in (report.topology.shm_source or "")
    else:
        assert "patched-shm-holds-a-day" in report.result_line()
        assert "100% used" in verdict.detail
    assert report.topology.shm_bytes == (32 if held else 1) * 1024 * 1024
    assert str(scratch) not in Path("/proc/mounts").read_text()
    assert processes_mentioning(str(scratch)) == []
