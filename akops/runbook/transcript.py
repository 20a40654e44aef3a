"""Transcripts: the record of a runbook run, for people (Markdown) and tools (JSON).

Rule: pure values. A transcript holds one or more attempts (a resumed run appends
one); each attempt holds the step records in the order they happened. Every text
in here went through ``Secrets.mask`` before it was stored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

StepResult = Literal[
    "passed",
    "failed",
    "timed-out",
    "skipped",
    "would-run",
    "declined",
    "refused",
    "interrupted",
    "answered",
    "confirmed",
]
RunStatus = Literal["running", "succeeded", "failed", "stopped", "refused", "interrupted"]

#: Step results that stop a run (unless the step allows continuing).
STOPPING: frozenset[str] = frozenset({"failed", "timed-out", "declined", "refused", "interrupted"})
#: Run statuses a later ``--resume`` may continue.
RESUMABLE: frozenset[str] = frozenset({"failed", "stopped", "refused", "interrupted"})
#: The exit code of ``invoke runbook.run`` for each run status (an interrupted run exits
#: 128 + the signal's number; 130 is Ctrl-C's).
EXIT_CODES: dict[str, int] = {
    "succeeded": 0,
    "failed": 1,
    "stopped": 1,
    "refused": 2,
    "interrupted": 130,
    "running": 1,
}


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StepRecord(Model):
    step: str
    title: str
    kind: str
    changes: bool
    command: list[str] | None = None
    started: datetime
    duration: float = 0.0
    result: StepResult
    exit_code: int | None = None
    output: str = ""
    output_truncated: bool = False
    note: str = ""
    answer: str | None = None
    captured: dict[str, str] = Field(default_factory=dict)


class Attempt(Model):
    number: int
    started: datetime
    finished: datetime | None = None
    status: RunStatus = "running"
    dry_run: bool = False
    yes: bool = False
    interactive: bool = False
    resumed_from: str | None = None
    #: ``--from STEP``: where this attempt started (the steps before it are recorded as skipped).
    start_at: str | None = None
    #: The signal that interrupted this attempt ("SIGINT", "SIGTERM", "SIGHUP").
    signal: str | None = None
    runbook_sha256: str = ""
    note: str = ""
    steps: list[StepRecord] = Field(default_factory=list)

    @property
    def stopped_at(self) -> str | None:
        """The step a resume starts from: the last one that stopped this attempt."""
        for rec in reversed(self.steps):
            if rec.result in STOPPING:
                return rec.step
        return None


class Transcript(Model):
    run_id: str
    runbook: str
    title: str
    env: str
    user: str
    host: str
    revision: str
    started: datetime
    inputs: dict[str, str] = Field(default_factory=dict)
    attempts: list[Attempt] = Field(default_factory=list)

    @property
    def status(self) -> RunStatus:
        return self.attempts[-1].status if self.attempts else "running"

    @property
    def finished(self) -> datetime | None:
        return self.attempts[-1].finished if self.attempts else None

    def captured(self) -> dict[str, str]:
        """Values captured by steps that passed, over all attempts (later wins)."""
        out: dict[str, str] = {}
        for attempt in self.attempts:
            for rec in attempt.steps:
                if rec.result == "passed":
                    out.update(rec.captured)
        return out
