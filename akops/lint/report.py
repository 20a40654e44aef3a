"""The lint report: waivers applied, findings sorted, text and JSON output.

Rule: pure. A waiver (rule, optional object, written reason) from the environment
file marks matching findings as waived: they still show, with the reason, and no
longer fail the run. A waiver that matches nothing is itself a warning.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from itertools import groupby
from typing import Protocol

from akops.lint.findings import Finding, finding


class Waiver(Protocol):
    """What lint needs of ``akops.environment.LintWaiver``."""

    @property
    def rule(self) -> str: ...
    @property
    def object(self) -> str | None: ...
    @property
    def reason(self) -> str: ...


def _matches(w: Waiver, f: Finding) -> bool:
    return w.rule == f.rule and (w.object is None or w.object == f.object)


def apply_waivers(
    findings: Iterable[Finding], waivers: Sequence[Waiver], source: str
) -> list[Finding]:
    """Findings with matching waivers applied, plus a warning per waiver that matched nothing."""
    out = []
    used: set[int] = set()
    for f in findings:
        for i, w in enumerate(waivers):
            if _matches(w, f):
                f = f.waive(w.reason)
                used.add(i)
                break
        out.append(f)
    for i, w in enumerate(waivers):
        if i not in used:
            scope = f" on {w.object}" if w.object else ""
            out.append(
                finding(
                    "lint.unused-waiver",
                    f"waiver of {w.rule}{scope} matches no finding",
                    file=source,
                    path=f"lint.waivers[{i}]",
                )
            )
    return out


@dataclass(frozen=True)
class LintReport:
    findings: tuple[Finding, ...]
    files: int
    documents: int

    @property
    def ok(self) -> bool:
        """No unwaived error-severity finding."""
        return not any(f.counts for f in self.findings)

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.counts)

    @property
    def warnings(self) -> int:
        return sum(1 for f in self.findings if f.severity == "warning" and f.waived is None)

    @property
    def waived(self) -> int:
        return sum(1 for f in self.findings if f.waived is not None)

    def summary(self) -> str:
        scope = f"{self.files} file(s), {self.documents} document(s)"
        if not self.findings:
            return f"lint: ok ({scope})"
        parts = [f"{self.errors} error(s)", f"{self.warnings} warning(s)"]
        if self.waived:
            parts.append(f"{self.waived} waived")
        verdict = "ok" if self.ok else "failed"
        return f"lint: {verdict}: {', '.join(parts)} ({scope})"

    def to_text(self) -> str:
        """Findings grouped by file, each with its fix, then a summary line."""
        lines: list[str] = []
        for file, group in groupby(self.findings, key=lambda f: f.file):
            lines.append(file)
            explained: set[str] = set()
            for f in group:
                label = "waived" if f.waived is not None else f.severity
                where = f"{f.line}" if f.line else "-"
                target = " ".join(p for p in (f.object, f.path) if p)
                lines.append(
                    f"  {where:>4}  {label:<7} {f.rule}" + (f"  [{target}]" if target else "")
                )
                lines.append(f"        {f.message}")
                if f.waived is not None:
                    lines.append(f"        waived: {f.waived}")
                elif f.rule not in explained:
                    # Once per rule and file: the fix and the reason do not change.
                    explained.add(f.rule)
                    lines.append(f"        fix: {f.hint}")
                    lines.append(f"        why: {f.motivation}")
            lines.append("")
        lines.append(self.summary())
        return "\n".join(lines) + "\n"

    def to_json(self) -> str:
        """A JSON list of findings (rule, severity, file, line, object, path, message, …)."""
        return json.dumps([asdict(f) for f in self.findings], indent=2) + "\n"


def build(findings: Iterable[Finding], *, files: int, documents: int) -> LintReport:
    """Deduplicated, sorted findings (the same finding from two views counts once)."""
    unique = {(f.rule, f.file, f.line, f.object, f.path, f.message): f for f in findings}
    ordered = sorted(unique.values(), key=Finding.sort_key)
    return LintReport(tuple(ordered), files, documents)
