"""The pgbouncer-instance-loss rehearsal: with the environment's replicas the others keep serving
(`nox -s rehearse`, also in CI); with one replica, losing it stops every request."""

from __future__ import annotations

import io
import secrets
from pathlib import Path

from rich.console import Console

from akops.layout import Layout
from akops.rehearse import run
from tests.integration.rehearse.processes import processes_mentioning


def test_with_one_replica_losing_it_stops_the_service(
    layout: Layout, tmp_path: Path, scratch: Path
) -> None:
    canary = f"canary-{secrets.token_hex(8)}"
    opts = run.Options(
        "pgbouncer-instance-loss",
        "prod",
        out=tmp_path / "out",
        pgbouncer_replicas=1,
        password=canary,
    )
    shown = io.StringIO()
    report, where = run.rehearse(layout, opts, Console(file=shown, width=200))
    # The password reached PgBouncer, PostgreSQL and the runbook's psql, and nothing it wrote.
    written = [
        p.read_text(errors="replace") for p in where.rglob("*") if p.suffix in (".md", ".json")
    ]
    assert written and not [t for t in [shown.getvalue(), *written] if canary in t]
    verdicts = {e.id: e for e in report.expectations}
    assert verdicts["listening-fails"].held, verdicts["listening-fails"].detail
    assert not verdicts["others-keep-serving"].held
    assert "requests = 0" in verdicts["others-keep-serving"].detail
    assert report.topology.pgbouncers == 1 and report.exit_code == 1
    assert "others-keep-serving" in report.result_line()
    assert processes_mentioning(str(scratch)) == []
