"""The lint report: waivers applied, findings sorted, and its four output formats.

Rule: pure. A waiver (rule, optional object, written reason) from the environment
file, a ``--waivers`` file or an object's annotation marks matching findings as
waived: they still show, with the reason, and no longer fail the run. A waiver that
matches nothing is itself a warning.

Formats: ``text`` (one ``path:line:col: severity rule-id message`` line per finding,
which editors and ``grep`` read, with the fix and the reason once per rule on
indented lines after it), ``json`` (a list of findings), ``sarif`` (SARIF 2.1.0, for
code scanning) and ``junit`` (one test case per finding, for CI test views).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Protocol

from akops.lint.findings import Finding, Rule
from akops.lint.registry import finding


class Waiver(Protocol):
    """What lint needs of ``akops.environment.LintWaiver``."""

    @property
    def rule(self) -> str: ...
    @property
    def object(self) -> str | None: ...
    @property
    def reason(self) -> str: ...


@dataclass(frozen=True)
class PlacedWaiver:
    """A waiver and where it is written (for the unused-waiver warning)."""

    rule: str
    object: str | None
    reason: str
    file: str
    line: int | None = None
    path: str | None = None


def placed(waivers: Sequence[Waiver], file: str) -> list[PlacedWaiver]:
    """Waivers of a list (``lint.waivers`` of an environment or a --waivers file)."""
    return [
        PlacedWaiver(w.rule, w.object, w.reason, file, None, f"lint.waivers[{i}]")
        for i, w in enumerate(waivers)
    ]


def _matches(w: PlacedWaiver, f: Finding) -> bool:
    return w.rule == f.rule and (w.object is None or w.object == f.object)


def apply_waivers(findings: Iterable[Finding], waivers: Sequence[PlacedWaiver]) -> list[Finding]:
    """Findings with matching waivers applied, plus a warning per waiver that matched nothing."""
    by_rule: dict[str, list[int]] = {}
    for i, w in enumerate(waivers):
        by_rule.setdefault(w.rule, []).append(i)
    out = []
    used: set[int] = set()
    for f in findings:
        for i in by_rule.get(f.rule, ()):
            if _matches(waivers[i], f):
                f = f.waive(waivers[i].reason)
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
                    file=w.file,
                    line=w.line,
                    path=w.path,
                )
            )
    return out


FORMATS = ("text", "json", "sarif", "junit")
TOOL = "akops-lint"
_COLORS = {"error": "31", "warning": "33", "note": "36", "waived": "2"}


def location(f: Finding) -> str:
    """``path:line:col`` (as far as known): the form editors jump to."""
    if f.line is None:
        return f.file
    return f"{f.file}:{f.line}:{f.column or 1}"


@dataclass(frozen=True)
class LintReport:
    findings: tuple[Finding, ...]
    files: int
    documents: int
    skipped: int = 0  # files lint did not read (named in input.skipped notes)

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
    def notes(self) -> int:
        return sum(1 for f in self.findings if f.severity == "note" and f.waived is None)

    @property
    def waived(self) -> int:
        return sum(1 for f in self.findings if f.waived is not None)

    def summary(self) -> str:
        skipped = f", {self.skipped} skipped" if self.skipped else ""
        scope = f"{self.files} file(s){skipped}, {self.documents} document(s)"
        if not self.findings:
            return f"lint: ok ({scope})"
        parts = [f"{self.errors} error(s)", f"{self.warnings} warning(s)"]
        if self.notes:
            parts.append(f"{self.notes} note(s)")
        if self.waived:
            parts.append(f"{self.waived} waived")
        verdict = "ok" if self.ok else "failed"
        return f"lint: {verdict}: {', '.join(parts)} ({scope})"

    def render(
        self, format: str, *, color: bool = False, verbose: bool = False, show_waived: str = ""
    ) -> str:
        if format == "json":
            return self.to_json()
        if format == "sarif":
            return self.to_sarif()
        if format == "junit":
            return self.to_junit()
        return self.to_text(color=color, verbose=verbose, show_waived=show_waived)

    def to_text(self, *, color: bool = False, verbose: bool = False, show_waived: str = "") -> str:
        """One line per finding, the fix and reason once per rule, then a summary line.

        Waived findings only with ``verbose``: a clean run is its one summary line, which
        then says how to see them (``show_waived``: the command or flag that does, in the
        words of the task that printed it).
        """

        def paint(label: str, text: str) -> str:
            return f"\x1b[{_COLORS[label]}m{text}\x1b[0m" if color else text

        lines: list[str] = []
        explained: set[str] = set()
        for f in self.findings:
            if f.waived is not None and not verbose:
                continue
            label = "waived" if f.waived is not None else f.severity
            target = " ".join(p for p in (f.object, f.path) if p)
            tail = f" [{target}]" if target else ""
            lines.append(f"{location(f)}: {paint(label, label)} {f.rule} {f.message}{tail}")
            if f.origin:
                lines.append(f"    set in: {f.origin}")
            if f.waived is not None:
                lines.append(f"    waived: {f.waived}")
            elif f.rule not in explained:
                # Once per rule: the fix and the reason do not change.
                explained.add(f.rule)
                lines.append(f"    fix: {f.hint}")
                lines.append(f"    why: {f.motivation}")
        hidden = self.waived and not verbose and show_waived
        lines.append(self.summary() + (f"; {show_waived} lists the waived" if hidden else ""))
        return "\n".join(lines) + "\n"

    def to_json(self) -> str:
        """A JSON list of findings (rule, severity, file, line, object, path, message, …)."""
        return json.dumps([asdict(f) for f in self.findings], indent=2) + "\n"

    def to_sarif(self, rules: dict[str, Rule] | None = None) -> str:
        """SARIF 2.1.0: one run, the rules hit in the driver, one result per finding."""
        if rules is None:
            from akops.lint.registry import catalogue

            rules = catalogue()
        used = sorted({f.rule for f in self.findings})
        index = {r: i for i, r in enumerate(used)}
        driver_rules = [
            {
                "id": r,
                "name": r,
                "shortDescription": {"text": rules[r].title},
                "fullDescription": {"text": f"{rules[r].title}. Why: {rules[r].motivation}"},
                "help": {"text": f"Fix: {rules[r].hint}. Why: {rules[r].motivation}"},
                "defaultConfiguration": {"level": rules[r].severity},
            }
            for r in used
        ]
        results = []
        for f in self.findings:
            physical: dict[str, object] = {"artifactLocation": {"uri": f.file}}
            if f.line:
                physical["region"] = {"startLine": f.line, "startColumn": f.column or 1}
            result: dict[str, object] = {
                "ruleId": f.rule,
                "ruleIndex": index[f.rule],
                "level": f.severity,
                "message": {"text": f.message},
                "locations": [{"physicalLocation": physical}],
            }
            if f.object or f.path or f.origin:
                result["properties"] = {"object": f.object, "path": f.path, "origin": f.origin}
            if f.waived is not None:
                result["suppressions"] = [{"kind": "external", "justification": f.waived}]
            results.append(result)
        doc = {
            "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
            "version": "2.1.0",
            "runs": [
                {
                    "tool": {"driver": {"name": TOOL, "rules": driver_rules}},
                    "columnKind": "unicodeCodePoints",
                    "results": results,
                }
            ],
        }
        return json.dumps(doc, indent=2) + "\n"

    def to_junit(self) -> str:
        """JUnit XML: a test case per finding (errors fail, waived are skipped), else one passing case."""
        from xml.etree import ElementTree as ET

        suites = ET.Element("testsuites", name=TOOL)
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=TOOL,
            tests=str(max(1, len(self.findings))),
            failures=str(self.errors),
            errors="0",
            skipped=str(self.waived),
        )
        for f in self.findings:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=f.file,
                name=f"{f.rule} {location(f)}" + (f" {f.object}" if f.object else ""),
            )
            text = f"{location(f)}: {f.severity} {f.rule} {f.message}\nfix: {f.hint}\nwhy: {f.motivation}"
            if f.waived is not None:
                ET.SubElement(case, "skipped", message=f"waived: {f.waived}")
            elif f.counts:
                failure = ET.SubElement(case, "failure", message=f.message, type=f.rule)
                failure.text = text
            else:
                ET.SubElement(case, "system-out").text = text
        if not self.findings:
            ET.SubElement(suite, "testcase", classname=TOOL, name="lint")
        ET.SubElement(suite, "system-out").text = self.summary()
        return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def build(
    findings: Iterable[Finding], *, files: int, documents: int, skipped: int = 0
) -> LintReport:
    """Deduplicated, sorted findings (the same finding from two views counts once)."""
    unique = {(f.rule, f.file, f.line, f.object, f.path, f.message): f for f in findings}
    ordered = sorted(unique.values(), key=Finding.sort_key)
    return LintReport(tuple(ordered), files, documents, skipped)


def combine(reports: Sequence[LintReport], waivers: Sequence[PlacedWaiver] = ()) -> LintReport:
    """Several stacks' reports as one run's, with the run's own ``waivers`` applied once.

    The run's waivers (an environment's, a --waivers file) are applied here, over every
    stack's findings, so a waiver is unused only when it matches nothing in any stack.
    """
    findings = apply_waivers([f for r in reports for f in r.findings], waivers)
    return build(
        findings,
        files=sum(r.files for r in reports),
        documents=sum(r.documents for r in reports),
        skipped=sum(r.skipped for r in reports),
    )
