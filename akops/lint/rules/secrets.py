"""Secret material where anyone who can read the object can read it.

Rule: pure. File rules. Messages name what looks secret, never the value.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from akops.lint.documents import Located
from akops.lint.findings import Finding
from akops.lint.index import Index, at, located
from akops.lint.registry import finding, rule
from akops.secrets import PLACEHOLDER_RE
from akops.yamldoc import PathKey, dotted

_SECRET_ASSIGN = re.compile(
    r"(?i)\b(password|passwd|pwd|secret|secret_key|token|api[_-]?key|private[_-]?key)\s*[=:]\s*(?!\s*$)(\S+)"
)
_DIGEST = re.compile(r"[0-9a-f]{64}")
_SECRET_NAME = re.compile(r"(?i)(password|passwd|secret|token|api_?key|private_?key|credential)")


def secret_in(text: str) -> str | None:
    """What secret-looking thing ``text`` holds (never the value itself)."""
    if PLACEHOLDER_RE.search(text):
        return "a secret placeholder (apply would inject the real value)"
    m = _SECRET_ASSIGN.search(text)
    if m:
        return f"a value for `{m.group(1)}`"
    return None


@rule(
    "secrets.configmap",
    "error",
    "secret material in a ConfigMap",
    hint="keep secrets in a Secret (PgBouncer reads the server password from auth_file)",
    why="the seed rendered the database password into the pgbouncer-config ConfigMap",
)
def secrets_configmap(ix: Index) -> Iterator[Finding]:
    for obj in ix.of_kind("ConfigMap"):
        data = obj.data.get("data")
        for key, value in data.items() if isinstance(data, dict) else []:
            path = ("data", key)
            if _SECRET_NAME.search(str(key)) and value not in (None, ""):
                yield located(
                    obj,
                    "secrets.configmap",
                    path,
                    f"{obj.ref} key {key} looks like a secret",
                    obj.ref,
                )
                continue
            key_line = obj.line(path)
            lines = str(value).splitlines()
            for i, text in enumerate(lines):
                what = secret_in(text)
                if what:
                    # A block scalar's content starts on the line after its key.
                    line = key_line + i + 1 if len(lines) > 1 else key_line
                    yield finding(
                        "secrets.configmap",
                        f"{obj.ref} {key} holds {what}",
                        file=obj.file,
                        line=line,
                        object=obj.ref,
                        path=dotted(path),
                    )
    for ini in ix.inis:
        if ini.object is not None:
            continue  # scanned above, as the ConfigMap it lives in
        for line, text in ini.section_lines():
            what = secret_in(text)
            if what:
                yield finding(
                    "secrets.configmap",
                    f"pgbouncer.ini holds {what}; this file is what the pgbouncer-config ConfigMap carries",
                    file=ini.file,
                    line=line,
                )


@rule(
    "secrets.env",
    "error",
    "secret material in a plain env value",
    hint="use valueFrom.secretKeyRef",
    why="the seed passed the database password as a plain env var",
)
def secrets_env(ix: Index) -> Iterator[Finding]:
    for w, c in ix.containers():
        for var in c.env:
            if var.from_ref or var.value in (None, ""):
                continue
            what = secret_in(str(var.value)) or (
                "a plain value"
                if _SECRET_NAME.search(var.name) and not var.name.endswith("_FILE")
                else None
            )
            if what:
                yield at(
                    w, "secrets.env", var.path, f"container {c.name} env {var.name} holds {what}"
                )


def _scan_annotations(src: Located, ref: str, annotations: Any, base: PathKey) -> Iterator[Finding]:
    for key, value in annotations.items() if isinstance(annotations, dict) else []:
        if str(key).startswith("checksum/") and _DIGEST.fullmatch(str(value)):
            # A digest of rendered config (the Authentik chart's `checksum/secret`) is the
            # usual restart trigger; it reveals nothing of what it hashes.
            what: str | None = None
        elif key == "kubectl.kubernetes.io/last-applied-configuration" and ref.startswith(
            "Secret/"
        ):
            what = "the whole Secret (last-applied-configuration)"
        else:
            what = secret_in(str(value)) or (
                "a secret-named value" if _SECRET_NAME.search(str(key).rsplit("/", 1)[-1]) else None
            )
        if what:
            yield located(
                src, "secrets.annotation", (*base, key), f"{ref} annotation {key} holds {what}", ref
            )


@rule(
    "secrets.annotation",
    "error",
    "secret material in an annotation",
    hint="never put secrets in annotations; they are readable by anyone who can list the object",
    why="annotations (and last-applied-configuration) leak into diffs and logs",
)
def secrets_annotation(ix: Index) -> Iterator[Finding]:
    for obj in ix.objects:
        meta = obj.data.get("metadata")
        if isinstance(meta, dict):
            yield from _scan_annotations(
                obj, obj.ref, meta.get("annotations"), ("metadata", "annotations")
            )
    for w in ix.workloads:
        yield from _scan_annotations(w.source, w.ref, w.annotations, w.annotations_path)
