"""The incident runbooks end to end against the local services of the verify tests.

`outpost-shm-full` and `db-boot-storm` run as operators run them (`invoke runbook.run`),
in a scratch repository whose prod environment points ``verify.local`` at a real HTTP
server, PgBouncer, PostgreSQL and tmpfs. Check steps get ``--target local`` and psql
steps the local database through runbook inputs; only steps that need a Kubernetes
cluster (kubectl, cluster-scope checks, cluster tasks) are skipped, with ``--skip``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from akops.layout import Layout
from akops.runbook import load
from akops.runbook.schema import Step
from akops.verify.registry import REGISTRY

pytestmark = pytest.mark.integration

CLUSTER_TASKS = {"rollout", "outpost-patch", "plan", "apply", "deploy", "rollback"}
CLUSTER_CHECKS = {c.id for c in REGISTRY if c.scope == "cluster"}
VERIFY_ARGS = "--target local --timeout 5"


def needs_cluster(step: Step) -> bool:
    return (
        (step.command is not None and step.command[0] == "kubectl")
        or step.task in CLUSTER_TASKS
        or step.check in CLUSTER_CHECKS
    )


@dataclass
class Local:
    repo: Layout
    cli: Any
    postgres: Any
    tmpfs: Any
    environ: dict[str, str]
    pgbouncer: Any

    def skips(self, runbook: str) -> list[str]:
        """``--skip`` for every step that reads from a cluster; changing ones stay (dry runs show them)."""
        rb = load.find(self.repo.runbooks, runbook)
        out: list[str] = []
        for step in rb.runbook.steps:
            if needs_cluster(step) and not step.changing:
                out += ["--skip", step.id]
        return out

    def run(self, runbook: str, *args: str) -> tuple[Any, dict[str, Any]]:
        result = self.cli(
            "runbook.run",
            runbook,
            "--env",
            "prod",
            "--verify-args",
            VERIFY_ARGS,
            *self.skips(runbook),
            *args,
            env=self.environ,
            timeout=300,
        )
        (path,) = sorted((self.repo.root / "runs").glob(f"*-{runbook}-prod.json"))[-1:]
        return result, json.loads(path.read_text())

    def runs_text(self) -> str:
        return "".join(p.read_text() for p in (self.repo.root / "runs").glob("*"))


@pytest.fixture
def local(
    repo: Layout,
    cli: Any,
    http: Any,
    pgbouncer_factory: Callable[..., Any],
    tmpfs: Any,
    postgres: Any,
) -> Local:
    bouncer = pgbouncer_factory()
    path = repo.environments / "prod.yaml"
    doc = yaml.safe_load(path.read_text())
    doc.setdefault("verify", {}).update(
        idle_in_transaction_max_seconds=1,
        local={
            "url": http.url,
            "outpost_url": http.url,
            # Nothing listens here: the db.* check steps reach PgBouncer only through their
            # own --pgbouncer (the runbook's pgbouncer_port input), as on a cluster.
            "pgbouncer": "127.0.0.1:1",
            "shm": str(tmpfs.path),
            "protected_services": [http.app_url("wealthfolio"), http.app_url("grafana")],
        },
    )
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    environ = {"AKOPS_PROD_POSTGRES_PASSWORD": postgres.password}
    return Local(repo, cli, postgres, tmpfs, environ, bouncer)


def by_step(transcript: dict[str, Any], attempt: int = -1) -> dict[str, dict[str, Any]]:
    return {s["step"]: s for s in transcript["attempts"][attempt]["steps"]}


def test_outpost_shm_full_dry_run_runs_its_checks_for_real(local: Local) -> None:
    result, t = local.run("outpost-shm-full", "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr
    steps = by_step(t)
    for check in ("shm-check", "ping-after-restart", "shm-after", "forward-auth"):
        assert steps[check]["result"] == "passed", (check, steps[check])
        assert steps[check]["command"][:2] == ["invoke", "verify"]
        assert "--target" in steps[check]["command"]
    # A dry run walks every step in order: both branches of the decision are shown.
    assert steps["is-it-shm"]["result"] == "would-run"
    assert "yes → restart-outpost" in steps["is-it-shm"]["note"]
    assert steps["not-shm"]["result"] == "would-run"
    assert steps["restart-outpost"]["result"] == "would-run"
    assert "delete" in steps["restart-outpost"]["command"]
    assert steps["outpost-pods"]["result"] == "skipped"
    assert local.postgres.password not in result.stdout + result.stderr + local.runs_text()


def test_outpost_shm_full_sees_a_full_tmpfs(local: Local) -> None:
    local.tmpfs.fill(85)
    result, t = local.run("outpost-shm-full", "--dry-run")
    assert result.returncode == 1, result.stdout + result.stderr
    steps = by_step(t)
    assert steps["shm-check"]["result"] == "failed"  # triage: allowed to fail, the run goes on
    assert "% used" in steps["shm-check"]["output"]
    assert steps["restart-outpost"]["result"] == "would-run"
    assert steps["shm-after"]["result"] == "failed"  # still full: recorded, the walk goes on
    assert steps["forward-auth"]["result"] == "passed"
    assert t["attempts"][0]["status"] == "failed"
    assert "Failed: shm-after" in result.stdout  # the summary names what failed


@dataclass
class Ghosts:
    """Backends of the authentik role idle in transaction while holding advisory locks: one
    plain, one whose transaction failed ("idle in transaction (aborted)"): its transaction's
    locks went with the error, the session-level advisory lock (a migration lock) stays."""

    idle: Any
    aborted: Any
    postgres: Any

    def state(self, conn: Any) -> str | None:
        with self.postgres.connect(autocommit=True) as admin:
            row = admin.execute(
                "SELECT state FROM pg_stat_activity WHERE pid = %s", (conn.info.backend_pid,)
            ).fetchone()
        return None if row is None else str(row[0])


@pytest.fixture
def ghosts(local: Local) -> Iterator[Ghosts]:
    import psycopg

    pg = local.postgres
    idle = pg.connect(user=pg.user, dbname=pg.database)
    aborted = pg.connect(user=pg.user, dbname=pg.database)
    try:
        idle.execute("SELECT pg_advisory_xact_lock(4242)")
        aborted.execute("SELECT pg_advisory_lock(4343)")
        with pytest.raises(psycopg.errors.DivisionByZero):
            aborted.execute("SELECT 1/0")
        time.sleep(1.5)  # longer than idle_seconds=1
        found = Ghosts(idle, aborted, pg)
        assert found.state(aborted) == "idle in transaction (aborted)"
        yield found
    finally:
        idle.close()
        aborted.close()


def db_inputs(local: Local) -> list[str]:
    pg = local.postgres
    return [
        "--input",
        f"db_host={pg.host}",
        "--input",
        f"db_port={pg.port}",
        "--input",
        f"db_user={pg.user}",
        "--input",
        f"db_name={pg.database}",
        "--input",
        "idle_seconds=1",
        "--input",
        f"pgbouncer_port={local.pgbouncer.port}",
    ]


def test_db_boot_storm_dry_run_finds_the_ghosts_and_terminates_nothing(
    local: Local, ghosts: Ghosts
) -> None:
    pids = sorted((ghosts.idle.info.backend_pid, ghosts.aborted.info.backend_pid))
    result, t = local.run("db-boot-storm", "--dry-run", *db_inputs(local))
    out = result.stdout + result.stderr
    steps = by_step(t)
    for step in ("lock-holders", "blocked", "connections", "ghost-pids", "pool-waiting"):
        assert steps[step]["result"] == "passed", (step, steps[step])
    for pid in pids:
        assert str(pid) in steps["lock-holders"]["output"]
    assert "advisory" in steps["lock-holders"]["output"]
    captured = steps["ghost-pids"]["captured"]["ghost_pids"]
    assert sorted(int(p) for p in captured.split(",")) == pids
    # The db.* checks reach PgBouncer through the runbook's own --pgbouncer (the port input).
    address = f"127.0.0.1:{local.pgbouncer.port}"
    for step in ("pool-waiting", "no-ghosts", "pool-free"):
        command = steps.get(step, {}).get("command") or []
        if command:
            assert command[command.index("--pgbouncer") + 1] == address, command
    # It shows exactly which backends it would end, and ends none.
    terminate = steps["terminate"]
    assert terminate["result"] == "would-run"
    assert f"pid IN ({captured})" in " ".join(terminate["command"])
    assert ghosts.idle.execute("SELECT 1").fetchone() == (1,)
    assert ghosts.state(ghosts.aborted) == "idle in transaction (aborted)"
    # The closing check sees the ghosts, for real, so the dry run ends failed there.
    assert steps["no-ghosts"]["result"] == "failed"
    assert "2 idle-in-transaction backend(s)" in steps["no-ghosts"]["output"]
    assert result.returncode == 1, out
    assert local.postgres.password not in out + local.runs_text()


def test_db_boot_storm_terminates_exactly_the_ghosts(local: Local, ghosts: Ghosts) -> None:
    import psycopg

    pids = (ghosts.idle.info.backend_pid, ghosts.aborted.info.backend_pid)
    bystander = local.postgres.connect(user=local.postgres.user, dbname=local.postgres.database)
    try:
        bystander.execute("SELECT 1")  # idle in transaction too, but holds no lock
        result, t = local.run("db-boot-storm", "--yes", *db_inputs(local))
        out = result.stdout + result.stderr
        assert result.returncode == 0, out
        steps = by_step(t)
        assert steps["terminate"]["result"] == "passed"
        for pid in pids:
            assert str(pid) in steps["terminate"]["output"]
        assert steps["terminate"]["note"] == "confirmed by --yes"
        for step in ("no-ghosts", "pool-free"):
            assert steps[step]["result"] == "passed", (step, steps[step])
            assert "--pgbouncer" in steps[step]["command"]
        for conn in (ghosts.idle, ghosts.aborted):
            with pytest.raises(psycopg.OperationalError):
                conn.execute("SELECT 1")
        assert bystander.execute("SELECT 2").fetchone() == (2,)
        assert local.postgres.password not in out + local.runs_text()
    finally:
        bystander.close()


def test_db_boot_storm_refuses_to_terminate_without_yes(local: Local, ghosts: Ghosts) -> None:
    result, t = local.run("db-boot-storm", *db_inputs(local))
    assert result.returncode == 2, result.stdout + result.stderr
    steps = by_step(t)
    # Nobody at a terminal: the version decision needs --answer, default or not.
    assert steps["same-version"]["result"] == "refused"
    assert "--answer same-version=CHOICE" in steps["same-version"]["note"]
    assert "port-forward" not in steps
    # A second run within the same second gets "...-prod-2.json": start from an empty runs/.
    for path in (local.repo.root / "runs").glob("*"):
        path.unlink()
    result, t = local.run("db-boot-storm", "--answer", "same-version=yes", *db_inputs(local))
    assert result.returncode == 2, result.stdout + result.stderr
    steps = by_step(t)
    assert steps["same-version"]["note"] == "--answer same-version=yes"
    # The next step that needs a person is the port-forward instruction: nothing past it ran.
    assert steps["port-forward"]["result"] == "refused"
    assert "terminate" not in steps
    assert ghosts.idle.execute("SELECT 1").fetchone() == (1,)
    assert ghosts.state(ghosts.aborted) == "idle in transaction (aborted)"
