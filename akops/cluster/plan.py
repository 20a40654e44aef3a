"""Plans: what apply would change, as per-field diffs with ``+ ~ -`` markers and a summary.

Rule: pure. Objects are plain dicts (as the API returns them). ``normalize`` drops what
the server owns (status, managedFields, resourceVersion, uid, generation,
creationTimestamp, the revision annotation, the ``ndots`` option Kyverno injects into
``dnsConfig``) so only real drift shows. Sensitive values (Secret ``data`` /
``stringData``, the last-applied-configuration annotation) are compared but never
rendered: the text shows ``(sensitive value)``. Exit codes follow Terraform's
detailed exit code: 0 no changes, 2 changes (1, an error, is the caller's).

Running pods never see a changed Secret they mount with ``subPath`` (or read into env
vars), and a checksum of a Secret in the pod template would put a value derived from
the password into the object. So ``restarts`` plans a rolling restart of each
Deployment whose Secret's data changes while its pod template does not (a template
change replaces the pods anyway).
"""

from __future__ import annotations

import copy
import difflib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from akops.cluster.objects import Manifest, Ref
from akops.secrets import Secrets

FieldPath = tuple[str | int, ...]
Action = Literal["add", "change", "destroy", "none"]
Op = Literal["+", "~", "-"]

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
SERVER_METADATA = (
    "managedFields",
    "resourceVersion",
    "uid",
    "generation",
    "creationTimestamp",
    "selfLink",
    "deletionGracePeriodSeconds",
)
SERVER_ANNOTATIONS = ("deployment.kubernetes.io/revision",)
#: Options a mutating admission policy adds to every pod (Kyverno: ``ndots``).
INJECTED_DNS_OPTIONS = frozenset({"ndots"})
SENSITIVE = "(sensitive value)"
#: Shown in an object's header line already.
IDENTITY = frozenset({("apiVersion",), ("kind",), ("metadata", "name"), ("metadata", "namespace")})
MAX_VALUE = 100


def _pod_spec(obj: Mapping[str, Any]) -> dict[str, Any] | None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return None
    template = spec.get("template")
    pod = template.get("spec") if isinstance(template, dict) else None
    return pod if isinstance(pod, dict) else None


def normalize(obj: Mapping[str, Any]) -> dict[str, Any]:
    """``obj`` without server-owned noise; the input is not modified."""
    out = copy.deepcopy(dict(obj))
    out.pop("status", None)
    meta = out.get("metadata")
    if isinstance(meta, dict):
        for key in SERVER_METADATA:
            meta.pop(key, None)
        annotations = meta.get("annotations")
        if isinstance(annotations, dict):
            for key in SERVER_ANNOTATIONS:
                annotations.pop(key, None)
            if not annotations:
                meta.pop("annotations")
    pod = _pod_spec(out)
    if pod is not None and isinstance(pod.get("dnsConfig"), dict):
        dns = pod["dnsConfig"]
        options = [
            o
            for o in dns.get("options") or []
            if not (isinstance(o, dict) and o.get("name") in INJECTED_DNS_OPTIONS)
        ]
        if options:
            dns["options"] = options
        else:
            dns.pop("options", None)
        if not dns:
            pod.pop("dnsConfig")
    return out


@dataclass(frozen=True)
class FieldChange:
    path: FieldPath
    op: Op
    old: Any = None
    new: Any = None


class Named(str):
    """A path part naming a list item by its ``name`` (rendered ``containers[pgbouncer]``)."""

    __slots__ = ()


def _named(items: Sequence[Any]) -> bool:
    names = [i.get("name") for i in items if isinstance(i, dict)]
    return (
        len(names) == len(items)
        and all(isinstance(n, str) for n in names)
        and len(set(names)) == len(names)
    )


def changes(old: Any, new: Any, path: FieldPath = ()) -> list[FieldChange]:
    """Leaf-level differences from ``old`` to ``new``.

    Lists whose items all carry a unique ``name`` (containers, env, volumes, ports) are
    matched by name, so inserting an env var does not show every later one as changed.
    """
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[FieldChange] = []
        for key in sorted(set(old) | set(new), key=str):
            if key not in new:
                out.append(FieldChange((*path, key), "-", old[key], None))
            elif key not in old:
                out.append(FieldChange((*path, key), "+", None, new[key]))
            else:
                out.extend(changes(old[key], new[key], (*path, key)))
        return out
    if isinstance(old, list) and isinstance(new, list) and old != new:
        if _named(old) and _named(new):
            return changes(
                {Named(i["name"]): i for i in old}, {Named(i["name"]): i for i in new}, path
            )
        out = []
        for i in range(max(len(old), len(new))):
            if i >= len(new):
                out.append(FieldChange((*path, i), "-", old[i], None))
            elif i >= len(old):
                out.append(FieldChange((*path, i), "+", None, new[i]))
            else:
                out.extend(changes(old[i], new[i], (*path, i)))
        return out
    if old != new:
        return [FieldChange(path, "~", old, new)]
    return []


