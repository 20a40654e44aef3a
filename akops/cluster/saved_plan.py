"""A saved plan: what ``invoke plan --out FILE`` writes and ``invoke apply --plan FILE`` applies.

Rule: pure. A ``SavedPlan`` is the reviewed plan as data — every object's action and
field changes, the Helm release's, the outpost's — with what it was computed against:
the environment, kube context, git commit, each object's ``resourceVersion``, the Helm
release revision, and a digest of the rendered stack (placeholders in place, so no
secret is in it). Secret values never enter it: a sensitive field's values are replaced
by salted scrypt hashes, enough to tell "changed" from "unchanged" and nothing more,
and every other string is masked with the resolved secrets. The document carries a
digest of itself: a file edited by hand is refused.

``stale`` compares a saved plan with the world as it is now and names every reason the
plan no longer describes what an apply would do (exit 1 at the caller).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from akops.cluster.plan import (
    FieldChange,
    ObjectPlan,
    OutpostPlan,
    Plan,
    ReleasePlan,
    sensitive,
)
from akops.errors import InputError
from akops.secrets import Secrets
from akops.yamldoc import dotted, parse_one

FORMAT = "akops-plan/1"
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}


def secret_hash(value: Any, salt: str) -> str:
    """A salted scrypt hash of a sensitive value (compared, never reversed)."""
    raw = json.dumps(value, sort_keys=True).encode()
    return "scrypt:" + hashlib.scrypt(raw, salt=salt.encode(), **_SCRYPT).hex()


def stack_digest(files: Mapping[str, str]) -> str:
    """sha256 over the rendered files (with secret placeholders, so the digest holds no secret)."""
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode() + b"\0" + files[name].encode() + b"\0")
    return "sha256:" + h.hexdigest()


@dataclass(frozen=True)
class Basis:
    """What a plan was computed against; an apply refuses when any of it moved."""

    environment: str
    context: str
    namespace: str
    commit: str
    dirty: bool
    stack: str  # stack_digest of the rendered files
    versions: tuple[tuple[str, str | None], ...]  # (Kind/name, resourceVersion or None: absent)
    release_revision: int | None  # None: no release (or --skip-helm)
    secrets: tuple[tuple[str, str], ...] = ()  # (secret name, secret_hash of its value)


def _hidden(kind: str, path: tuple[str | int, ...]) -> bool:
    # A change at or above a Secret's data (a whole Secret added) holds its values too.
    return sensitive(kind, path) or (kind == "Secret" and len(path) == 0)


def _change(kind: str, c: FieldChange, salt: str, mask: Secrets) -> dict[str, Any]:
    out: dict[str, Any] = {"path": list(c.path), "op": c.op}
    for side, value in (("old", c.old), ("new", c.new)):
        if _hidden(kind, c.path):
            out[side] = None if value is None else {"hash": secret_hash(value, salt)}
        else:
            out[side] = json.loads(mask.mask(json.dumps(value)))
    return out


def _objects(plans: Sequence[ObjectPlan], salt: str, mask: Secrets) -> list[dict[str, Any]]:
    return [
        {
            "ref": str(o.ref),
            "kind": o.ref.kind,
            "namespace": o.ref.namespace,
            "name": o.ref.name,
            "action": o.action,
            "changes": [_change(o.ref.kind, c, salt, mask) for c in o.changes],
        }
        for o in plans
    ]


def _release(r: ReleasePlan | None, salt: str, mask: Secrets) -> dict[str, Any] | None:
    if r is None:
        return None
    return {
        "release": r.release,
        "namespace": r.namespace,
        "chart": r.chart,
        "version": r.version,
        "live_version": r.live_version,
        "action": r.action,
        "changes": [_change("HelmRelease", c, salt, mask) for c in r.changes],
        "objects": _objects(r.objects, salt, mask),
    }


def _outpost(o: OutpostPlan | None) -> dict[str, Any] | None:
    return None if o is None else {"outpost": o.outpost, "action": o.action}


def _digest(body: Mapping[str, Any]) -> str:
    text = json.dumps({k: v for k, v in body.items() if k != "digest"}, sort_keys=True)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class SavedPlan:
    """A plan as written to a file (``body``: the JSON document, digest included)."""

    body: dict[str, Any]

    @property
    def basis(self) -> Basis:
        b = self.body["basis"]
        return Basis(
            environment=str(b["environment"]),
            context=str(b["context"]),
            namespace=str(b["namespace"]),
            commit=str(b["commit"]),
            dirty=bool(b["dirty"]),
            stack=str(b["stack"]),
            versions=tuple((str(r), v if v is None else str(v)) for r, v in b["versions"]),
            release_revision=b["release_revision"],
            secrets=tuple((str(n), str(h)) for n, h in b["secrets"]),
        )

    @property
    def salt(self) -> str:
        return str(self.body["salt"])

    def adds_namespace(self) -> bool:
        """Whether the plan was made before the stack's namespace existed (it adds it)."""
        return any(
            o.get("kind") == "Namespace" and o.get("action") == "add"
            for o in self.body["plan"]["objects"]
        )

    def actions(self) -> dict[str, str]:
        """``Kind/name`` → planned action for every object of the plan."""
        return {o["ref"]: o["action"] for o in self.body["plan"]["objects"]}

    @property
    def release_action(self) -> str | None:
        r = self.body["plan"]["release"]
        return None if r is None else str(r["action"])

    @property
    def outpost_action(self) -> str | None:
        o = self.body["plan"]["outpost"]
        return None if o is None else str(o["action"])

    def to_json(self) -> str:
        return json.dumps(self.body, indent=1, sort_keys=True) + "\n"


