"""YAML documents with the line of every field.

Rule: pure parsing (text in, values out). Errors name the file and line. Lines are
1-based and keyed by the field path as a tuple (``("pgbouncer", "replicas")``,
list items by index), so schema errors can point at the line that caused them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import BaseModel, Field, ValidationError

from akops import files
from akops.errors import InputError, YAMLSyntaxError

PathKey = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)

# libyaml composes ~10x faster than pure Python (lint reads thousands of documents);
# the node tree and its marks are the same, so construction stays with SafeLoader.
_COMPOSER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

#: Nodes a document may expand to through aliases, beyond ten times its own size: an alias
#: bomb ("billion laughs") is a few lines that every walk of the data expands exponentially.
ALIAS_BUDGET = 10_000
#: Nesting no real manifest, values file or runbook comes near (CRD schemas reach ~40).
MAX_DEPTH = 200


def _check_size(root: yaml.Node, source: str) -> None:
    """Refuse excessive alias expansion and nesting before anything walks the data."""
    expanded: dict[int, int] = {}
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, done = stack.pop()
        if depth > MAX_DEPTH:
            raise InputError(
                f"{source}:{node.start_mark.line + 1}: YAML nested deeper than {MAX_DEPTH} levels"
            )
        if id(node) in expanded:
            continue
        children = _children(node)
        if done or not children:
            expanded[id(node)] = 1 + sum(expanded[id(c)] for c in children)
            continue
        stack.append((node, depth, True))
        stack.extend((c, depth + 1, False) for c in children if id(c) not in expanded)
    total, distinct = expanded[id(root)], len(expanded)
    if total > 10 * distinct + ALIAS_BUDGET:
        raise InputError(
            f"{source}:{root.start_mark.line + 1}: YAML aliases expand {distinct} nodes to "
            f"{total}; refusing (an alias bomb?)"
        )


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


@dataclass(frozen=True)
class Document:
    """One YAML document: its data, where it came from, and the line of each field."""

    data: Any
    source: str
    start_line: int
    lines: dict[PathKey, int] = field(default_factory=dict, compare=False)

    def line_of(self, path: PathKey) -> int:
        """Line of the deepest known ancestor of ``path`` (the document start if none)."""
        for end in range(len(path), -1, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return self.start_line


def _index_lines(node: yaml.Node, path: PathKey, out: dict[PathKey, int]) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            out[(*path, key)] = key_node.start_mark.line + 1
            _index_lines(value_node, (*path, key), out)
            out[(*path, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index_lines(item, (*path, i), out)


def parse_all(text: str, source: str) -> list[Document]:
    """Parse every document of a (multi-document) YAML text; empty documents are dropped."""
    try:
        nodes = list(yaml.compose_all(text, Loader=_COMPOSER))
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"{source}:{mark.line + 1}" if mark else source
        problem = str(e.problem or e.context)
        raise YAMLSyntaxError(
            f"{where}: invalid YAML: {problem}",
            mark.line + 1 if mark else None,
            problem,
            mark.column + 1 if mark else None,
        ) from e
    except yaml.YAMLError as e:
        raise YAMLSyntaxError(f"{source}: invalid YAML: {e}", None, str(e)) from e
    docs: list[Document] = []
    for node in nodes:
        if node is None:
            continue
        _check_size(node, source)
        lines: dict[PathKey, int] = {}
        _index_lines(node, (), lines)
        loader = yaml.SafeLoader("")
        try:
            data = loader.construct_document(node)
        except yaml.YAMLError as e:
            line = node.start_mark.line + 1
            raise YAMLSyntaxError(f"{source}:{line}: invalid YAML: {e}", line, str(e)) from e
        finally:
            loader.dispose()
        if data is None:
            continue
        docs.append(Document(data, source, node.start_mark.line + 1, lines))
    return docs


def parse_one(text: str, source: str) -> Document:
    """Parse a YAML text that must hold exactly one non-empty document."""
    docs = parse_all(text, source)
    if len(docs) != 1:
        raise InputError(f"{source}: expected one YAML document, found {len(docs)}")
    return docs[0]


#: The stem a named file (an environment, a runbook, a rehearsal scenario) may have.
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
#: That name as a field of a model: also a DNS label, so it can name objects and labels.
Slug = Annotated[str, Field(pattern=NAME_RE.pattern, max_length=63)]


def named_mapping(text: str, source: str, name: str, error: type[InputError]) -> Document:
    """One YAML document holding a mapping whose ``name`` field, when given, is ``name``.

    Environments, runbooks and scenarios are named by their file's stem; every failure is
    one ``error`` naming ``source`` and the line.
    """
    try:
        doc = parse_one(text, source)
    except InputError as e:
        raise error(str(e)) from e
    if not isinstance(doc.data, dict):
        raise error(f"{source}:{doc.start_line}: expected a mapping at the top level")
    if "name" in doc.data and doc.data["name"] != name:
        raise error(
            f"{source}:{doc.line_of(('name',))}: name: {doc.data['name']!r} does not match "
            f"the file name {name!r}"
        )
    return doc


class FieldError(ValueError):
    """A model validator's complaint about one field: ``path`` (relative to the model that
    raised it) is where the file should be pointed at, not the model's top."""

    def __init__(self, path: PathKey, message: str) -> None:
        super().__init__(message)
        self.path = path


def validated(
    model: type[M],
    data: dict[str, Any],
    doc: Document,
    error: type[InputError],
    hidden: frozenset[str] = frozenset(),
) -> M:
    """``data`` (read from ``doc``) as ``model``; the first error as ``source:line: field: why``.

    ``hidden`` names the location parts pydantic adds for union members (``float``,
    ``Setting``) that the file does not have.
    """
    try:
        return model.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        cause = (first.get("ctx") or {}).get("error")
        inner = cause.path if isinstance(cause, FieldError) else ()
        loc = tuple(p for p in (*first["loc"], *inner) if isinstance(p, int) or p not in hidden)
        field = dotted(loc) or "(top level)"
        more = f" (+{e.error_count() - 1} more)" if e.error_count() > 1 else ""
        raise error(f"{doc.source}:{doc.line_of(loc)}: {field}: {_why(first)}{more}") from e


def _why(err: Any) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown field"
    if err["type"] == "missing":
        return "required field is missing"
    return str(err["msg"]).removeprefix("Value error, ")


def display(path: Path) -> str:
    """``path`` as operators should read it: relative to the working directory when inside it."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except (ValueError, OSError, RuntimeError):  # RuntimeError: a symlink loop (Python < 3.13)
        return str(path)


def read_text(path: Path, *, flag: str | None = None, label: str | None = None) -> str:
    """Read a UTF-8 input file (regular files only, size-capped: ``akops.files``)."""
    return files.read_text(path, flag=flag, label=label)


def dotted(path: PathKey) -> str:
    """``("a", 0, "b")`` → ``a[0].b``: the form field paths take in messages."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def walk(data: Any, path: PathKey = ()) -> Iterator[tuple[PathKey, Any]]:
    """Yield (path, value) for every leaf of nested dicts and lists."""
    if isinstance(data, dict):
        for k, v in data.items():
            yield from walk(v, (*path, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from walk(v, (*path, i))
    else:
        yield path, data
