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
from akops.verify.catalogue import CATALOGUE

pytestmark = pytest.mark.integration

CLUSTER_TASKS = {"rollout", "outpost-patch", "plan", "apply", "deploy", "rollback"}
CLUSTER_CHECKS = {c.id for c in CATALOGUE if c.scope == "cluster"}
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
            "pgbouncer": bouncer.address,
            "shm": str(tmpfs.path),
            "protected_services": [http.app_url("wealthfolio"), http.app_url("grafana")],
        },
    )
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return Local(repo, cli, postgres, tmpfs, {"AKOPS_PROD_POSTGRES_PASSWORD": postgres.password})


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
    assert steps["is-it-shm"]["answer"] == "yes"
    assert steps["restart-outpost"]["result"] == "would-run"
    assert "delete" in steps["restart-outpost"]["command"]
    assert "not-shm" not in steps
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
    assert steps["shm-after"]["result"] == "failed"  # still full: the run stops here
    assert "forward-auth" not in steps
    assert t["attempts"][0]["status"] == "failed"


@pytest.fixture
def ghost(local: Local) -> Iterator[Any]:
    """A backend of the authentik role idle in transaction while holding an advisory lock."""
    conn = local.postgres.connect(user=local.postgres.user, dbname=local.postgres.database)
    try:
        conn.execute("SELECT pg_advisory_xact_lock(4242)")
        time.sleep(1.5)  # longer than idle_seconds=1
        yield conn
    finally:
        conn.close()


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
    ]


def test_db_boot_storm_dry_run_finds_the_ghost_and_terminates_nothing(
    local: Local, ghost: Any
) -> None:
    pid = ghost.info.backend_pid
    result, t = local.run("db-boot-storm", "--dry-run", *db_inputs(local))
    out = result.stdout + result.stderr
    steps = by_step(t)
    for step in ("lock-holders", "blocked", "connections", "ghost-pids", "pool-waiting"):
        assert steps[step]["result"] == "passed", (step, steps[step])
    assert (
        str(pid) in steps["lock-holders"]["output"]
        and "advisory" in steps["lock-holders"]["output"]
    )
    assert steps["ghost-pids"]["captured"] == {"ghost_pids": str(pid)}
    # It shows exactly which backend it would end, and ends none.
    terminate = steps["terminate"]
    assert terminate["result"] == "would-run"
    assert f"pid IN ({pid})" in " ".join(terminate["command"])
    assert ghost.execute("SELECT 1").fetchone() == (1,)
    # The closing check sees the ghost, for real, so the dry run ends failed there.
    assert steps["no-ghosts"]["result"] == "failed"
    assert result.returncode == 1, out
    assert local.postgres.password not in out + local.runs_text()


def test_db_boot_storm_terminates_exactly_the_ghost(local: Local, ghost: Any) -> None:
    import psycopg

    pid = ghost.info.backend_pid
    bystander = local.postgres.connect(user=local.postgres.user, dbname=local.postgres.database)
    try:
        bystander.execute("SELECT 1")  # idle in transaction too, but holds no lock
        result, t = local.run("db-boot-storm", "--yes", *db_inputs(local))
        out = result.stdout + result.stderr
        assert result.returncode == 0, out
        steps = by_step(t)
        assert steps["terminate"]["result"] == "passed"
        assert str(pid) in steps["terminate"]["output"]
        assert steps["terminate"]["note"] == "confirmed by --yes"
        assert steps["no-ghosts"]["result"] == "passed"
        with pytest.raises(psycopg.OperationalError):
            ghost.execute("SELECT 1")
        assert bystander.execute("SELECT 2").fetchone() == (2,)
        assert local.postgres.password not in out + local.runs_text()
    finally:
        bystander.close()


def test_db_boot_storm_refuses_to_terminate_without_yes(local: Local, ghost: Any) -> None:
    result, t = local.run("db-boot-storm", *db_inputs(local))
    assert result.returncode == 2, result.stdout + result.stderr
    steps = by_step(t)
    # The first step that needs a person (the version-split decision has a default) is the
    # port-forward instruction: nothing past it ran.
    assert steps["port-forward"]["result"] == "refused"
    assert "terminate" not in steps
    assert ghost.execute("SELECT 1").fetchone() == (1,)
