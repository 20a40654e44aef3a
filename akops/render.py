"""Writing rendered manifests and detecting drift against what is committed.

Rule: I/O at the edges of ``akops.stack``: loads the environment, renders, then
either writes ``manifests/<env>/`` or compares it (in memory) and returns a diff.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from akops.environment import Environment, load_environment
from akops.errors import InputError
from akops.layout import Layout
from akops.stack import RenderedStack, render_stack


@dataclass(frozen=True)
class Drift:
    """Differences between a fresh render and the files on disk."""

    diff: str
    changed: tuple[str, ...]

    @property
    def clean(self) -> bool:
        return not self.changed


def render_env(layout: Layout, env_name: str) -> tuple[Environment, RenderedStack]:
    env = load_environment(env_name, layout.environments)
    return env, render_stack(env, layout.templates)


def write(stack: RenderedStack, target: Path) -> list[Path]:
    """Write every file of ``stack`` under ``target``; remove stale manifests there."""
    try:
        target.mkdir(parents=True, exist_ok=True)
        wanted = stack.by_name()
        for stale in sorted(target.glob("*.yaml")):
            if stale.name not in wanted:
                stale.unlink()
        written = []
        for name, text in wanted.items():
            path = target / name
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                path.write_text(text, encoding="utf-8")
            written.append(path)
        return written
    except OSError as e:
        raise InputError(f"{target}: cannot write manifests: {e.strerror}") from e


def drift(stack: RenderedStack, target: Path, label: str) -> Drift:
    """Compare ``stack`` with ``target`` without writing; ``label`` prefixes paths in the diff."""
    wanted = stack.by_name()
    on_disk = {p.name: p for p in target.glob("*.yaml")} if target.is_dir() else {}
    chunks: list[str] = []
    changed: list[str] = []
    for name in sorted(set(wanted) | set(on_disk)):
        try:
            old = on_disk[name].read_text(encoding="utf-8") if name in on_disk else ""
        except (OSError, UnicodeDecodeError) as e:
            raise InputError(f"{on_disk[name]}: cannot read: {e}") from e
        new = wanted.get(name, "")
        if old == new:
            continue
        changed.append(name)
        chunks.extend(
            difflib.unified_diff(
                old.splitlines(keepends=True),
                new.splitlines(keepends=True),
                fromfile=f"{label}/{name} (committed)" if name in on_disk else "/dev/null",
                tofile=f"{label}/{name} (rendered)" if name in wanted else "/dev/null",
            )
        )
    text = "".join(c if c.endswith("\n") else c + "\n" for c in chunks)
    return Drift(text, tuple(changed))
