"""What lint reads: files sorted into Kubernetes objects, chart values, outpost patches
and pgbouncer.ini, each remembering its file and lines; and what it does not read.

Rule: ``classify`` is pure (texts in, ``Sources`` out); ``expand_paths`` and ``read_ref`` are the only I/O
(reading files and expanding directories). A YAML document with string ``apiVersion``
and ``kind`` is a Kubernetes object; one with ``kubernetes_json_patches`` is the
outpost's patches; a mapping with ``serverFiles`` or ``configmapReload`` is the
prometheus-community ``prometheus`` chart's values; a mapping whose top-level keys are the
Authentik chart's (or any mapping of a file named with ``--values``) is chart values. A ``.ini`` file, or a
ConfigMap key ending in ``.ini``, is a pgbouncer.ini (its lines map to the file's lines
exactly when the value is a block scalar, ``|``, as our templates write it).

Real trees hold more than that. Another chart's values, a list, an empty file or a
file type lint does not read (``userlist.txt``) is skipped with an ``input.skipped``
note naming it; a file that is not valid YAML is a ``yaml.syntax`` error finding, and
the rest of the run goes on. Only a file that cannot be read at all is bad input.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

from akops import files
from akops.errors import InputError, YAMLSyntaxError
from akops.lint.findings import Finding
from akops.lint.pgbouncer import Included, PgBouncerIni, parse_ini
from akops.lint.registry import finding
from akops.yamldoc import Document, PathKey, display, dotted, parse_all, read_text


@dataclass(frozen=True)
class Located:
    """A YAML document and the file label findings use for it."""

    doc: Document
    file: str

    @property
    def data(self) -> Any:
        return self.doc.data

    def line(self, path: PathKey) -> int:
        return self.doc.line_of(path)


@dataclass(frozen=True)
class KubeObject(Located):
    @property
    def kind(self) -> str:
        return str(self.data["kind"])

    @property
    def api_version(self) -> str:
        return str(self.data["apiVersion"])

    @property
    def name(self) -> str:
        meta = self.data.get("metadata")
        name = meta.get("name") if isinstance(meta, dict) else None
        return str(name) if name else "(unnamed)"

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class ChartValues(Located):
    """An Authentik chart values file."""


@dataclass(frozen=True)
class PrometheusValues(Located):
    """Values of the prometheus-community ``prometheus`` chart: the cluster's Prometheus,
    where the stack's rule ConfigMap is mounted (``alerts.reload`` reads them)."""


#: Top-level keys of the prometheus-community ``prometheus`` chart that no other common chart
#: has: a mapping with one of them is that chart's values (unless named with ``--values``).
PROMETHEUS_CHART_KEYS = frozenset({"serverFiles", "configmapReload"})


@dataclass(frozen=True)
class OutpostPatches(Located):
    """The outpost's ``kubernetes_json_patches`` as rendered for the Authentik API."""

    @property
    def ref(self) -> str:
        return f"Deployment/{self.data.get('deployment') or 'ak-outpost-' + str(self.data.get('outpost', ''))}"


@dataclass(frozen=True)
class SourceText:
    """One input file as text (kept for yamllint)."""

    file: str
    text: str = field(repr=False)
    is_yaml: bool
    readable: bool = True  # False: not linted on its own (``skip`` says why, in a note)
    skip: str = ""
    base: str | None = None  # an ini file's directory, for its %include lines
    includes: tuple[tuple[str, Included], ...] = ()  # resolved path → the file read for it


@dataclass(frozen=True)
class Sources:
    texts: tuple[SourceText, ...] = ()
    objects: tuple[KubeObject, ...] = ()
    values: tuple[ChartValues, ...] = ()
    patches: tuple[OutpostPatches, ...] = ()
    inis: tuple[PgBouncerIni, ...] = ()
    notes: tuple[Finding, ...] = ()  # input.skipped notes and yaml.syntax errors
    prometheus: tuple[PrometheusValues, ...] = ()

    @property
    def documents(self) -> int:
        return (
            len(self.objects)
            + len(self.values)
            + len(self.patches)
            + len(self.prometheus)
            + sum(1 for i in self.inis if i.object is None)
        )


