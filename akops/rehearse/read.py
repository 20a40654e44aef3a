"""Reading scenario files from a directory (``rehearsals/`` by default).

Rule: file I/O at the edge of ``akops.rehearse.scenario``. A scenario's name is its file's
stem; an unknown name is an error listing the known ones.
"""

from __future__ import annotations

from pathlib import Path

from akops.errors import InputError, ScenarioError
from akops.rehearse.scenario import Scenario, parse
from akops.yamldoc import NAME_RE, read_text


def names(directory: Path) -> list[str]:
    """Names of the scenarios in ``directory`` (sorted)."""
    return sorted(p.stem for p in directory.glob("*.yaml")) if directory.is_dir() else []


def find(directory: Path, name: str, label: str = "rehearsals") -> Scenario:
    """Load scenario ``name`` from ``directory``; messages name it as ``label/NAME.yaml``."""
    path = directory / f"{name}.yaml"
    if not NAME_RE.match(name) or not (path.exists() or path.is_symlink()):
        known = ", ".join(names(directory)) or "none"
        raise ScenarioError(f"unknown scenario {name!r} (known in {label}: {known})")
    source = f"{label}/{path.name}"
    try:
        text = read_text(path)
    except InputError as e:
        raise ScenarioError(str(e).replace(str(path), source)) from e
    return parse(text, source, name)[0]


def load_all(directory: Path, label: str = "rehearsals") -> list[Scenario]:
    """Every scenario of ``directory``; the first bad one raises."""
    return [find(directory, n, label) for n in names(directory)]
