"""The stack's Kubernetes objects: parsing rendered files, identity, API paths, apply order.

Rule: pure. Rendered text in, plain dicts and small frozen values out. Knows the
handful of kinds this repository manages (and their REST paths, so no discovery call
is needed); an unknown kind in a rendered file is an input error, not a guess.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from akops import names
from akops.errors import InputError
from akops.secrets import Secrets
from akops.stack import RenderedStack
from akops.yamldoc import parse_all

Obj = dict[str, Any]


@dataclass(frozen=True)
class Kind:
    """A kind this repository manages: where its REST collection lives and when it applies."""

    kind: str
    api_version: str
    plural: str
    #: Apply order: configuration first, so pods never start against a missing ConfigMap/Secret.
    rank: int
    #: a custom resource (prometheus-operator's): its API is absent where the CRD is not installed
    custom: bool = False
    #: False for a cluster-scoped kind (the Namespace): no namespace in its path or identity
    namespaced: bool = True

    def collection(self, namespace: str) -> str:
        prefix = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        if not self.namespaced:
            return f"{prefix}/{self.plural}"
        return f"{prefix}/namespaces/{namespace}/{self.plural}"


KINDS: dict[str, Kind] = {
    k.kind: k
    for k in (
        # The stack's namespace and its Pod Security level: before anything that lives in it.
        # Never pruned (deleting it deletes everything in it, the chart's objects too).
        Kind("Namespace", "v1", "namespaces", -1, namespaced=False),
        Kind("ConfigMap", "v1", "configmaps", 0),
        Kind("Secret", "v1", "secrets", 0),
        Kind("ServiceAccount", "v1", "serviceaccounts", 0),
        Kind("Deployment", "apps/v1", "deployments", 1),
        Kind("PodDisruptionBudget", "policy/v1", "poddisruptionbudgets", 2),
        Kind("Service", "v1", "services", 2),
        Kind("NetworkPolicy", "networking.k8s.io/v1", "networkpolicies", 2),
        # Rendered only when monitoring says prometheus-operator (rules or scrape).
        Kind("PrometheusRule", "monitoring.coreos.com/v1", "prometheusrules", 2, custom=True),
        Kind("ServiceMonitor", "monitoring.coreos.com/v1", "servicemonitors", 2, custom=True),
    )
}


@dataclass(frozen=True, order=True)
class Ref:
    """An object's identity: kind, namespace, name. Prints as ``Kind/name``."""

    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}"

    @property
    def info(self) -> Kind:
        return KINDS[self.kind]

    @property
    def path(self) -> str:
        return f"{self.info.collection(self.namespace)}/{self.name}"

    @property
    def rank(self) -> int:
        return self.info.rank


def ref_of(obj: Mapping[str, Any], default_namespace: str | None = None) -> Ref:
    meta = obj.get("metadata") or {}
    kind = str(obj.get("kind"))
    if kind in KINDS and not KINDS[kind].namespaced:
        return Ref(kind, "", str(meta.get("name")))
    return Ref(kind, str(meta.get("namespace") or default_namespace), str(meta.get("name")))


@dataclass(frozen=True)
class Manifest:
    """One rendered Kubernetes object (placeholders still in place) and where it came from."""

    ref: Ref
    body: Obj
    source: str

    def __repr__(self) -> str:
        return f"Manifest({self.ref}, {self.source})"


def manifests(stack: RenderedStack, namespace: str, also: Collection[str] = ()) -> list[Manifest]:
    """The Kubernetes objects of a rendered stack, in apply order.

    Files whose documents are not Kubernetes objects (Helm values, outpost patches) are
    skipped; a document that looks like an object of an unmanaged kind is an error. An
    object names no namespace (it gets ``namespace``) or one of ``also`` (the alert rules'
    ConfigMap lives in Prometheus's namespace, where the Prometheus server can mount it).
    """
    out: list[Manifest] = []
    for file in stack.files:
        for doc in parse_all(file.text, file.name):
            data = doc.data
            if not isinstance(data, dict) or "apiVersion" not in data or "kind" not in data:
                continue
            kind = KINDS.get(str(data["kind"]))
            where = f"{file.name}:{doc.start_line}"
            if kind is None:
                known = ", ".join(sorted(KINDS))
                raise InputError(
                    f"{where}: kind {data['kind']!r} is not managed by akops ({known})"
                )
            if data["apiVersion"] != kind.api_version:
                raise InputError(
                    f"{where}: {data['kind']} must use apiVersion {kind.api_version}, "
                    f"not {data['apiVersion']}"
                )
            meta = data.get("metadata") or {}
            if not meta.get("name"):
                raise InputError(f"{where}: metadata.name is missing")
            if not kind.namespaced:
                if meta["name"] != namespace:
                    raise InputError(
                        f"{where}: Namespace {meta['name']!r} is not the environment's "
                        f"namespace {namespace!r}"
                    )
                out.append(Manifest(ref_of(data), copy.deepcopy(data), file.name))
                continue
            if meta.get("namespace", namespace) not in (namespace, *also):
                raise InputError(
                    f"{where}: metadata.namespace {meta['namespace']!r} is not the environment's "
                    f"namespace {namespace!r}"
                )
            body = copy.deepcopy(data)
            body.setdefault("metadata", {}).setdefault("namespace", namespace)
            out.append(Manifest(ref_of(body), body, file.name))
    seen: set[Ref] = set()
    for m in out:
        if m.ref in seen:
            raise InputError(f"{m.source}: {m.ref} is rendered twice")
        seen.add(m.ref)
    return ordered(out)


