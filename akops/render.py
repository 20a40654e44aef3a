"""Writing rendered manifests and detecting drift against what is committed.

Rule: I/O at the edges of ``akops.stack``: loads the environment, renders, then
either writes ``manifests/<env>/`` or compares it (in memory) and returns a diff.
"""

from __future__ import annotations

import contextlib
import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from akops import files
from akops.environment import Environment, field_location, load_environment
from akops.errors import EnvironmentConfigError, InputError
from akops.layout import Layout, user_cache
from akops.stack import JINJA_OPTIONS, RenderedStack, render_stack
from akops.versions import version_split


@dataclass(frozen=True)
class Drift:
    """Differences between a fresh render and the files on disk."""

    diff: str
    changed: tuple[str, ...]

    @property
    def clean(self) -> bool:
        return not self.changed


class _QuietCache(jinja2.FileSystemBytecodeCache):
    """Compiled templates in the user's cache; a cache that cannot be read or written is no
    cache (the render compiles as before), never an error. Writes are atomic (Jinja's own
    temporary file and rename), so concurrent runs share it safely."""

    def load_bytecode(self, bucket: Any) -> None:
        with contextlib.suppress(OSError, ValueError, EOFError):
            super().load_bytecode(bucket)

    def dump_bytecode(self, bucket: Any) -> None:
        with contextlib.suppress(OSError):
            super().dump_bytecode(bucket)


def template_cache() -> jinja2.BytecodeCache | None:
    """The compiled-template cache (``<cache>/jinja/<options>``), or None where it cannot be."""
    folder = user_cache("jinja", JINJA_OPTIONS)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return _QuietCache(str(folder))


def render_env(layout: Layout, env_name: str) -> tuple[Environment, RenderedStack]:
    env = load_environment(env_name, layout.environments)
    refuse_version_split(env, layout.environments)
    return env, render_stack(env, layout.templates, template_cache())


def refuse_version_split(env: Environment, directory: Path) -> None:
    """A chart/image version split renders only with a stated reason; a stale reason is refused.

    A reason that outlives its split would wave through the next one unread.
    """
    a = env.authentik
    split = version_split(a.chart.version, a.image_tag)
    if split is not None and a.version_split_reason is None:
        where = field_location(env.name, directory, ("authentik", "image_tag"))
        raise EnvironmentConfigError(
            f"{where}: authentik.image_tag: {split.message()}; align them, or state why in "
            "authentik.version_split_reason"
        )
    if split is None and a.version_split_reason is not None:
        where = field_location(env.name, directory, ("authentik", "version_split_reason"))
        raise EnvironmentConfigError(
            f"{where}: authentik.version_split_reason: chart and image both name "
            f"{a.chart.version}; remove the stale reason"
        )


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
            if not path.exists() or files.read_text(path) != text:
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
        old = files.read_text(on_disk[name]) if name in on_disk else ""
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
