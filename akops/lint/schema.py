"""Kubernetes schema validation, offline and strict, with validators compiled once.

Rule: pure apart from reading the schemas that ship inside ``kubernetes-validate`` (and
akops's own, for the custom resources the stack renders: ``akops/data/crds/``).
``kubernetes_validate.validate`` re-reads and re-compiles the schema on every call
(~20 ms per document); here one jsonschema validator is built per (Kubernetes
version, apiVersion, kind) and reused, and the 1.4 MB definitions file is loaded once
per version. Every error of a document is reported, not only the first, and
messages never echo a field's value (it may be a secret).
"""

from __future__ import annotations

import difflib
import json
import re
from functools import lru_cache
from importlib import resources
from typing import Any

import jsonschema
import kubernetes_validate.utils as kv
from referencing import Registry, Resource

from akops.errors import InputError
from akops.lint.documents import KubeObject
from akops.lint.findings import Finding
from akops.lint.registry import finding
from akops.yamldoc import dotted

_TYPE_NAMES = {
    dict: "a mapping",
    list: "a list",
    str: "a string",
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    type(None): "null",
}


@lru_cache(maxsize=8)
def schema_version(wanted: str) -> str:
    """The newest shipped schema version not newer than ``wanted`` (``1.33`` → ``1.33.0``)."""
    wanted = wanted.removeprefix("v")
    mm = kv.major_minor(wanted)
    try:
        key = tuple(int(p) for p in mm.split("."))
    except ValueError as e:
        raise InputError(f"Kubernetes version {wanted!r} is not MAJOR.MINOR") from e
    fitting = [
        v for v in kv.all_versions() if tuple(int(p) for p in kv.major_minor(v).split(".")) <= key
    ]
    if not fitting:
        raise InputError(
            f"no Kubernetes schemas for version {wanted} (oldest shipped: {kv.all_versions()[0]})"
        )
    newest = kv.all_versions()[-1]
    if key > tuple(int(p) for p in kv.major_minor(newest).split(".")):
        raise InputError(
            f"no Kubernetes schemas for version {wanted}: kubernetes-validate ships up to {newest}"
        )
    return str(fitting[-1])


def _load(name: str, version: str) -> Any:
    try:
        return kv.schema_contents(f"kubernetes-json-schema/v{version}-local-strict/{name}", version)
    except kv.VersionNotSupportedError as e:
        raise InputError(f"no Kubernetes schemas for version {version}") from e


@lru_cache(maxsize=4)
def _registry(version: str) -> Registry[Any]:
    definitions = Resource.from_contents(_load("_definitions.json", version))
    return definitions @ Registry()


def _schema_file(api_version: str, kind: str) -> str:
    # rbac.authorization.k8s.io/v1 → rbac-v1; v1 → v1 (as kubernetes-validate names them)
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    return f"{kind.lower()}-{group_version}.json"


def _custom(api_version: str, kind: str) -> Any:
    """A shipped schema of a custom resource the stack renders (``akops/data/crds/``), or None."""
    if "/" not in api_version:
        return None
    group, _, version = api_version.partition("/")
    name = f"{kind.lower()}-{group.split('.')[0]}-{version}.json"
    try:
        text = resources.files("akops").joinpath("data", "crds", name).read_text("utf-8")
    except (FileNotFoundError, IsADirectoryError):
        return None
    return json.loads(text)


@lru_cache(maxsize=256)
def validator(version: str, api_version: str, kind: str) -> jsonschema.protocols.Validator | None:
    """The compiled validator for one kind, or None when no schema ships for it.

    Kubernetes' own kinds come from kubernetes-validate; the custom resources the stack
    renders (prometheus-operator's PrometheusRule and ServiceMonitor) from
    ``akops/data/crds/``, strict as well, and referring to the same ObjectMeta.
    """
    try:
        schema = _load(_schema_file(api_version, kind), version)
    except FileNotFoundError:
        schema = _custom(api_version, kind)
        if schema is None:
            return None
    registry = Resource.from_contents(schema) @ _registry(version)
    cls = jsonschema.validators.Draft202012Validator
    return cls(schema, registry=registry)


def _properties(schema: Any) -> list[str]:
    return sorted(schema.get("properties", {})) if isinstance(schema, dict) else []


def _describe(e: jsonschema.ValidationError) -> list[tuple[tuple[str | int, ...], str]]:
    """(field path, message) for one schema error, without echoing values."""
    path = tuple(e.absolute_path)
    if e.validator == "additionalProperties" and isinstance(e.instance, dict):
        known = _properties(e.schema)
        out = []
        for key in sorted(str(k) for k in e.instance if k not in known):
            near = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            out.append(((*path, key), f"unknown field {key!r}{hint}"))
        if out:
            return out
    if e.validator == "type":
        expected = e.validator_value
        expected_s = " or ".join(expected) if isinstance(expected, list) else str(expected)
        got = _TYPE_NAMES.get(type(e.instance), type(e.instance).__name__)
        return [(path, f"expected {expected_s}, got {got}")]
    if e.validator == "enum":
        allowed = ", ".join(repr(v) for v in e.validator_value if v is not None)
        return [(path, f"must be one of {allowed}")]
    if e.validator == "required":
        return [(path, e.message)]
    if e.validator in ("oneOf", "anyOf"):
        # akops's own schemas say in words which forms are allowed (``errorMessage``)
        said = e.schema.get("errorMessage") if isinstance(e.schema, dict) else None
        return [(path, str(said or "value matches none of the allowed forms"))]
    # Other validators (pattern, minimum, format, …): name the constraint, not the value.
    return [(path, f"fails {e.validator} {e.validator_value!r}")]


def check(obj: KubeObject, version: str, strict_kinds: bool = False) -> list[Finding]:
    """Every schema error of ``obj`` as a ``schema.invalid`` finding.

    A kind without a shipped schema (a custom resource) is one ``schema.unchecked``
    finding: a warning, or an error with ``strict_kinds``.
    """
    val = validator(schema_version(version), obj.api_version, obj.kind)
    if val is None:
        return [
            finding(
                "schema.unchecked",
                f"{obj.kind} ({obj.api_version}): no schema for this kind in Kubernetes {version}; "
                "not schema-checked",
                file=obj.file,
                line=obj.doc.start_line,
                object=obj.ref,
                severity="error" if strict_kinds else "warning",
            )
        ]
    findings = []
    for err in sorted(val.iter_errors(obj.data), key=lambda e: [str(p) for p in e.absolute_path]):
        for path, message in _describe(err):
            findings.append(
                finding(
                    "schema.invalid",
                    f"{dotted(path) or '(top level)'}: {message}",
                    file=obj.file,
                    line=obj.line(path),
                    object=obj.ref,
                    path=dotted(path) or None,
                )
            )
    return findings