def _ini_from_configmap(obj: KubeObject) -> list[PgBouncerIni]:
    data = obj.data.get("data")
    if obj.kind != "ConfigMap" or not isinstance(data, dict):
        return []
    out = []
    for key, text in data.items():
        if str(key).endswith(".ini") and isinstance(text, str):
            # A block scalar starts on the line after its key.
            first = obj.line(("data", key)) + 1
            out.append(
                parse_ini(
                    text, obj.file, first_line=first, object=obj.ref, path=dotted(("data", key))
                )
            )
    return out


#: The line ``invoke render`` writes at the top of the Authentik values it renders, naming
#: the chart they are for: ``lint --path`` judges them by that chart's key list.
CHART_HEADER = re.compile(r"^# chart: authentik (?P<version>[0-9][0-9A-Za-z.+-]*)\b", re.M)
#: How far into a file the chart header is looked for (``invoke render`` writes it first).
HEADER_BYTES = 2048


def chart_named_in(head: str) -> str | None:
    """The chart version the header of a rendered values file names, if it has one."""
    m = CHART_HEADER.search(head)
    return m.group("version") if m else None


# Top-level keys only Authentik's chart has among the common ones. ``server``, ``worker``
# and ``global`` are not enough: Argo CD's, Vault's and Prometheus' charts have them too.
_AUTHENTIK_ONLY = frozenset({"authentik", "blueprints", "geoip"})
_IMAGE_OWNERS = ("global", "server", "worker")


def _names_authentik_image(data: dict[Any, Any]) -> bool:
    for owner in _IMAGE_OWNERS:
        node = data.get(owner)
        image = node.get("image") if isinstance(node, dict) else None
        repo = image.get("repository") if isinstance(image, dict) else None
        if isinstance(repo, str) and "goauthentik" in repo:
            return True
    return False


@dataclass(frozen=True)
class Classifier:
    """How to tell Authentik's chart values from other mappings.

    A mapping is Authentik values when its file is named with ``--values``, when its header
    names the Authentik chart, or when at least half of its top-level keys are the chart's
    and something only Authentik's values hold is there: an ``authentik``, ``blueprints`` or
    ``geoip`` key, or a ``goauthentik`` image. Another chart's values get no Authentik
    findings: they are skipped with a note.
    """

    chart_top_keys: frozenset[str] = frozenset()
    values_files: frozenset[str] = frozenset()  # files named with --values

    def is_values(self, data: dict[Any, Any], file: str, header: bool = False) -> bool:
        if file in self.values_files or header:
            return True
        keys = {str(k) for k in data}
        if not self.chart_top_keys or len(keys & self.chart_top_keys) * 2 < len(keys):
            return False
        return bool(keys & _AUTHENTIK_ONLY) or _names_authentik_image(data)


def _note(file: str, line: int | None, message: str) -> Finding:
    return finding("input.skipped", message, file=file, line=line)


def _classify_doc(
    doc: Document, file: str, how: Classifier, header: bool = False
) -> Located | Finding:
    data = doc.data
    if not isinstance(data, dict):
        return _note(
            file,
            doc.start_line,
            f"a YAML {type(data).__name__}, not a Kubernetes object or chart values: skipped",
        )
    api, kind = data.get("apiVersion"), data.get("kind")
    if isinstance(api, str) and isinstance(kind, str):
        return KubeObject(doc, file)
    if "kubernetes_json_patches" in data:
        return OutpostPatches(doc, file)
    named = header or file in how.values_files
    if not named and {str(k) for k in data} & PROMETHEUS_CHART_KEYS:
        return PrometheusValues(doc, file)
    if how.is_values(data, file, header):
        return ChartValues(doc, file)
    if isinstance(kind, str) and isinstance(data.get("metadata"), dict):
        missing = "apiVersion" if api is None else "a string apiVersion"
        return finding(
            "schema.invalid",
            f"(top level): Kubernetes object {kind} without {missing}",
            file=file,
            line=doc.start_line,
            object=kind,
        )
    shown = ", ".join(sorted(str(k) for k in data)[:4]) + (", …" if len(data) > 4 else "")
    return _note(
        file,
        doc.start_line,
        f"a mapping ({shown}) that is neither a Kubernetes object nor Authentik chart values: "
        "skipped (name the file with --values to check it as Authentik values)",
    )


