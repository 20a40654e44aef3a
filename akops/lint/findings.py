"""Findings and the rules that produce them, as values.

Rule: pure values. A ``Rule`` is the stable contract (ID, severity, fix hint and the
incident or convention behind it); a ``Finding`` is one occurrence of a rule at a
file, line, object and field path. The catalogue of rules is ``akops.lint.registry``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

Severity = Literal["error", "warning", "note"]

INCIDENT_BOOT = "2026-06-10 boot storm (~50 min outage)"
INCIDENT_SHM = "2026-04-18 P0: outpost /dev/shm full, HTTP 400 on every protected site"
CONVENTION_HA = "cluster convention: critical-path services run 3 replicas with PDB minAvailable=2"


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    title: str
    hint: str
    motivation: str


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: Severity
    file: str
    line: int | None
    object: str | None
    path: str | None
    message: str
    hint: str
    motivation: str
    waived: str | None = None
    column: int | None = None
    origin: str | None = None  # where the value came from (an environment file's key and line)

    @property
    def counts(self) -> bool:
        """An unwaived error fails the lint."""
        return self.severity == "error" and self.waived is None

    def waive(self, reason: str) -> Finding:
        return replace(self, waived=reason)

    def sort_key(self) -> tuple[str, int, int, str, str]:
        return (self.file, self.line or 0, self.column or 0, self.rule, self.message)
