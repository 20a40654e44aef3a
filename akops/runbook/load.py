"""Reading runbooks from a directory (``runbooks/`` by default).

Rule: file I/O at the edge of ``akops.runbook.schema``. A runbook's name is its
file's stem; an unknown name is an error listing the known ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from akops.alerts.rules import RunbookAlerts, Runbooks
from akops.environment import Environment
from akops.errors import InputError, RunbookError
from akops.runbook.schema import RunbookDoc, parse
from akops.runbook.validation import problems
from akops.yamldoc import NAME_RE, read_text


def names(directory: Path, label: str | None = None) -> list[str]:
    """Names of the runbooks in ``directory`` (sorted); a missing directory is an error."""
    if not directory.is_dir():
        what = "is not a directory" if directory.exists() else "does not exist"
        raise RunbookError(f"{label or directory}: {what} (the runbooks directory, --runbooks)")
    return sorted(p.stem for p in directory.glob("*.yaml"))


def load_file(path: Path, label: str | None = None) -> RunbookDoc:
    """Parse one runbook file; ``label`` is how messages name it (default: the path)."""
    source = label or str(path)
    try:
        text = read_text(path)
    except InputError as e:
        raise RunbookError(str(e).replace(str(path), source)) from e
    return parse(text, source, path.stem)


def find(directory: Path, name: str, label: str | None = None) -> RunbookDoc:
    """Load runbook ``name`` from ``directory``."""
    path = directory / f"{name}.yaml"
    if not NAME_RE.match(name) or not (path.exists() or path.is_symlink()):
        known = ", ".join(names(directory, label)) or "none"
        where = label or str(directory)
        raise RunbookError(f"unknown runbook {name!r} (known in {where}: {known})")
    return load_file(path, f"{label}/{path.name}" if label else None)


def load_all(directory: Path, label: str | None = None) -> list[RunbookDoc]:
    """Every runbook of ``directory``; the first bad one raises."""
    return [find(directory, n, label) for n in names(directory, label)]


def lint(
    directory: Path,
    label: str,
    checks: frozenset[str],
    tasks: Mapping[str, frozenset[str]],
    envs: Sequence[Environment],
) -> tuple[int, list[str]]:
    """Validate every runbook of ``directory``: (how many were read, every problem found)."""
    found: list[str] = []
    count = 0
    for name in names(directory, label):
        count += 1
        try:
            rb = find(directory, name, label)
        except RunbookError as e:
            found.append(str(e))
            continue
        found.extend(problems(rb, checks, tasks, envs))
    return count, found


def alert_links(directory: Path, label: str, url_template: str | None) -> Runbooks:
    """Every runbook's ``when.alerts`` with its lines: what lint holds the alert rules to."""
    books = []
    for rb in load_all(directory, label):
        alerts = tuple(
            (name, rb.doc.line_of(("when", "alerts", i)))
            for i, name in enumerate(rb.runbook.when.alerts)
        )
        books.append(RunbookAlerts(rb.runbook.name, rb.source, alerts))
    return Runbooks(tuple(books), url_template, label)