def field_path(path: FieldPath) -> str:
    out = ""
    for part in path:
        if isinstance(part, int | Named) or (out and ("." in part or "/" in part)):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def sensitive(kind: str, path: FieldPath) -> bool:
    """Whether the value at ``path`` of an object of ``kind`` must never be shown."""
    if kind == "Secret" and path and path[0] in ("data", "stringData"):
        return True
    return len(path) >= 3 and path[:2] == ("metadata", "annotations") and path[2] == LAST_APPLIED


def _covers_sensitive(kind: str, path: FieldPath, value: Any) -> bool:
    if sensitive(kind, path):
        return True
    if isinstance(value, dict):
        return any(_covers_sensitive(kind, (*path, k), v) for k, v in value.items())
    return False


def shown(value: Any) -> str:
    """A short one-line rendering of a value."""
    if isinstance(value, str):
        if "\n" in value.rstrip("\n"):
            lines = value.rstrip("\n").split("\n")
            return f"{json.dumps(lines[0])[: MAX_VALUE - 12]}… ({len(lines)} lines)"
        text = json.dumps(value)
    else:
        text = json.dumps(value, sort_keys=True, separators=(", ", ": "))
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"


def expand(change: FieldChange) -> list[FieldChange]:
    """An added or removed subtree as one change per leaf (how a reviewer reads it)."""
    value = change.new if change.op == "+" else change.old
    if change.op == "~" or not isinstance(value, dict | list) or not value:
        return [change]
    empty: dict[str, Any] | list[Any] = {} if isinstance(value, dict) else []
    parts = (
        changes(empty, value, change.path)
        if change.op == "+"
        else changes(value, empty, change.path)
    )
    return [leaf for part in parts for leaf in expand(part)]


def change_lines(kind: str, change: FieldChange, indent: str = "    ") -> list[str]:
    """Lines for one field change; sensitive values are replaced, long texts line-diffed."""
    return [line for leaf in expand(change) for line in _leaf_lines(kind, leaf, indent)]


def _leaf_lines(kind: str, change: FieldChange, indent: str) -> list[str]:
    where = field_path(change.path)
    if _covers_sensitive(kind, change.path, change.old) or _covers_sensitive(
        kind, change.path, change.new
    ):
        verb = {"+": "added", "~": "changed", "-": "removed"}[change.op]
        return [f"{indent}{change.op} {where}: {SENSITIVE} {verb}"]
    if change.op == "+":
        if isinstance(change.new, str) and "\n" in change.new.rstrip("\n"):
            body = [
                f"{indent}      {line}".rstrip() for line in change.new.rstrip("\n").split("\n")
            ]
            return [f"{indent}+ {where}: |", *body]
        return [f"{indent}+ {where}: {shown(change.new)}"]
    if change.op == "-":
        return [f"{indent}- {where}: {shown(change.old)}"]
    if (
        isinstance(change.old, str)
        and isinstance(change.new, str)
        and ("\n" in change.old or "\n" in change.new)
    ):
        diff = list(
            difflib.unified_diff(change.old.splitlines(), change.new.splitlines(), lineterm="", n=1)
        )
        lines = [f"{indent}~ {where}:"]
        lines += [f"{indent}    {line}" for line in diff[2:]]
        return lines
    return [f"{indent}~ {where}: {shown(change.old)} → {shown(change.new)}"]


