"""The pool-exhaustion rehearsal: the load with a rollout's surge keeps PostgreSQL's free slots
with the environment's max_connections, and runs it out below the pools' total, as lint's
db.capacity predicts."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from rich.console import Console

from akops.layout import Layout
from akops.rehearse import run


@pytest.mark.parametrize(
    ("max_connections", "held"),
    # The environment's side runs in `nox -s rehearse` (also in CI); here with AKOPS_REHEARSE_BOTH=1.
    [*([(None, True)] if os.environ.get("AKOPS_REHEARSE_BOTH") else []), (50, False)],
)
def test_postgres_keeps_free_slots_only_when_it_holds_the_pools(
    layout: Layout, tmp_path: Path, max_connections: int | None, held: bool
) -> None:
    opts = run.Options(
        "pool-exhaustion", "prod", out=tmp_path / "out", max_connections=max_connections
    )
    report, _ = run.rehearse(layout, opts, Console(file=io.StringIO(), width=200))
    verdicts = {e.id: e for e in report.expectations}
    assert verdicts["no-client-errors"].held, verdicts["no-client-errors"].detail
    assert verdicts["postgres-keeps-free-slots"].held is held
    m = report.measurements
    # what lint's db.capacity computes, held against what was measured
    assert m["capacity_threads_with_surge"] == 64 and m["capacity_pool_total"] == 75
    assert m["max_server_connections"] <= m["capacity_pool_total"]
    assert m["max_pg_connections"] <= (max_connections or 100) - 3
    if not held:
        assert "postgres-keeps-free-slots" in report.result_line()
        assert m["min_pg_free"] == 0