def save(plan: Plan, basis: Basis, *, salt: str, secrets: Secrets, created: str) -> SavedPlan:
    """The saved form of ``plan`` (sensitive values hashed, everything else masked)."""
    body: dict[str, Any] = {
        "format": FORMAT,
        "created": created,
        "salt": salt,
        "basis": {
            "environment": basis.environment,
            "context": basis.context,
            "namespace": basis.namespace,
            "commit": basis.commit,
            "dirty": basis.dirty,
            "stack": basis.stack,
            "versions": [list(v) for v in basis.versions],
            "release_revision": basis.release_revision,
            "secrets": [list(s) for s in basis.secrets],
        },
        "plan": {
            "objects": _objects(plan.objects, salt, secrets),
            "release": _release(plan.release, salt, secrets),
            "outpost": _outpost(plan.outpost),
            "restarts": [r.describe() for r in plan.restarts],
            "summary": plan.summary(),
            "has_changes": plan.has_changes,
        },
    }
    body["digest"] = _digest(body)
    return SavedPlan(body)


Action = Literal["add", "change", "destroy", "none"]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class ChangeDoc(_Strict):
    path: list[str | int]
    op: Literal["+", "~", "-"]
    old: Any
    new: Any


class ObjectDoc(_Strict):
    ref: str
    kind: str
    namespace: str | None
    name: str
    action: Action
    changes: list[ChangeDoc]


class ReleaseDoc(_Strict):
    release: str
    namespace: str
    chart: str
    version: str
    live_version: str | None
    action: Action
    changes: list[ChangeDoc]
    objects: list[ObjectDoc]


class OutpostDoc(_Strict):
    outpost: str
    action: Action


class PlanDoc(_Strict):
    objects: list[ObjectDoc]
    release: ReleaseDoc | None
    outpost: OutpostDoc | None
    restarts: list[str]
    summary: str
    has_changes: bool


class BasisDoc(_Strict):
    environment: str
    context: str
    namespace: str
    commit: str
    dirty: bool
    stack: str
    versions: list[tuple[str, str | None]]
    release_revision: int | None
    secrets: list[tuple[str, str]]


class SavedPlanDoc(_Strict):
    """Every key ``save`` writes, each of its type: the document is validated whole before
    any field of it is read (a key the digest covers cannot be missing at apply time)."""

    format: Literal["akops-plan/1"]
    created: str
    salt: str = Field(min_length=1)
    basis: BasisDoc
    plan: PlanDoc
    digest: str


def load(text: str, source: str) -> SavedPlan:
    """A saved plan read back and validated whole; InputError naming the file, the line and
    the field when it is not one (exit 2)."""
    try:
        body = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"{source}:{e.lineno}: not a saved plan (invalid JSON: {e.msg})") from e
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise InputError(f"{source}: not a saved plan of this akops (format {FORMAT!r} expected)")
    try:
        SavedPlanDoc.model_validate_json(text)
    except ValidationError as e:
        first = e.errors()[0]
        loc = tuple(p for p in first["loc"] if isinstance(p, int | str))
        field = dotted(loc) or "(top level)"
        why = "required field is missing" if first["type"] == "missing" else first["msg"]
        line = _line_of(text, loc)
        where = f"{source}:{line}" if line else source
        raise InputError(f"{where}: saved plan: {field}: {why}") from e
    return SavedPlan(body)


def _line_of(text: str, loc: tuple[str | int, ...]) -> int | None:
    """The line of ``loc`` in a JSON text (JSON is YAML: its composer knows the lines)."""
    try:
        doc = parse_one(text, "plan")
    except InputError:
        return None
    return doc.line_of(loc)


def tampered(plan: SavedPlan) -> bool:
    """Whether the document no longer matches the digest it was written with."""
    return plan.body.get("digest") != _digest(plan.body)


def stale(saved: SavedPlan, now: Basis) -> list[str]:
    """Every reason ``saved`` no longer describes what an apply would do (empty: still valid)."""
    was = saved.basis
    reasons: list[str] = []
    if tampered(saved):
        reasons.append("the plan file was changed after it was written (its digest does not match)")
    for field, label in (
        ("environment", "environment"),
        ("context", "kube context"),
        ("namespace", "namespace"),
    ):
        if getattr(was, field) != getattr(now, field):
            reasons.append(
                f"{label} is {getattr(now, field)!r}, the plan was for {getattr(was, field)!r}"
            )
    if was.stack != now.stack:
        reasons.append(
            "the rendered stack changed since the plan (templates, environment or commit)"
        )
    if dict(was.secrets).keys() == dict(now.secrets).keys():
        changed = [n for n, h in was.secrets if dict(now.secrets)[n] != h]
        reasons.extend(f"secret {n} changed since the plan" for n in changed)
    else:
        reasons.append("the set of secrets changed since the plan")
    live = dict(now.versions)
    for ref, version in was.versions:
        current = live.get(ref)
        if current != version:
            before = "absent" if version is None else f"resourceVersion {version}"
            after = "absent" if current is None else f"resourceVersion {current}"
            reasons.append(f"{ref} moved since the plan ({before} → {after})")
    if was.release_revision != now.release_revision:
        reasons.append(
            f"the Helm release moved since the plan (revision {was.release_revision} → "
            f"{now.release_revision})"
        )
    return reasons