@dataclass(frozen=True)
class ObjectPlan:
    ref: Ref
    action: Action
    changes: tuple[FieldChange, ...] = ()
    #: the live object's resourceVersion the plan was computed against (None: absent);
    #: not part of what the plan says, so not compared
    version: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class ReleasePlan:
    """The Authentik Helm release: rendered values against ``helm get values``."""

    release: str
    namespace: str
    chart: str
    live_version: str | None
    version: str
    action: Action
    changes: tuple[FieldChange, ...] = ()
    #: The release's objects (``helm template`` of the pinned chart, server-side dry run)
    objects: tuple[ObjectPlan, ...] = ()
    #: Why the objects were not planned, or which rendered kinds were not compared
    note: str = ""
    #: the live release's revision the plan was computed against (None: no release)
    revision: int | None = None

    @property
    def title(self) -> str:
        return f"helm release {self.namespace}/{self.release}"

    def with_objects(self, objects: Sequence[ObjectPlan], note: str = "") -> ReleasePlan:
        """This plan with its objects: a release whose values match still changes if they do."""
        changed = any(o.action != "none" for o in objects)
        action: Action = "change" if self.action == "none" and changed else self.action
        return ReleasePlan(
            self.release,
            self.namespace,
            self.chart,
            self.live_version,
            self.version,
            action,
            self.changes,
            tuple(objects),
            note,
            self.revision,
        )


@dataclass(frozen=True)
class OutpostPlan:
    """The embedded outpost's ``kubernetes_json_patches`` in Authentik (sent through its API)."""

    outpost: str
    action: Action

    @property
    def title(self) -> str:
        return f"outpost {self.outpost} kubernetes_json_patches"


MARKERS: dict[Action, str] = {"add": "+", "change": "~", "destroy": "-", "none": " "}
WORDS: dict[Action, str] = {
    "add": "will be created",
    "change": "will be updated in place",
    "destroy": "will be destroyed",
    "none": "unchanged",
}


def object_plan(ref: Ref, live: Mapping[str, Any] | None, planned: Mapping[str, Any]) -> ObjectPlan:
    """Compare a live object (``None``: absent) with its dry-run apply result."""
    if live is None:
        added = changes({}, normalize(planned))
        leaves = [leaf for c in added for leaf in expand(c) if leaf.path not in IDENTITY]
        return ObjectPlan(ref, "add", tuple(leaves))
    found = tuple(changes(normalize(live), normalize(planned)))
    return ObjectPlan(ref, "change" if found else "none", found, resource_version(live))


def resource_version(obj: Mapping[str, Any]) -> str | None:
    meta = obj.get("metadata")
    version = meta.get("resourceVersion") if isinstance(meta, dict) else None
    return str(version) if version else None


def release_plan(
    release: str,
    namespace: str,
    chart: str,
    version: str,
    values: Mapping[str, Any],
    live_values: Mapping[str, Any] | None,
    live_version: str | None,
) -> ReleasePlan:
    """Compare rendered Helm values and chart version with the live release (``None``: absent)."""
    if live_values is None:
        return ReleasePlan(
            release, namespace, chart, None, version, "add", tuple(changes({}, dict(values)))
        )
    found = changes(dict(live_values), dict(values))
    if live_version != version:
        found.insert(0, FieldChange(("chart", "version"), "~", live_version, version))
    return ReleasePlan(
        release,
        namespace,
        chart,
        live_version,
        version,
        "change" if found else "none",
        tuple(found),
    )


@dataclass(frozen=True)
class Restart:
    """A rolling restart of a Deployment whose pods would keep a Secret's old data."""

    ref: Ref
    causes: tuple[Ref, ...]

    def describe(self) -> str:
        return f"{self.ref} will be restarted: {', '.join(map(str, self.causes))} changed"


def secrets_used(deployment: Mapping[str, Any]) -> set[str]:
    """Names of the Secrets a Deployment's pods read: volumes, env, envFrom."""
    pod = _pod_spec(deployment) or {}
    found: set[str] = set()
    for volume in pod.get("volumes") or []:
        name = (volume.get("secret") or {}).get("secretName")
        if name:
            found.add(str(name))
        for source in (volume.get("projected") or {}).get("sources") or []:
            if (source.get("secret") or {}).get("name"):
                found.add(str(source["secret"]["name"]))
    for container in [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]:
        for var in container.get("env") or []:
            ref = (var.get("valueFrom") or {}).get("secretKeyRef") or {}
            if ref.get("name"):
                found.add(str(ref["name"]))
        for source in container.get("envFrom") or []:
            if (source.get("secretRef") or {}).get("name"):
                found.add(str(source["secretRef"]["name"]))
    return found


