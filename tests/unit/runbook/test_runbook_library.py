"""Every runbook in runbooks/ validates, names only checks and tasks that exist, and renders."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

from akops.environment import known_environments, load_environment
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


def test_the_check_catalogue_is_verifys(layout: Layout) -> None:
    from akops.verify.catalogue import CATALOGUE

    assert known_checks() == {c.id for c in CATALOGUE}


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