def ordered(items: Iterable[Manifest]) -> list[Manifest]:
    """Apply order: the Namespace, ConfigMap/Secret, then Deployment, then PDB/Service; by name
    within a rank."""
    return sorted(items, key=lambda m: (m.ref.rank, m.ref.kind, m.ref.name))


def destroy_order(refs: Iterable[Ref]) -> list[Ref]:
    """Delete order: the reverse of apply order (workloads before the config they mount)."""
    return sorted(refs, key=lambda r: (-KINDS[r.kind].rank, r.kind, r.name))


def _inject(value: Any, secrets: Secrets) -> Any:
    if isinstance(value, str):
        return secrets.inject(value)
    if isinstance(value, dict):
        return {k: _inject(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_inject(v, secrets) for v in value]
    return value


def to_apply(manifest: Manifest, secrets: Secrets) -> Obj:
    """The body sent with server-side apply: secrets injected, Secret ``stringData`` as ``data``.

    ``stringData`` is write-only on the server (it is folded into ``data``), so sending
    ``data`` keeps field ownership on ``data`` and lets a plan compare like with like.
    """
    body: Obj = _inject(copy.deepcopy(manifest.body), secrets)
    if body.get("kind") == "Secret" and "stringData" in body:
        data = dict(body.get("data") or {})
        for key, value in body.pop("stringData").items():
            data[key] = base64.b64encode(str(value).encode("utf-8")).decode("ascii")
        body["data"] = data
    return body


def labels_match(obj: Mapping[str, Any], selector: str = names.PRUNE_SELECTOR) -> bool:
    """Whether ``obj`` carries every ``key=value`` of an equality ``selector``."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    for term in selector.split(","):
        key, _, value = term.partition("=")
        if labels.get(key) != value:
            return False
    return True


def managers(obj: Mapping[str, Any]) -> set[str]:
    """Field managers recorded on a live object."""
    entries = (obj.get("metadata") or {}).get("managedFields") or []
    return {str(e.get("manager")) for e in entries if isinstance(e, dict) and e.get("manager")}


def ours(obj: Mapping[str, Any]) -> bool:
    """Applied by this repository earlier: our labels and our field manager."""
    return labels_match(obj) and names.FIELD_MANAGER in managers(obj)


#: What helm stamps on every object of a release when it installs or upgrades it (helm's
#: ``setMetadataVisitor``); ``helm template`` prints the objects without it.
HELM_OWNER_LABELS = {"app.kubernetes.io/managed-by": "Helm"}
HELM_RELEASE_NAME = "meta.helm.sh/release-name"
HELM_RELEASE_NAMESPACE = "meta.helm.sh/release-namespace"


def chart_manifests(
    text: str, namespace: str, source: str, release: str | None = None
) -> tuple[list[Manifest], list[str]]:
    """The objects of a ``helm template`` stream that akops can plan, and the refs it cannot.

    The chart also renders kinds akops does not manage (its ServiceAccount, RBAC): those
    are returned as ``Kind/name`` so the plan can say they were not compared. With
    ``release``, each object carries the ownership metadata helm adds when it sends it, so
    that a release helm installed is not planned as losing it.
    """
    out: list[Manifest] = []
    skipped: list[str] = []
    for doc in parse_all(text, source):
        data = doc.data
        if not isinstance(data, dict) or "kind" not in data:
            continue
        raw_meta = data.get("metadata")
        meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
        kind = KINDS.get(str(data["kind"]))
        if kind is None or data.get("apiVersion") != kind.api_version:
            skipped.append(f"{data['kind']}/{meta.get('name', '?')}")
            continue
        body = copy.deepcopy(data)
        body_meta = body.setdefault("metadata", {})
        body_meta["namespace"] = meta.get("namespace") or namespace
        if release is not None:
            body_meta["labels"] = {**(body_meta.get("labels") or {}), **HELM_OWNER_LABELS}
            body_meta["annotations"] = {
                **(body_meta.get("annotations") or {}),
                HELM_RELEASE_NAME: release,
                HELM_RELEASE_NAMESPACE: namespace,
            }
        out.append(Manifest(ref_of(body), body, source))
    return ordered(out), skipped
