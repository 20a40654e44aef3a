"""Every runbook in runbooks/ validates, names only checks and tasks that exist, and renders."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

from akops.environment import known_environments, load_environment
from akops.errors import InputError
from akops.layout import Layout
from akops.runbook import load, markdown
from akops.runbook.validation import known_checks, problems, tasks_of

REQUIRED = {
    "deploy",
    "verify",
    "outpost-shm-full",
    "db-boot-storm",
    "pgbouncer-down",
    "node-drain",
    "rollback",
}


@pytest.fixture(scope="module")
def tasks(layout: Layout) -> dict[str, frozenset[str]]:
    spec = importlib.util.spec_from_file_location("akops_tasks_for_tests", layout.root / "tasks.py")
    assert spec is not None and spec.loader is not None
    module: Any = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return tasks_of(module.ns)


def test_the_library_has_every_runbook(layout: Layout) -> None:
    assert set(load.names(layout.runbooks)) >= REQUIRED


def test_the_known_checks_are_the_registrys(layout: Layout) -> None:
    from akops.verify.registry import IDS

    assert known_checks() == set(IDS)


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_runbook_validates_and_renders(
    layout: Layout, tasks: dict[str, frozenset[str]], name: str
) -> None:
    rb = load.find(layout.runbooks, name, "runbooks")
    envs = [
        load_environment(e, layout.environments) for e in known_environments(layout.environments)
    ]
    assert problems(rb, known_checks(), tasks, envs) == []
    assert markdown.runbook(rb).startswith(f"# {rb.runbook.title}\n")
    for env in envs:
        assert "{{" not in markdown.runbook(rb, env), env.name  # everything rendered


@pytest.mark.parametrize(
    "name", ["outpost-shm-full", "db-boot-storm", "pgbouncer-down", "node-drain", "rollback"]
)
def test_incident_runbooks_ask_before_changing_and_verify_at_the_end(
    layout: Layout, name: str
) -> None:
    rb = load.find(layout.runbooks, name).runbook
    assert rb.when.alerts, "an incident runbook names the alerts that point to it"
    assert any(s.changing for s in rb.steps)
    assert rb.steps[-1].kind in ("check", "task", "manual", "command")
    assert any(
        s.check or s.task == "verify"
        for s in rb.steps[rb.index(next(s.id for s in rb.steps if s.changing)) :]
    )


def test_changing_commands_are_marked(layout: Layout) -> None:
    verbs = {
        "delete",
        "cordon",
        "uncordon",
        "drain",
        "restart",
        "scale",
        "patch",
        "apply",
        "pg_terminate_backend",
    }
    for rb in load.load_all(layout.runbooks):
        for step in rb.runbook.steps:
            words = " ".join(step.command or []).replace("(", " ").split()
            if verbs & set(words):
                assert step.changing, (
                    f"{rb.runbook.name}/{step.id} changes something but says it does not"
                )


def test_pgbouncer_down_decides_the_restart_on_pgbouncers_own_rollout_strategy(
    layout: Layout,
) -> None:
    import re

    import yaml

    rb = load.find(layout.runbooks, "pgbouncer-down").runbook
    # pdb.budget also judges the Authentik PDBs, which allow nothing while PgBouncer is down.
    assert not any(s.check == "pdb.budget" for s in rb.steps)
    before = rb.steps[: rb.index("restart")]
    gate = rb.step("rollout-strategy")
    assert gate in before and not gate.changing and gate.capture is not None
    assert gate.command is not None and gate.command[-4:-2] == ["deployment", "pgbouncer"]
    assert rb.step("any-ready").decision.choices["some"] == "rollout-strategy"  # type: ignore[union-attr]
    # The gate passes on the rendered Deployment, and only on a one-at-a-time rollout.
    for env in known_environments(layout.environments):
        doc = yaml.safe_load((layout.manifests_for(env) / "pgbouncer-deployment.yaml").read_text())
        strategy = doc["spec"]["strategy"]
        rolling = strategy["rollingUpdate"]
        seen = f"{strategy['type']}/{rolling['maxSurge']}/{rolling['maxUnavailable']}"
        assert re.fullmatch(gate.capture.pattern or "", seen), (env, seen)
    for drifted in ("Recreate//", "RollingUpdate/0/100%", "RollingUpdate/1/2", ""):
        assert not re.fullmatch(gate.capture.pattern or "", drifted)


def test_db_boot_storm_ghost_queries_include_aborted_transactions(layout: Layout) -> None:
    rb = load.find(layout.runbooks, "db-boot-storm").runbook
    queries = [" ".join(s.command or []) for s in rb.steps if s.command and s.command[0] == "psql"]
    ghost_queries = [q for q in queries if "'idle in transaction" in q]
    assert len(ghost_queries) == 3  # lock-holders, ghost-pids, terminate
    for q in ghost_queries:
        assert "state IN ('idle in transaction', 'idle in transaction (aborted)')" in q
        assert "state = 'idle in transaction'" not in q


def test_pgbouncer_checks_follow_a_port_forward_to_pgbouncer(layout: Layout) -> None:
    for doc in load.load_all(layout.runbooks):
        rb = doc.runbook
        for i, step in enumerate(rb.steps):
            if "--pgbouncer" not in step.args:
                continue
            assert step.args[step.args.index("--pgbouncer") + 1] == (
                "127.0.0.1:{{ inputs.pgbouncer_port }}"
            ), (rb.name, step.id)
            assert rb.input("pgbouncer_port").default, rb.name
            forwards = [s for s in rb.steps[:i] if "port-forward svc/pgbouncer" in (s.manual or "")]
            assert forwards, f"{rb.name}/{step.id}: no port-forward to PgBouncer before it"


def test_a_check_steps_argv_becomes_an_in_process_verify_call() -> None:
    from akops.runbook import commands

    args = ["invoke", "verify", "--env", "prod", "--only", "db.pool-waiting",
            "--pgbouncer", "127.0.0.1:1", "--protected", "http://a", "--target=local",
            "--protected", "http://b", "--pgbouncer", "127.0.0.1:2", "--timeout", "5",
            "--prometheus", "http://p:9090"]  # fmt: skip
    req = commands.check_request(args)
    assert (req.env, req.only, req.target, req.context) == (
        "prod",
        ("db.pool-waiting",),
        "local",
        None,
    )
    # the later one (the run's --verify-args) wins; --protected accumulates; typed by its parser
    assert (req.pgbouncer, req.protected, req.timeout, req.prometheus) == (
        "127.0.0.1:2",
        ("http://a", "http://b"),
        5.0,
        "http://p:9090",
    )
    head = args[:6]
    for bad, message in ((["--json", "x"], "unknown flag '--json'"), (["--url"], "needs a value")):
        with pytest.raises(InputError, match=message):
            commands.check_request([*head, *bad])


def test_the_schema_and_the_runner_take_the_same_check_step_flags() -> None:
    # Before: the schema accepted --prometheus on a check step and the runner refused it.
    from akops.runbook import commands
    from akops.runbook.schema import CHECK_FLAGS

    head = ["invoke", "verify", "--env", "prod", "--only", "alerts.firing"]
    for flag in sorted(CHECK_FLAGS):
        commands.check_request([*head, flag, "1"])  # every flag the schema takes, the runner takes
    assert "--prometheus" in CHECK_FLAGS
