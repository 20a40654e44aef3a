"""Running the scenario's runbook against the rehearsal, through the runbook library.

Rule: I/O orchestration over ``akops.runbook.runner.run`` (its public entry point). The run
is unattended (``--yes``; decisions take their defaults), its check steps get
``--target local`` and the rehearsal's addresses, its psql steps the rehearsal's
PostgreSQL, and the database password reaches them the way the environment says it does
(the variable ``secrets.postgres_password`` names), set to the rehearsal's own password.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from akops.ask import Question
from akops.environment import Environment
from akops.errors import InputError, Interrupted, NoAnswer
from akops.layout import Layout
from akops.rehearse import steps
from akops.runbook import load, runner
from akops.runbook.commands import PROGRAMS
from akops.runbook.options import RunOptions
from akops.verify import registry


class Unattended:
    """Nobody at the terminal: ``--yes`` answers (decisions take their runbook's default)."""

    @property
    def interactive(self) -> bool:
        return False

    def ask(self, question: Question) -> str:
        raise NoAnswer(f"{question.key}: a rehearsal has nobody to answer")


@dataclass(frozen=True)
class Response:
    status: str
    transcript: Path
    plan: tuple[steps.StepPlan, ...]
    #: (step, result, duration) in the order they ran
    results: tuple[tuple[str, str, float], ...]


def password_variable(env: Environment) -> str:
    """The environment variable the environment reads the database password from."""
    ref = env.secrets.get("postgres_password")
    if ref is None or ref.env is None:
        raise InputError(
            f"environments/{env.name}.yaml: secrets.postgres_password must come from an "
            "environment variable ({env: NAME}) for a rehearsal to hand its runbook the "
            "rehearsal's own password"
        )
    return ref.env


def respond(
    layout: Layout,
    env: Environment,
    runbook: str,
    *,
    inputs: Mapping[str, str],
    verify_args: Sequence[str],
    stand_ins: Mapping[str, steps.StandIn],
    shm: bool,
    password: str,
    runs_dir: Path,
    console: Console,
) -> Response:
    """Plan the runbook's steps for the rehearsal, show the plan, run it."""
    rb = load.find(layout.runbooks, runbook, "runbooks")
    cluster = frozenset(c.id for c in registry.REGISTRY if c.scope == "cluster")
    planned = steps.plan(rb.runbook.steps, stand_ins, shm=shm, cluster_checks=cluster)
    console.print(f"Runbook {runbook} against the rehearsal:", style="bold", highlight=False)
    for p in planned:
        if p.action != "run":
            console.print(f"  {p.step}: {p.action} ({p.reason})", markup=False, highlight=False)
    mapped, skip = steps.apply(rb, planned)
    declared = {i.name for i in rb.runbook.inputs}
    environ = dict(os.environ)
    environ[password_variable(env)] = password
    # The stand-ins' programs (df, kill, tail, ...) run in this run only, on the rehearsal.
    programs = PROGRAMS | {p.argv[0] for p in planned if p.action == "map" and p.argv}
    opts = RunOptions(
        env=env,
        root=layout.root,
        runs_dir=runs_dir,
        inputs={k: v for k, v in inputs.items() if k in declared},
        yes=True,
        skip=skip,
        verify_args=tuple(verify_args),
        environ=environ,
        programs=frozenset(programs),
    )
    result = runner.run(mapped, opts, console, Unattended())
    attempt = result.transcript.attempts[-1]
    if result.status == "interrupted":
        # The runner stopped its step and wrote the transcript; the rehearsal stops too.
        raise Interrupted(signal.Signals[attempt.signal] if attempt.signal else signal.SIGINT)
    ran = tuple((r.step, r.result, r.duration) for r in attempt.steps)
    return Response(result.status, result.md_path, tuple(planned), ran)