def classify(texts: Iterable[SourceText], how: Classifier | None = None) -> Sources:
    """Sort every document of ``texts`` by what it is."""
    how = how or Classifier()
    kept: list[SourceText] = []
    objects: list[KubeObject] = []
    values: list[ChartValues] = []
    patches: list[OutpostPatches] = []
    inis: list[PgBouncerIni] = []
    notes: list[Finding] = []
    prometheus: list[PrometheusValues] = []
    for src in texts:
        if not src.readable:
            suffix = PurePath(src.file).suffix or "(no suffix)"
            why = src.skip or f"lint does not read {suffix} files: skipped"
            notes.append(_note(src.file, None, why))
            continue
        kept.append(src)
        if not src.text.strip():
            notes.append(_note(src.file, None, "empty file: nothing to lint"))
            continue
        if not src.is_yaml:
            inis.append(parse_ini(src.text, src.file, base=src.base, includes=dict(src.includes)))
            continue
        try:
            docs = parse_all(src.text, src.file)
        except YAMLSyntaxError as e:
            notes.append(
                finding(
                    "yaml.syntax",
                    f"invalid YAML: {e.problem}; nothing in this file was checked",
                    file=src.file,
                    line=e.line,
                    column=e.column,
                )
            )
            continue
        if not docs:
            notes.append(_note(src.file, None, "no YAML document (only comments): nothing to lint"))
            continue
        header = chart_named_in(src.text[:HEADER_BYTES]) is not None
        for doc in docs:
            item = _classify_doc(doc, src.file, how, header)
            if isinstance(item, Finding):
                notes.append(item)
            elif isinstance(item, KubeObject):
                objects.append(item)
                inis.extend(_ini_from_configmap(item))
            elif isinstance(item, OutpostPatches):
                patches.append(item)
            elif isinstance(item, ChartValues):
                values.append(item)
            elif isinstance(item, PrometheusValues):
                prometheus.append(item)
    return Sources(
        tuple(kept),
        tuple(objects),
        tuple(values),
        tuple(patches),
        tuple(inis),
        tuple(notes),
        tuple(prometheus),
    )


YAML_SUFFIXES = (".yaml", ".yml")
READ_SUFFIXES = (*YAML_SUFFIXES, ".ini")


@dataclass(frozen=True)
class FileRef:
    """A file to lint, before it is read."""

    path: Path
    label: str  # as findings show it
    included_by: str | None = None  # an ini another given ini includes: checked there

    @property
    def readable(self) -> bool:
        return self.path.suffix in READ_SUFFIXES and self.included_by is None


def _listed(path: Path, p: Path) -> bool:
    """A directory's entry lint looks at: no dotfile and no directory. Special files stay
    listed so that one named like a manifest is refused by name instead of passed over."""
    if any(part.startswith(".") for part in p.relative_to(path).parts):
        return False
    try:
        return not p.is_dir()
    except OSError:
        return True  # a symlink loop: reading it says so, naming it


def _expand(path: Path) -> list[Path]:
    if path.is_dir():
        found = sorted(p for p in path.rglob("*") if _listed(path, p))
        if not found:
            raise InputError(f"{path}: directory holds no file")
        return found
    if not path.exists() and not path.is_symlink():
        raise InputError(f"{path}: no such file")
    return [path]


