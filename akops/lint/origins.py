"""Where a rendered value came from: the environment-file key and line behind a finding.

Rule: I/O (renders the templates). With ``--env`` findings point at rendered lines; the
operator edits ``environments/ENV.yaml``. For each finding on a rendered line, the keys
written in the environment file whose value appears on that line are candidates; each
candidate is changed in a copy of the environment and the stack rendered again, and a
candidate is the origin when the finding's line changes with it. Proof by re-rendering,
not by guessing from equal values; a render per candidate, only when there are findings.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from akops.environment import Environment
from akops.errors import AkopsError
from akops.lint.findings import Finding
from akops.lint.report import LintReport
from akops.stack import RenderedStack, render_stack
from akops.yamldoc import PathKey, dotted, parse_one, read_text

MAX_CANDIDATES = 8  # per finding: renders are ~0.1 s each


def _leaves(data: Any, path: PathKey = ()) -> Iterator[tuple[PathKey, Any]]:
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from _leaves(v, (*path, i))
    elif isinstance(data, (int, float, str)) and str(data) != "":
        yield path, data


def _changed(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    return f"{value}9"


def _set(data: Any, path: PathKey, value: Any) -> None:
    for key in path[:-1]:
        data = data[key]
    data[path[-1]] = value


def _changed_lines(old: str, new: str) -> set[int]:
    """1-based lines of ``old`` that ``new`` replaces or removes."""
    lines: set[int] = set()
    matcher = difflib.SequenceMatcher(None, old.splitlines(), new.splitlines(), autojunk=False)
    for tag, i1, i2, _, _ in matcher.get_opcodes():
        if tag in ("replace", "delete"):
            lines.update(range(i1 + 1, i2 + 1))
    return lines


def _mentions(line: str, value: Any) -> bool:
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return re.search(rf"(?<![\w.-]){re.escape(text)}(?![\w.-])", line) is not None or (
        isinstance(value, str) and len(value) > 3 and value in line
    )


def with_origins(
    report: LintReport,
    env: Environment,
    stack: RenderedStack,
    env_file: Path,
    env_label: str,
    target: str,
    templates: Path,
) -> LintReport:
    """``report`` with each finding on a rendered line naming the environment key behind it."""
    if not any(f.waived is None for f in report.findings):
        return report  # waived findings are known and accepted: no renders spent on them
    doc = parse_one(read_text(env_file), env_label)
    written = list(_leaves(doc.data))
    rendered = {f"{target}/{f.name}": f.text for f in stack.files}
    proven: dict[PathKey, dict[str, set[int]]] = {}

    def lines_moved_by(path: PathKey, value: Any) -> dict[str, set[int]]:
        if path not in proven:
            data = env.model_dump(mode="json")
            try:
                _set(data, path, _changed(value))
                other = render_stack(Environment.model_validate(data), templates)
            except (ValidationError, AkopsError, KeyError, IndexError, TypeError):
                proven[path] = {}
                return proven[path]
            new = {f"{target}/{f.name}": f.text for f in other.files}
            proven[path] = {
                name: _changed_lines(text, new.get(name, "")) for name, text in rendered.items()
            }
        return proven[path]

    out: list[Finding] = []
    for f in report.findings:
        text = rendered.get(f.file)
        if text is None or f.line is None or f.origin is not None or f.waived is not None:
            out.append(f)
            continue
        line = text.splitlines()[f.line - 1] if f.line <= len(text.splitlines()) else ""
        mentioned = [(p, v) for p, v in written if _mentions(line, v)]
        # A key whose name is on the line (replicas: 2 ← *.replicas) is the likelier origin.
        mentioned.sort(key=lambda pv: str(pv[0][-1]).split("_")[0] not in line)
        candidates = mentioned[:MAX_CANDIDATES]
        origins = [
            f"{env_label}:{doc.line_of(p)} {dotted(p)}"
            for p, v in candidates
            if f.line in lines_moved_by(p, v).get(f.file, set())
        ]
        out.append(replace(f, origin=", ".join(origins)) if origins else f)
    return replace(report, findings=tuple(out))
