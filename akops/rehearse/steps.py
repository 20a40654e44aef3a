"""Which of a runbook's steps a rehearsal runs, maps to its own processes, or skips, and why.

Rule: pure. A rehearsal has PostgreSQL, PgBouncer and maybe a tmpfs, but no Kubernetes API
and no Authentik HTTP server: ``psql`` steps and the checks that reach those services run
for real; a ``kubectl`` or task step runs as the stand-in the scenario's fault offers for it
(stopping the rehearsal's own process for ``kubectl delete pod``), or is skipped with the
reason shown; manual steps are skipped (nobody is there to do them); decisions take their
default answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from akops.runbook.schema import RunbookDoc, Step

#: Check families that run against a rehearsal's services with ``invoke verify --target local``
#: (``shm`` only where the rehearsal has a tmpfs).
LOCAL_FAMILIES: frozenset[str] = frozenset({"db", "pgbouncer"})
#: Tasks that need nothing but the repository.
LOCAL_TASKS: frozenset[str] = frozenset({"lint", "render"})

Action = Literal["run", "map", "skip"]


@dataclass(frozen=True)
class StandIn:
    """What the rehearsal runs instead of a step, and what it stands for."""

    argv: tuple[str, ...]
    means: str


@dataclass(frozen=True)
class StepPlan:
    step: str
    title: str
    kind: str
    action: Action
    reason: str
    argv: tuple[str, ...] = ()


def plan(
    steps: Sequence[Step],
    stand_ins: Mapping[str, StandIn],
    *,
    shm: bool,
    cluster_checks: frozenset[str] = frozenset(),
) -> list[StepPlan]:
    """One plan entry per step, in order; ``cluster_checks`` are the IDs of checks whose scope
    is the cluster (they never run on the local target, whatever their family)."""
    families = LOCAL_FAMILIES | ({"shm"} if shm else set())
    out: list[StepPlan] = []
    for s in steps:
        kind = s.kind

        def entry(action: Action, reason: str, argv: Sequence[str] = (), s: Step = s) -> StepPlan:
            return StepPlan(s.id, s.title, s.kind, action, reason, tuple(argv))

        if s.id in stand_ins:
            si = stand_ins[s.id]
            out.append(entry("map", si.means, si.argv))
        elif kind == "decision":
            out.append(entry("run", "takes its default answer"))
        elif kind == "manual":
            out.append(entry("skip", "a manual step: nobody is there to do it"))
        elif kind == "check":
            assert s.check is not None
            if s.check in cluster_checks:
                out.append(entry("skip", f"{s.check}: needs the Kubernetes API"))
            elif s.check.split(".", 1)[0] in families:
                out.append(entry("run", "against the rehearsal's services (--target local)"))
            elif s.check.startswith("http."):
                out.append(entry("skip", f"{s.check}: the rehearsal runs no Authentik HTTP server"))
            else:
                out.append(entry("skip", f"{s.check}: needs the Kubernetes API"))
        elif kind == "task":
            assert s.task is not None
            if s.task in LOCAL_TASKS:
                out.append(entry("run", "reads only the repository"))
            else:
                out.append(entry("skip", f"invoke {s.task}: needs the cluster"))
        else:
            assert s.command is not None
            program = s.command[0]
            if program == "psql":
                out.append(entry("run", "SQL against the rehearsal's PostgreSQL"))
            elif program == "kubectl":
                out.append(entry("skip", "kubectl: no Kubernetes API in a rehearsal"))
            else:
                out.append(entry("skip", f"{program}: not a program a rehearsal runs"))
    return out


def apply(rb: RunbookDoc, planned: Sequence[StepPlan]) -> tuple[RunbookDoc, frozenset[str]]:
    """The runbook with mapped steps turned into their stand-in commands, and the IDs to skip."""
    by_id = {p.step: p for p in planned}
    steps: list[Step] = []
    for s in rb.runbook.steps:
        p = by_id[s.id]
        if p.action == "map":
            # model_copy skips validation on purpose: the stand-in is not one of the programs
            # a runbook file may name, and it replaces whatever kind the step had. A filter
            # stays: the stand-in for `kubectl logs` is read the way the logs would be.
            s = s.model_copy(
                update={
                    "command": list(p.argv),
                    "check": None,
                    "task": None,
                    "manual": None,
                    "args": [],
                    "secret_env": {},
                    "capture": None,
                    "success_codes": [0],
                    "changes": bool(s.changes),
                }
            )
        steps.append(s)
    runbook = rb.runbook.model_copy(update={"steps": steps})
    skip = frozenset(p.step for p in planned if p.action == "skip")
    return replace(rb, runbook=runbook), skip
