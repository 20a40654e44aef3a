"""Outcomes of checks and the report of a verify run, with its text, JSON and JUnit forms.

Rule: pure values and serialisation (rich is imported only to draw); writing files and drawing progress happen elsewhere.
A report is ``ok`` when no check failed or errored and at least one was evaluated:
skipped checks (not applicable here, e.g. no credentials) are shown but do not fail a
run that evaluated something else, while a run that skipped everything proved nothing
and fails, saying why.
"""

from __future__ import annotations

import enum
import io
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.table import Table


class Status(enum.StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    ERROR = "ERROR"  # the check could not evaluate (no shell in the pod, unreadable output, ...)
    SKIP = "SKIP"  # not applicable here (no credentials, nothing configured)


@dataclass(frozen=True)
class Outcome:
    """The verdict of one check on one target."""

    status: Status
    detail: str

    @property
    def ok(self) -> bool:
        return self.status in (Status.PASS, Status.SKIP)


def passed(detail: str) -> Outcome:
    return Outcome(Status.PASS, detail)


def failed(detail: str) -> Outcome:
    return Outcome(Status.FAIL, detail)


def errored(detail: str) -> Outcome:
    return Outcome(Status.ERROR, detail)


def skipped(detail: str) -> Outcome:
    return Outcome(Status.SKIP, detail)


@dataclass(frozen=True)
class Result:
    """One row of the report: a check on a target, how it ended, how long it took."""

    check: str
    target: str
    status: Status
    detail: str
    duration: float
    attempts: int = 1

    @property
    def ok(self) -> bool:
        return self.status in (Status.PASS, Status.SKIP)

    def as_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "target": self.target,
            "status": self.status.value,
            "detail": self.detail,
            "duration": round(self.duration, 3),
            "attempts": self.attempts,
        }


STYLE = {
    Status.PASS: "green",
    Status.FAIL: "bold red",
    Status.ERROR: "bold magenta",
    Status.SKIP: "dim",
}


@dataclass(frozen=True)
class VerifyReport:
    env: str
    target: str
    results: tuple[Result, ...]
    duration: float
    checks: tuple[str, ...] = field(default=())

    @property
    def evaluated(self) -> int:
        """How many results were actually evaluated (not skipped)."""
        return sum(r.status is not Status.SKIP for r in self.results)

    @property
    def ok(self) -> bool:
        return self.evaluated > 0 and all(r.ok for r in self.results)

    def reason(self) -> str | None:
        """Why a run without failures is still not a pass (nothing was evaluated), else None."""
        if self.evaluated:
            return None
        if not self.results:
            return f"nothing was evaluated: no selected check runs on the {self.target} target"
        whys = "; ".join(dict.fromkeys(r.detail for r in self.results))
        return f"nothing was evaluated, every check was skipped: {whys}"

    @property
    def verdict(self) -> str:
        return "PASS" if self.ok else "FAIL"

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def counts(self) -> Counter[Status]:
        return Counter(r.status for r in self.results)

    def summary(self) -> str:
        counts = self.counts()
        parts = [f"{counts[s]} {s.value.lower()}" for s in Status if counts[s]]
        return (
            f"{len(self.results)} results from {len(self.checks)} checks "
            f"({', '.join(parts) or 'none'}) in {self.duration:.1f}s"
        )

    def table(self) -> Table:
        """The final table: check, target, result, duration, detail (failures first)."""
        from rich.table import Table
        from rich.text import Text

        table = Table(title=f"verify {self.env} ({self.target})", title_justify="left")
        table.add_column("check", no_wrap=True)
        table.add_column("target", overflow="fold")
        table.add_column("result", no_wrap=True)
        table.add_column("time", justify="right", no_wrap=True)
        table.add_column("detail", overflow="fold")
        order = {Status.FAIL: 0, Status.ERROR: 1, Status.PASS: 2, Status.SKIP: 3}
        for r in sorted(self.results, key=lambda r: (order[r.status], r.check, r.target)):
            tries = f" ({r.attempts} tries)" if r.attempts > 1 else ""
            table.add_row(
                r.check,
                r.target,
                Text(r.status.value, style=STYLE[r.status]),
                f"{r.duration:.2f}s",
                r.detail + tries,
            )
        return table

    def result_line(self) -> str:
        return f"VERIFY RESULT: {self.verdict}"

    def to_text(self, width: int = 140) -> str:
        """The table, a summary and the ``VERIFY RESULT`` line as plain text."""
        from rich.console import Console

        out = io.StringIO()
        console = Console(file=out, width=width, color_system=None, force_terminal=False)
        console.print(self.table())
        console.print(self.summary(), highlight=False)
        reason = self.reason()
        if reason:
            console.print(reason, highlight=False)
        console.print(self.result_line(), highlight=False)
        return out.getvalue()

    def to_json(self) -> str:
        doc = {
            "result": self.verdict,
            "env": self.env,
            "target": self.target,
            "duration": round(self.duration, 3),
            "checks": list(self.checks),
            "evaluated": self.evaluated,
            "reason": self.reason(),
            "counts": {s.value: self.counts()[s] for s in Status},
            "results": [r.as_dict() for r in self.results],
        }
        return json.dumps(doc, indent=2) + "\n"

    def to_junit(self) -> str:
        """JUnit XML: one testcase per result, classname = check ID, name = target; a run that
        evaluated nothing gets one more, failing, case (``verify`` / ``evaluated``) saying why."""
        import xml.etree.ElementTree as ET

        counts = self.counts()
        reason = self.reason()
        suites = ET.Element("testsuites")
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=f"akops.verify.{self.env}.{self.target}",
            tests=str(len(self.results) + bool(reason)),
            failures=str(counts[Status.FAIL] + bool(reason)),
            errors=str(counts[Status.ERROR]),
            skipped=str(counts[Status.SKIP]),
            time=f"{self.duration:.3f}",
        )
        for r in self.results:
            case = ET.SubElement(
                suite, "testcase", classname=r.check, name=r.target, time=f"{r.duration:.3f}"
            )
            if r.status is Status.FAIL:
                ET.SubElement(case, "failure", message=r.detail).text = r.detail
            elif r.status is Status.ERROR:
                ET.SubElement(case, "error", message=r.detail).text = r.detail
            elif r.status is Status.SKIP:
                ET.SubElement(case, "skipped", message=r.detail)
        if reason:
            case = ET.SubElement(suite, "testcase", classname="verify", name="evaluated", time="0")
            ET.SubElement(case, "failure", message=reason).text = reason
        ET.indent(suites)
        return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"
