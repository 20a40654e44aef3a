"""Rewriting fields of an environment file in place, keeping its comments, order and style.

Rule: I/O (files). ruamel.yaml's round trip keeps what the operator wrote; a guard refuses
any rewrite that would touch a line other than the fields asked for (a style ruamel would
normalise), so a pin never reformats a file behind the reviewer's back. The file is
replaced atomically.
"""

from __future__ import annotations

import difflib
import io
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from akops import files
from akops.errors import InputError
from akops.yamldoc import display

FieldPath = tuple[str, ...]


@dataclass(frozen=True)
class Edit:
    """An environment file before and after a rewrite."""

    path: Path
    before: str
    after: str

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def diff(self) -> str:
        name = display(self.path)
        return "".join(
            difflib.unified_diff(
                self.before.splitlines(keepends=True),
                self.after.splitlines(keepends=True),
                fromfile=f"{name} (now)",
                tofile=f"{name} (pinned)",
            )
        )


def _yaml() -> YAML:
    y = YAML()
    y.preserve_quotes = True
    y.indent(mapping=2, sequence=4, offset=2)
    y.width = 4096
    return y


def plan_edit(path: Path, values: Mapping[FieldPath, str]) -> Edit:
    """The file with each field in ``values`` set; nothing is written."""
    name = display(path)
    try:
        before = files.read_text(path)
        data = _yaml().load(before)
    except YAMLError as e:
        raise InputError(f"{name}: not valid YAML: {str(e).splitlines()[0]}") from e
    for field, value in values.items():
        node = data
        for key in field[:-1]:
            node = node.get(key) if hasattr(node, "get") else None
        if not hasattr(node, "get") or field[-1] not in node:
            raise InputError(f"{name}: {'.'.join(field)}: no such field to rewrite")
        node[field[-1]] = value
    out = io.StringIO()
    _yaml().dump(data, out)
    after = out.getvalue()
    touched = sum(
        1 for line in difflib.ndiff(before.splitlines(), after.splitlines()) if line[:1] == "-"
    )
    if touched > len(values) or (after != before and touched == 0):
        raise InputError(
            f"{name}: rewriting {', '.join('.'.join(f) for f in values)} would change other "
            "lines too (a YAML style ruamel.yaml normalises); set the values by hand"
        )
    return Edit(path, before, after)


def write_edit(edit: Edit) -> None:
    """Replace the file atomically with ``edit.after`` (same directory, same mode)."""
    if not edit.changed:
        return
    path = edit.path
    try:
        mode = path.stat().st_mode & 0o777
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(edit.after)
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as e:
        raise InputError(f"{display(path)}: cannot write: {e.strerror}") from e
