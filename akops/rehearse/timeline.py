"""What a rehearsal observed: samples of its series, check results and events, on one clock.

Rule: pure values. Times are rehearsal (wall) seconds since the rehearsal started; the report
multiplies them by the time factor where it speaks of production time.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

EventKind = Literal[
    "act-start", "fault", "detected", "runbook-start", "runbook-end", "recovered", "act-end", "note"
]


@dataclass(frozen=True)
class Sample:
    t: float
    values: Mapping[str, float]


@dataclass(frozen=True)
class CheckSample:
    t: float
    check: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Event:
    t: float
    act: str
    kind: EventKind
    text: str


@dataclass
class ActRecord:
    """When an act started, faulted, ran its runbook and ended (filled in as it runs)."""

    id: str
    start: float
    fault: float | None = None
    runbook_start: float | None = None
    runbook_end: float | None = None
    runbook_status: str | None = None
    #: result of each runbook step that ran (the last result when one ran twice)
    runbook_steps: dict[str, str] = field(default_factory=dict)
    end: float | None = None


@dataclass
class Timeline:
    samples: list[Sample] = field(default_factory=list)
    checks: list[CheckSample] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    acts: list[ActRecord] = field(default_factory=list)

    def samples_between(self, start: float, end: float) -> Iterator[Sample]:
        return (s for s in self.samples if start <= s.t <= end)

    def checks_between(self, check: str, start: float, end: float) -> list[CheckSample]:
        return [c for c in self.checks if c.check == check and start <= c.t <= end]
