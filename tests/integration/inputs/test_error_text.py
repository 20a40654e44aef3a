"""Error text: the line names where (file, line, field as the file spells it, or flag), shows
what an operator typed or another writer left escaped, and advises only flags the task has.

- ``--waivers``: a list, an environment's ``lint:`` block, or neither; each error names the
  file, the line and ``waivers[1].reason`` / ``lint.waivers[0].rule`` (not ``waivers[0.reason]``).
- Control characters in flag values and positionals (escape sequences that would move the
  cursor, retitle the terminal or clear it) come back escaped in the one line.
- A missing helm: ``chart.pull`` has no ``--skip-helm`` and is not told to pass it; ``apply`` is.

``contract.held`` checks, for every line, no raw control character and that every flag the
line advises is one of the task's own (``invoke --help TASK``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from akops.layout import Layout
from tests.integration.inputs.contract import Runner, held, tasks

pytestmark = pytest.mark.integration

Setup = Callable[[Layout, Path], dict[str, str] | None]


def waivers(text: str) -> Setup:
    def setup(repo: Layout, tmp: Path) -> None:
        (repo.root / "w.yaml").write_text(text)
        (repo.root / "a.yaml").write_text("a: 1\n")

    return setup


def no_helm(repo: Layout, tmp: Path) -> dict[str, str]:
    """A PATH without helm and an empty akops cache (no cached helm either)."""
    path = os.pathsep.join([str(Path(sys.executable).parent), "/usr/bin", "/bin"])
    for d in path.split(os.pathsep):
        assert not (Path(d) / "helm").exists(), f"{d}/helm: this case needs a PATH without helm"
    return {"PATH": path, "AKOPS_CACHE_DIR": str(tmp / "empty-cache")}


def nothing(repo: Layout, tmp: Path) -> None:
    pass


def no_helm_with_kubeconfig(repo: Layout, tmp: Path) -> dict[str, str]:
    """``no_helm`` and a well-formed kubeconfig whose API is never reached (helm is checked
    before the first API call)."""
    kubeconfig = tmp / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: kubernetes-admin@kubernetes, context: {cluster: c, user: u}}]\n"
        "current-context: kubernetes-admin@kubernetes\n"
    )
    return {**no_helm(repo, tmp), "KUBECONFIG": str(kubeconfig)}


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]
    parts: tuple[str, ...]
    setup: Setup = field(default=nothing)
    absent: tuple[str, ...] = ()
    code: int = 2


W = ("lint", "--path", "a.yaml", "--waivers", "w.yaml")
CASES = [
    # --- waivers: file, line, the field as the file has it ---
    Case(
        "waivers-list-short-reason",
        W,
        ("w.yaml:4: waivers[1].reason", "at least 10 characters"),
        waivers("- rule: a\n  reason: long enough reason\n- rule: b\n  reason: short\n"),
    ),
    Case(
        "waivers-lint-block-unknown-field",
        W,
        ("w.yaml:5: lint.waivers[0].objekt: unknown field",),
        waivers("lint:\n  waivers:\n  - rule: a\n    reason: long enough reason\n    objekt: x\n"),
    ),
    Case(
        "waivers-missing-rule",
        W,
        ("w.yaml:2: waivers[0].rule: required field is missing",),
        waivers("waivers:\n- reason: long enough reason\n"),
    ),
    Case(
        "waivers-rule-not-text",
        W,
        ("w.yaml:1: waivers[0].rule", "valid string"),
        waivers("- rule: 5\n  reason: long enough reason\n"),
    ),
    Case(
        "waivers-neither",
        W,
        ("w.yaml:1: expected a list of waivers",),
        waivers("rule: a\nreason: long enough reason\n"),
    ),
    Case(
        "waivers-control-character",
        W,
        ("w.yaml:2: waivers[0].reason", "U+001B"),
        waivers('- rule: a\n  reason: "long enough \\e[2J reason"\n'),
    ),
    # --- control characters a flag or positional carried ---
    Case("path-escape", ("lint", "--path", "x\x1b[2J.yaml"), ("x\\x1b[2J.yaml", "no such file")),
    Case("env-escape", ("render", "--env", "\x1b]0;owned\x07"), ("\\x1b]0;owned\\x07",)),
    Case("runbook-escape", ("runbook.show", "de\x1b[31mploy"), ("de\\x1b[31mploy",)),
    Case("scenario-c1", ("rehearse", "b\x9b2Jx", "--env", "prod"), ("b\\x9b2Jx",)),
    Case("explain-escape", ("lint", "--explain", "\x1b[2J"), ("--explain", "\\x1b[2J")),
    Case(
        "verify-only-escape",
        ("verify", "--env", "prod", "--target", "local", "--only", "ht\x1b[2Jtp"),
        ("ht\\x1b[2Jtp",),
    ),
    Case(
        "input-escape",
        ("runbook.run", "deploy", "--env", "prod", "--input", "\x1b[2J=1"),
        ("unknown input(s) \\x1b[2J",),
    ),
    # --- advice names only the task's own flags ---
    Case(
        "chart-pull-no-helm",
        ("chart.pull", "--env", "prod"),
        ("helm",),
        no_helm,
        absent=("--skip-helm",),
    ),
    Case(
        "apply-no-helm",
        ("apply", "--env", "prod", "--dry-run"),
        ("helm", "--skip-helm"),
        no_helm_with_kubeconfig,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_the_line_names_where_and_shows_it_safely(case: Case, repo: Layout, tmp_path: Path) -> None:
    env = {
        "KUBECONFIG": str(tmp_path / "absent"),
        "AKOPS_PROD_POSTGRES_PASSWORD": "x",
        **(case.setup(repo, tmp_path) or {}),
    }
    result = Runner(repo.root)(*case.argv, env=env, guard=120)
    line = held(result, case.argv[0], case.parts, code=case.code)
    for part in case.absent:
        assert part not in line, line


# --- the contract holds for every task -----------------------------------------------------

#: How each task is handed a bad value; by default an environment that does not exist.
BAD_VALUE: dict[str, tuple[str, ...]] = {
    "runbook.list": ("--format", "xml"),
    "runbook.show": ("no-such-runbook",),
    "runbook.run": ("deploy", "--env", "no-such-env"),
    "rehearse": ("boot-storm", "--env", "no-such-env"),
    "lint": ("--env", "no-such-env"),
    # The local plane has no environment: its folder is the value (a path under a file).
    "cluster.up": ("--dir", "/etc/passwd/no-such-plane", "--dry-run"),
    "cluster.down": ("--dir", "/etc/passwd/no-such-plane"),
}


@pytest.mark.parametrize("task", tasks())
def test_every_task_answers_a_bad_value_with_one_line(
    task: str, repo: Layout, tmp_path: Path
) -> None:
    argv = BAD_VALUE.get(task, ("--env", "no-such-env"))
    result = Runner(repo.root)(task, *argv, env={"KUBECONFIG": str(tmp_path / "absent")})
    held(result, task, ("no-such" if "no-such" in " ".join(argv) else argv[-1],))
