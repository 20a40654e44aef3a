"""Flags are read before anything starts: one line naming the flag, exit 2, nothing started.

A rehearsal starts PostgreSQL, PgBouncer and a tmpfs; a plan asks the cluster; a verify runs
checks; a runbook runs steps. A flag that is out of range, not a size, not a number, not
splittable, or names a place that cannot be written must stop the task before any of that:
no process of the run in /proc, no line on stdout (the rehearsal's header is its first
action), one stderr line naming the flag. Flag values with control characters come back
escaped (``contract.held`` refuses a raw one in any line).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from akops.layout import Layout
from tests.integration.inputs.contract import Runner, held

pytestmark = pytest.mark.integration

Setup = Callable[[Layout, Path], None]


def nothing(repo: Layout, tmp: Path) -> None:
    pass


def fifo(rel: str) -> Setup:
    def setup(repo: Layout, tmp: Path) -> None:
        os.mkfifo(repo.root / rel)

    return setup


def a_file(rel: str) -> Setup:
    def setup(repo: Layout, tmp: Path) -> None:
        (repo.root / rel).write_text("x\n")

    return setup


def a_dir(rel: str) -> Setup:
    def setup(repo: Layout, tmp: Path) -> None:
        (repo.root / rel).mkdir()

    return setup


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]
    parts: tuple[str, ...]
    setup: Setup = field(default=nothing)
    quiet_stdout: bool = True


R = ("rehearse", "pool-exhaustion", "--env", "prod")
RUN = ("runbook.run", "deploy", "--env", "prod")
CASES = [
    # --- rehearse: everything before PostgreSQL starts ---
    Case("shm-not-a-size", (*R, "--shm-size", "3x"), ("--shm-size '3x'", "a size")),
    Case("shm-millibytes", (*R, "--shm-size", "500m"), ("--shm-size '500m'", "a size")),
    Case("shm-zero", (*R, "--shm-size", "0"), ("--shm-size '0'", "between")),
    Case("shm-too-large", (*R, "--shm-size", "4096Gi"), ("--shm-size '4096Gi'", "1Ti")),
    Case("shm-negative", (*R, "--shm-size", "-1Gi"), ("--shm-size '-1Gi'",)),
    Case("max-connections-words", (*R, "--max-connections", "lots"), ("--max-connections 'lots'",)),
    Case("max-connections-low", (*R, "--max-connections", "1"), ("--max-connections '1'", "4")),
    Case(
        "max-connections-high",
        (*R, "--max-connections", "99999999"),
        ("--max-connections '99999999'", "262143"),
    ),
    Case("replicas-zero", (*R, "--pgbouncer-replicas", "0"), ("--pgbouncer-replicas '0'",)),
    Case("replicas-many", (*R, "--pgbouncer-replicas", "1000"), ("--pgbouncer-replicas '1000'",)),
    Case("json-no-dir", (*R, "--json", "no/such/dir/r.json"), ("--json no/such/dir/r.json",)),
    Case("json-is-dir", (*R, "--json", "rdir"), ("--json rdir", "directory"), a_dir("rdir")),
    Case("json-is-fifo", (*R, "--json", "r.fifo"), ("--json r.fifo", "named pipe"), fifo("r.fifo")),
    Case(
        "out-is-file", (*R, "--out", "taken"), ("--out taken", "not a directory"), a_file("taken")
    ),
    Case("act-unknown", (*R, "--act", "nope"), ("--act nope", "no such act")),
    Case("act-escape", (*R, "--act", "n\x1b[2Jo"), ("--act n\\x1b[2Jo",)),
    Case(
        "ini-missing", (*R, "--pgbouncer-ini", "no.ini"), ("--pgbouncer-ini", "no.ini", "no such")
    ),
    Case("scenario-unknown", ("rehearse", "nope", "--env", "prod"), ("unknown scenario 'nope'",)),
    # --- runbook.run: before the first step ---
    Case("verify-args-quote", (*RUN, "--verify-args", "'"), ("--verify-args", "closing quotation")),
    Case(
        "verify-args-dquote",
        (*RUN, "--verify-args", '--url "http://x'),
        ("--verify-args", "closing quotation"),
    ),
    Case("verify-args-unknown", (*RUN, "--verify-args", "--bogus x"), ("--bogus",)),
    Case("input-no-equals", (*RUN, "--input", "novalue"), ("--input", "novalue")),
    Case("answer-no-equals", (*RUN, "--answer", "x"), ("--answer",)),
    Case("from-unknown-step", (*RUN, "--from", "nope"), ("--from", "nope")),
    # --- plan, verify: before the cluster or a check is asked anything ---
    Case("plan-out-no-dir", ("plan", "--env", "prod", "--out", "no/dir/p.json"), ("--out",)),
    Case(
        "plan-out-fifo",
        ("plan", "--env", "prod", "--out", "p.fifo"),
        ("--out p.fifo", "named pipe"),
        fifo("p.fifo"),
    ),
    Case(
        "verify-json-fifo",
        ("verify", "--env", "prod", "--target", "local", "--json", "v.fifo"),
        ("--json v.fifo", "named pipe"),
        fifo("v.fifo"),
    ),
    Case("verify-workers-zero", ("verify", "--env", "prod", "--workers", "0"), ("--workers '0'",)),
    Case(
        "verify-workers-many",
        ("verify", "--env", "prod", "--workers", "5000"),
        ("--workers '5000'", "1024"),
    ),
    # --- numbers ---
    Case(
        "pin-timeout-words",
        ("images.pin", "--env", "prod", "--timeout", "soon"),
        ("--timeout 'soon'",),
    ),
    Case("pin-timeout-nan", ("images.pin", "--env", "prod", "--timeout", "nan"), ("--timeout",)),
    Case("pin-timeout-inf", ("images.check", "--timeout", "inf"), ("--timeout 'inf'",)),
    Case(
        "pull-timeout-zero", ("chart.pull", "--env", "prod", "--timeout", "0"), ("--timeout '0'",)
    ),
    Case(
        "lint-max-connections",
        ("lint", "--path", "manifests/prod", "--max-connections", "-5"),
        ("--max-connections '-5'",),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_bad_flag_stops_the_task_before_anything_starts(
    case: Case, repo: Layout, tmp_path: Path
) -> None:
    case.setup(repo, tmp_path)
    env = {"KUBECONFIG": str(tmp_path / "absent"), "AKOPS_PROD_POSTGRES_PASSWORD": "x"}
    result = Runner(repo.root)(*case.argv, env=env, guard=120)
    held(result, case.argv[0], case.parts)
    if case.quiet_stdout:
        assert not result.stdout.strip(), result.stdout


def test_every_task_that_starts_something_is_covered() -> None:
    assert {c.argv[0] for c in CASES} >= {"rehearse", "runbook.run", "plan", "verify", "chart.pull"}
