"""The question each runbook step asks the operator, following ``akops.ask``'s convention.

Rule: pure. A step that changes something asks ``[y/n]`` with no default (Enter asks again);
a read-only manual step asks ``Done? [Y/n]`` (Enter goes on: reading something must not end
the run); a manual step that changes something has no default; a decision offers the runbook's
choices with the runbook's default in capitals. ``--yes`` answers yes, and takes a decision's
default (a decision without one needs ``--answer STEP=CHOICE`` when nobody is at the terminal).
"""

from __future__ import annotations

from akops.ask import YES, Question
from akops.runbook.schema import Runbook, Step


def question(step: Step) -> Question | None:
    """What ``step`` asks before it runs (or, for a manual step, once it is done); None if nothing."""
    if step.decision is not None:
        d = step.decision
        return Question(step.id, "Answer", tuple(d.choices), default=d.default, yes=d.default)
    if step.manual is not None:
        default = None if step.changing else YES
        return Question(step.id, "Done? ('no' stops the run here)", default=default)
    if step.changing:
        return Question(step.id, f"Step {step.id} changes something. Run it?")
    return None


def questions(runbook: Runbook) -> dict[str, Question]:
    """Every question of ``runbook`` by step ID: what ``--answer STEP=CHOICE`` may name."""
    out: dict[str, Question] = {}
    for step in runbook.steps:
        q = question(step)
        if q is not None:
            out[step.id] = q
    return out