_INCLUDE = re.compile(r"^[ \t]*%include[ \t]+(\S.*?)[ \t\r]*$", re.MULTILINE)
MAX_INCLUDES = 100


def _includes_of(path: Path, text: str) -> list[tuple[Path, str]]:
    """(target, ``file:line`` of the ``%include``) for each include line of ``text``."""
    out = []
    for m in _INCLUDE.finditer(text):
        name = Path(m.group(1))
        target = name if name.is_absolute() else path.parent / name
        out.append((target, f"{display(path)}:{text.count(chr(10), 0, m.start()) + 1}"))
    return out


def gather_includes(
    path: Path, text: str, budget: files.Budget | None = None
) -> tuple[tuple[str, Included], ...]:
    """Every file ``path`` includes, transitively (each read once; cycles stop).

    A missing include is recorded (lint reports it where it is included); one that is not
    a regular file, or a chain larger than ``budget`` allows (``path`` itself counted), is
    ``InputError`` naming the ``%include`` line.
    """
    if budget is None:
        budget = files.Budget()
        budget.take(len(text.encode()), display(path), display(path))
    found: dict[str, Included] = {}
    todo = _includes_of(path, text)
    while todo and len(found) < MAX_INCLUDES:
        target, where = todo.pop(0)
        key = str(PurePath(os.path.normpath(target.absolute())))
        if key in found:
            continue
        try:
            files.check_regular(target)
        except InputError as e:
            if not target.exists() and not target.is_symlink():
                found[key] = Included(display(target), None, "no such file")
                continue
            raise InputError(f"{where}: %include {e}") from e
        try:
            body = files.read_text(target, budget=budget, root=display(path))
        except InputError as e:
            if "not UTF-8" in str(e):
                found[key] = Included(display(target), None, "cannot read (not UTF-8 text)")
                continue
            raise InputError(f"{where}: %include {e}") from e
        found[key] = Included(display(target), body)
        todo.extend(_includes_of(target, body))
    return tuple(found.items())


def expand_paths(paths: Sequence[Path | str]) -> list[FileRef]:
    """Every file named (directories: every file under them, sorted; dotfiles skipped).

    An ini that another given ini includes is linted as part of it, not alone (alone
    it has no [pgbouncer] section of its own). A file of a type lint reads that is not a
    regular file (a FIFO, a device, a socket) is refused here, before anything is read.
    """
    if not paths:
        raise InputError("no files to lint: give --path at least once")
    refs: dict[Path, FileRef] = {}
    for given in paths:
        for p in _expand(Path(given)):
            if p.suffix in READ_SUFFIXES:
                files.check_regular(p)
            refs.setdefault(p.resolve(), FileRef(p, display(p)))  # named twice: linted once
    included: dict[Path, str] = {}
    for resolved, ref in refs.items():
        if ref.path.suffix == ".ini":
            text = files.read_text(ref.path)
            for key, _ in gather_includes(ref.path, text):
                target = Path(key).resolve()
                if target != resolved:
                    included.setdefault(target, ref.label)
    return [
        FileRef(ref.path, ref.label, included.get(resolved)) if resolved in included else ref
        for resolved, ref in refs.items()
    ]


def read_ref(ref: FileRef) -> SourceText:
    """Read one file. A type lint does not read is not opened: it comes back unreadable,
    to be named in a note."""
    if ref.included_by is not None:
        return SourceText(
            ref.label,
            "",
            False,
            readable=False,
            skip=f"included by {ref.included_by}: checked there",
        )
    if not ref.readable:
        return SourceText(ref.label, "", False, readable=False)
    text = files.read_text(ref.path) if ref.path.suffix == ".ini" else read_text(ref.path)
    if ref.path.suffix != ".ini":
        return SourceText(ref.label, text, True)
    base = os.path.normpath(ref.path.parent.absolute())
    return SourceText(ref.label, text, False, base=base, includes=gather_includes(ref.path, text))
