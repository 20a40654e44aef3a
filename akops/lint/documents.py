"""What lint reads: files sorted into Kubernetes objects, chart values, outpost patches
and pgbouncer.ini, each remembering its file and lines.

Rule: ``classify`` is pure (texts in, ``Sources`` out); ``read_paths`` is the only I/O
(reading files and expanding directories). A YAML document with ``apiVersion`` and
``kind`` is a Kubernetes object; one with ``kubernetes_json_patches`` is the outpost's
patches; any other mapping is an Authentik chart values file. A ``.ini`` file, or a
ConfigMap key ending in ``.ini``, is a pgbouncer.ini (its lines map to the file's lines
exactly when the value is a block scalar, ``|``, as our templates write it). Anything
else is bad input.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from akops.errors import InputError
from akops.lint.pgbouncer import PgBouncerIni, parse_ini
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


@dataclass(frozen=True)
class Sources:
    texts: tuple[SourceText, ...] = ()
    objects: tuple[KubeObject, ...] = ()
    values: tuple[ChartValues, ...] = ()
    patches: tuple[OutpostPatches, ...] = ()
    inis: tuple[PgBouncerIni, ...] = ()

    @property
    def documents(self) -> int:
        return (
            len(self.objects)
            + len(self.values)
            + len(self.patches)
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


def _classify_doc(doc: Document, file: str) -> Located:
    data = doc.data
    if not isinstance(data, dict):
        raise InputError(
            f"{file}:{doc.start_line}: expected a mapping (a Kubernetes object or chart values), "
            f"got a {type(data).__name__}"
        )
    has_api, has_kind = "apiVersion" in data, "kind" in data
    if has_api and has_kind:
        if not isinstance(data["kind"], str) or not isinstance(data["apiVersion"], str):
            raise InputError(f"{file}:{doc.start_line}: apiVersion and kind must be strings")
        return KubeObject(doc, file)
    if has_api or has_kind:
        missing = "kind" if has_api else "apiVersion"
        raise InputError(f"{file}:{doc.start_line}: Kubernetes object without {missing}")
    if "kubernetes_json_patches" in data:
        return OutpostPatches(doc, file)
    return ChartValues(doc, file)


def classify(texts: Iterable[SourceText]) -> Sources:
    """Sort every document of ``texts`` by what it is."""
    kept: list[SourceText] = []
    objects: list[KubeObject] = []
    values: list[ChartValues] = []
    patches: list[OutpostPatches] = []
    inis: list[PgBouncerIni] = []
    for src in texts:
        kept.append(src)
        if not src.is_yaml:
            inis.append(parse_ini(src.text, src.file))
            continue
        docs = parse_all(src.text, src.file)
        if not docs:
            raise InputError(f"{src.file}: no YAML document in the file")
        for doc in docs:
            item = _classify_doc(doc, src.file)
            if isinstance(item, KubeObject):
                objects.append(item)
                inis.extend(_ini_from_configmap(item))
            elif isinstance(item, OutpostPatches):
                patches.append(item)
            elif isinstance(item, ChartValues):
                values.append(item)
    return Sources(tuple(kept), tuple(objects), tuple(values), tuple(patches), tuple(inis))


YAML_SUFFIXES = (".yaml", ".yml")


def _expand(path: Path) -> list[Path]:
    if path.is_dir():
        found = sorted(
            p for p in path.rglob("*") if p.is_file() and p.suffix in (*YAML_SUFFIXES, ".ini")
        )
        if not found:
            raise InputError(f"{path}: directory holds no .yaml, .yml or .ini file")
        return found
    return [path]


def read_paths(paths: Sequence[Path | str]) -> list[SourceText]:
    """Read every file named (directories: their YAML and ini files, sorted)."""
    if not paths:
        raise InputError("no files to lint: give --path at least once")
    out = []
    for given in paths:
        for path in _expand(Path(given)):
            out.append(SourceText(display(path), read_text(path), path.suffix != ".ini"))
    return out