def restarts(manifests: Sequence[Manifest], plans: Sequence[ObjectPlan]) -> tuple[Restart, ...]:
    """Deployments to restart because a Secret they read changes and their pods would not."""
    changed = {
        p.ref.name: p.ref
        for p in plans
        if p.ref.kind == "Secret"
        and p.action == "change"
        and any(c.path[:1] in (("data",), ("stringData",)) for c in p.changes)
    }
    if not changed:
        return ()
    by_ref = {p.ref: p for p in plans}
    out: list[Restart] = []
    for m in manifests:
        if m.ref.kind != "Deployment":
            continue
        plan = by_ref.get(m.ref)
        if plan is None or plan.action not in ("none", "change"):
            continue  # created or destroyed: no running pods of it to refresh
        if any(c.path[:2] == ("spec", "template") for c in plan.changes):
            continue  # the pod template changes: new pods read the new data anyway
        causes = tuple(changed[n] for n in sorted(secrets_used(m.body)) if n in changed)
        if causes:
            out.append(Restart(m.ref, causes))
    return tuple(out)


@dataclass(frozen=True)
class Plan:
    objects: tuple[ObjectPlan, ...]
    release: ReleasePlan | None = None
    secrets: Secrets = field(default_factory=Secrets, repr=False, compare=False)
    outpost: OutpostPlan | None = None
    restarts: tuple[Restart, ...] = ()
    #: containers that run another image than the environment pins (akops.images.running),
    #: shown as drift: outside this plan's changes, and no part of its exit code
    image_drift: tuple[str, ...] = ()
    #: objects a dry run could not plan (a secret they carry is not readable here), and why
    not_compared: tuple[str, ...] = ()

    def count(self, action: Action) -> int:
        n = sum(1 for o in self.objects if o.action == action)
        n += 1 if self.release is not None and self.release.action == action else 0
        return n + (1 if self.outpost is not None and self.outpost.action == action else 0)

    @property
    def has_changes(self) -> bool:
        return any(self.count(a) for a in ("add", "change", "destroy"))

    def summary(self) -> str:
        return (
            f"Plan: {self.count('add')} to add, {self.count('change')} to change, "
            f"{self.count('destroy')} to destroy."
        )

    def refs(self, *actions: Action) -> list[Ref]:
        return [o.ref for o in self.objects if o.action in actions]

    def to_text(self, verbose: bool = False) -> str:
        """The plan as operators read it; unchanged objects only with ``verbose``."""
        lines: list[str] = []
        for o in self.objects:
            if o.action == "none" and not verbose:
                continue
            lines.append(f"{MARKERS[o.action]} {o.ref} {WORDS[o.action]}")
            if o.action != "destroy":
                for c in o.changes:
                    lines.extend(change_lines(o.ref.kind, c))
        lines.extend(f"{MARKERS['change']} {r.describe()}" for r in self.restarts)
        r = self.release
        if r is not None and (r.action != "none" or verbose):
            version = (
                r.version
                if r.live_version in (None, r.version)
                else f"{r.live_version} → {r.version}"
            )
            lines.append(
                f"{MARKERS[r.action]} {r.title} (chart {r.chart} {version}) {WORDS[r.action]}"
            )
            for c in r.changes:
                lines.extend(change_lines("HelmRelease", c))
            for o in r.objects:
                if o.action == "none" and not verbose:
                    continue
                lines.append(f"  {MARKERS[o.action]} {o.ref} {WORDS[o.action]}")
                for c in o.changes if o.action != "destroy" else ():
                    lines.extend(change_lines(o.ref.kind, c, indent="      "))
            if r.note:
                lines.append(f"  ({r.note})")
        op = self.outpost
        if op is not None and (op.action != "none" or verbose):
            lines.append(f"{MARKERS[op.action]} {op.title} {WORDS[op.action]}")
        lines.extend(f"? {line}" for line in self.not_compared)
        if not self.has_changes:
            lines.append(
                "No changes in what was compared."
                if self.not_compared
                else "No changes. The cluster matches the rendered stack."
            )
        if self.image_drift:
            lines.append("")
            lines.append(
                f"Image drift: {len(self.image_drift)} container(s) run another image than "
                "the environment pins (applying the same spec does not replace them):"
            )
            lines.extend(f"  ! {d}" for d in self.image_drift)
        lines.append("")
        lines.append(self.summary())
        # Belt and braces: whatever slipped through, a resolved secret never leaves as text.
        return self.secrets.mask("\n".join(lines)) + "\n"
