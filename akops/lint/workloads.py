"""Workloads as the policy sees them, whether they come from a manifest or chart values.

Rule: pure. A ``Workload`` is what will run: replicas, pod labels, containers with
their resources, probes and env, volumes, spread, rollout strategy and (for chart
values) the PDB the chart renders. The Authentik server and worker are derived from
the chart values the way the chart 2026.2.2 renders them (its defaults included), so
the same rules apply to Helm-managed and to our own objects, and every finding points
at the line of the file the operator edits.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from akops.lint.documents import ChartValues, KubeObject, Located, OutpostPatches
from akops.yamldoc import PathKey

SERVER = "authentik-server"
WORKER = "authentik-worker"
PGBOUNCER = "pgbouncer"
OUTPOST = "outpost"
CRITICAL = frozenset({SERVER, WORKER, PGBOUNCER, OUTPOST})

DEFAULT_RELEASE = "goauthentik"
OUTPOST_LABEL = "goauthentik.io/outpost-name"

# Probes the chart 2026.2.2 renders unless values override them (merged key by key).
_CHART_PROBES = {
    "livenessProbe": {
        "failureThreshold": 3,
        "initialDelaySeconds": 5,
        "periodSeconds": 10,
        "timeoutSeconds": 3,
    },
    "readinessProbe": {
        "failureThreshold": 3,
        "initialDelaySeconds": 5,
        "periodSeconds": 10,
        "timeoutSeconds": 3,
    },
}
# Kubernetes' own default rolling update.
DEFAULT_STRATEGY = {
    "type": "RollingUpdate",
    "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
}

_TEMPLATE_PATHS: dict[str, PathKey] = {
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}
_LONG_RUNNING = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Pod"}
_REPLICATED = {"Deployment", "StatefulSet", "ReplicaSet"}


@dataclass(frozen=True)
class EnvVar:
    name: str
    value: Any
    from_ref: bool
    path: PathKey


@dataclass(frozen=True)
class Container:
    name: str
    path: PathKey
    image: str | None
    resources: dict[str, Any]
    readiness: dict[str, Any] | None
    liveness: dict[str, Any] | None
    env: tuple[EnvVar, ...]
    mounts: tuple[dict[str, Any], ...]
    image_path: PathKey = ()
    probe_paths: dict[str, PathKey] = field(default_factory=dict)
    resources_at: PathKey = ()  # where resources are written, when not at path.resources

    def request(self, name: str) -> Any:
        req = self.resources.get("requests")
        return req.get(name) if isinstance(req, dict) else None

    def limit(self, name: str) -> Any:
        lim = self.resources.get("limits")
        return lim.get(name) if isinstance(lim, dict) else None

    @property
    def resources_path(self) -> PathKey:
        return self.resources_at or (*self.path, "resources")


@dataclass(frozen=True)
class Budget:
    """A PodDisruptionBudget's budget and where it is written."""

    min_available: Any
    max_unavailable: Any
    source: Located
    path: PathKey
    ref: str


@dataclass(frozen=True)
class Workload:
    kind: str
    name: str
    role: str | None
    source: Located
    replicas: int | None
    replicas_path: PathKey
    labels: dict[str, str]
    containers: tuple[Container, ...]
    volumes: tuple[dict[str, Any], ...]
    volumes_path: PathKey
    affinity: dict[str, Any]
    affinity_path: PathKey
    spread: tuple[dict[str, Any], ...]
    strategy: dict[str, Any] | None
    strategy_path: PathKey
    annotations: dict[str, Any]
    annotations_path: PathKey
    long_running: bool
    budget: Budget | None = None
    from_values: bool = False

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.name}"

    @property
    def file(self) -> str:
        return self.source.file

    def line(self, path: PathKey) -> int:
        return self.source.line(path)

    @property
    def critical(self) -> bool:
        return self.role in CRITICAL


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _get(data: Any, path: PathKey) -> Any:
    for part in path:
        if isinstance(part, int):
            if not isinstance(data, list) or part >= len(data):
                return None
        elif not isinstance(data, dict):
            return None
        data = data[part] if isinstance(part, int) else data.get(part)
    return data


def _env(items: Any, base: PathKey) -> tuple[EnvVar, ...]:
    out = []
    for i, item in enumerate(_list(items)):
        if isinstance(item, dict) and "name" in item:
            out.append(
                EnvVar(str(item["name"]), item.get("value"), "valueFrom" in item, (*base, i))
            )
    return tuple(out)


def _role(name: str, labels: dict[str, str]) -> str | None:
    if labels.get("app.kubernetes.io/name") == "authentik":
        component = labels.get("app.kubernetes.io/component")
        if component == "server":
            return SERVER
        if component == "worker":
            return WORKER
    if OUTPOST_LABEL in labels or name.startswith("ak-outpost-"):
        return OUTPOST
    if (
        labels.get("app") == "pgbouncer"
        or labels.get("app.kubernetes.io/name") == "pgbouncer"
        or name == "pgbouncer"
    ):
        return PGBOUNCER
    return None


def _containers(spec: dict[str, Any], base: PathKey) -> tuple[Container, ...]:
    out = []
    for i, c in enumerate(_list(spec.get("containers"))):
        if not isinstance(c, dict):
            continue
        path = (*base, "containers", i)
        out.append(
            Container(
                name=str(c.get("name", i)),
                path=path,
                image=c.get("image"),
                resources=_dict(c.get("resources")),
                readiness=c.get("readinessProbe"),
                liveness=c.get("livenessProbe"),
                env=_env(c.get("env"), (*path, "env")),
                mounts=tuple(m for m in _list(c.get("volumeMounts")) if isinstance(m, dict)),
                image_path=(*path, "image"),
                probe_paths={
                    "readiness": (*path, "readinessProbe"),
                    "liveness": (*path, "livenessProbe"),
                },
            )
        )
    return tuple(out)


def from_object(obj: KubeObject) -> Workload | None:
    """The workload of a Deployment/StatefulSet/DaemonSet/ReplicaSet/Job/CronJob/Pod, else None."""
    kind = obj.kind
    if kind == "Pod":
        template: PathKey = ()
    elif kind in _TEMPLATE_PATHS:
        template = _TEMPLATE_PATHS[kind]
    else:
        return None
    data = obj.data
    pod_meta = _dict(_get(data, (*template, "metadata")))
    spec_path = (*template, "spec")
    spec = _dict(_get(data, spec_path))
    labels = {str(k): str(v) for k, v in _dict(pod_meta.get("labels")).items()}
    replicas = None
    if kind in _REPLICATED:
        raw = _get(data, ("spec", "replicas"))
        replicas = raw if isinstance(raw, int) and not isinstance(raw, bool) else 1
    strategy = None
    if kind == "Deployment":
        strategy = _dict(_get(data, ("spec", "strategy"))) or DEFAULT_STRATEGY
    meta_labels = {str(k): str(v) for k, v in _dict(_get(data, ("metadata", "labels"))).items()}
    return Workload(
        kind=kind,
        name=obj.name,
        role=_role(obj.name, {**meta_labels, **labels}),
        source=obj,
        replicas=replicas,
        replicas_path=("spec", "replicas"),
        labels=labels,
        containers=_containers(spec, spec_path),
        volumes=tuple(v for v in _list(spec.get("volumes")) if isinstance(v, dict)),
        volumes_path=(*spec_path, "volumes"),
        affinity=_dict(spec.get("affinity")),
        affinity_path=(*spec_path, "affinity"),
        spread=tuple(
            t for t in _list(spec.get("topologySpreadConstraints")) if isinstance(t, dict)
        ),
        strategy=strategy,
        strategy_path=("spec", "strategy"),
        annotations=_dict(pod_meta.get("annotations")),
        annotations_path=(*template, "metadata", "annotations"),
        long_running=kind in _LONG_RUNNING,
    )


def _merged_probe(default: dict[str, Any], given: Any, present: bool) -> dict[str, Any] | None:
    if present and not given:
        return None  # `livenessProbe: null` or `{}` removes the chart's probe
    return {**default, **_dict(given)}


def from_values(values: ChartValues, release: str = DEFAULT_RELEASE) -> list[Workload]:
    """The server and worker Deployments the chart renders from ``values``."""
    data = _dict(values.data)
    glob = _dict(data.get("global"))
    out = []
    for component, role in (("server", SERVER), ("worker", WORKER)):
        comp = _dict(data.get(component))
        if comp.get("enabled", True) is False:
            continue
        base: PathKey = (component,)
        replicas = comp.get("replicas", 1)
        replicas_path: PathKey = (*base, "replicas")
        autoscaling = _dict(comp.get("autoscaling"))
        if autoscaling.get("enabled"):
            replicas = autoscaling.get("minReplicas", 1)
            replicas_path = (*base, "autoscaling", "minReplicas")
        labels = {
            "app.kubernetes.io/name": "authentik",
            "app.kubernetes.io/instance": release,
            "app.kubernetes.io/component": component,
            **{str(k): str(v) for k, v in _dict(comp.get("podLabels")).items()},
        }
        image = _dict(comp.get("image"))
        gimage = _dict(glob.get("image"))
        repo = image.get("repository") or gimage.get("repository") or "ghcr.io/goauthentik/server"
        tag = image.get("tag") or gimage.get("tag")
        digest = image.get("digest") or gimage.get("digest")
        image_path: PathKey = (
            (*base, "image", "tag") if image.get("tag") else ("global", "image", "tag")
        )
        # No tag and no digest: the chart uses its appVersion, which the chart version pins.
        ref = f"{repo}@{digest}" if digest else f"{repo}:{tag}" if tag else None
        probes = {
            key: _merged_probe(default, comp.get(key), key in comp)
            for key, default in _CHART_PROBES.items()
        }
        env = _env(glob.get("env"), ("global", "env")) + _env(comp.get("env"), (*base, "env"))
        container = Container(
            name=component,
            path=base,
            image=ref,
            resources=_dict(comp.get("resources")),
            readiness=probes["readinessProbe"],
            liveness=probes["livenessProbe"],
            env=env,
            mounts=tuple(
                m
                for m in _list(glob.get("volumeMounts")) + _list(comp.get("volumeMounts"))
                if isinstance(m, dict)
            ),
            image_path=image_path,
            probe_paths={
                "readiness": (*base, "readinessProbe"),
                "liveness": (*base, "livenessProbe"),
            },
        )
        spread = _list(comp.get("topologySpreadConstraints")) or _list(
            glob.get("topologySpreadConstraints")
        )
        spread_self = tuple(
            {**t, "labelSelector": t.get("labelSelector") or {"matchLabels": labels}}
            for t in spread
            if isinstance(t, dict)
        )
        affinity = _dict(comp.get("affinity"))
        affinity_path: PathKey = (*base, "affinity")
        if not affinity:
            affinity = _preset_affinity(glob, labels)
            affinity_path = ("global", "affinity")
        strategy = _dict(comp.get("deploymentStrategy")) or _dict(glob.get("deploymentStrategy"))
        strategy_path: PathKey = (
            (*base, "deploymentStrategy") if comp.get("deploymentStrategy") else base
        )
        pdb = _dict(comp.get("pdb"))
        budget = None
        if pdb.get("enabled"):
            max_u = pdb.get("maxUnavailable")
            min_a = pdb.get("minAvailable")
            budget = Budget(
                # The chart gives maxUnavailable precedence; "" means unset.
                min_available=None
                if max_u not in (None, "")
                else (min_a if min_a not in (None, "") else 0),
                max_unavailable=max_u if max_u not in (None, "") else None,
                source=values,
                path=(*base, "pdb"),
                ref=f"PodDisruptionBudget/{release}-{comp.get('name', component)}",
            )
        out.append(
            Workload(
                kind="Deployment",
                name=f"{release}-{comp.get('name', component)}",
                role=role,
                source=values,
                replicas=replicas
                if isinstance(replicas, int) and not isinstance(replicas, bool)
                else 1,
                replicas_path=replicas_path,
                labels=labels,
                containers=(container,),
                volumes=tuple(
                    v
                    for v in _list(glob.get("volumes")) + _list(comp.get("volumes"))
                    if isinstance(v, dict)
                ),
                volumes_path=(*base, "volumes"),
                affinity=affinity,
                affinity_path=affinity_path,
                spread=spread_self,
                strategy=strategy or DEFAULT_STRATEGY,
                strategy_path=strategy_path,
                annotations={
                    **_dict(glob.get("podAnnotations")),
                    **_dict(comp.get("podAnnotations")),
                },
                annotations_path=(*base, "podAnnotations"),
                long_running=True,
                budget=budget,
                from_values=True,
            )
        )
    return out


def _preset_affinity(glob: dict[str, Any], labels: dict[str, str]) -> dict[str, Any]:
    """The chart's anti-affinity preset (global.affinity.podAntiAffinity: soft by default)."""
    preset = _dict(glob.get("affinity")).get("podAntiAffinity", "soft")
    term = {"labelSelector": {"matchLabels": labels}, "topologyKey": "kubernetes.io/hostname"}
    if preset == "hard":
        return {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}
    if preset == "soft":
        return {
            "podAntiAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 100, "podAffinityTerm": term}
                ]
            }
        }
    return {}


def selector_matches(selector: Any, labels: dict[str, str]) -> bool:
    """Whether a label selector (matchLabels + matchExpressions) selects ``labels``."""
    sel = _dict(selector)
    match = _dict(sel.get("matchLabels"))
    exprs = [e for e in _list(sel.get("matchExpressions")) if isinstance(e, dict)]
    if not match and not exprs:
        return False  # an empty selector in anti-affinity selects nothing useful here
    if any(labels.get(str(k)) != str(v) for k, v in match.items()):
        return False
    for e in exprs:
        key, op, vals = (
            str(e.get("key")),
            e.get("operator"),
            [str(v) for v in _list(e.get("values"))],
        )
        if op == "In" and labels.get(key) not in vals:
            return False
        if op == "NotIn" and labels.get(key) in vals:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def anti_affinity_terms(affinity: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every pod anti-affinity term (required and preferred)."""
    anti = _dict(affinity.get("podAntiAffinity"))
    for term in _list(anti.get("requiredDuringSchedulingIgnoredDuringExecution")):
        if isinstance(term, dict):
            yield term
    for weighted in _list(anti.get("preferredDuringSchedulingIgnoredDuringExecution")):
        if isinstance(weighted, dict) and isinstance(weighted.get("podAffinityTerm"), dict):
            yield weighted["podAffinityTerm"]


@dataclass(frozen=True)
class OutpostPod:
    """The outpost's pod as far as its JSON patches describe it."""

    volumes: tuple[tuple[dict[str, Any], PathKey], ...]
    container: Container


def from_patches(p: OutpostPatches) -> OutpostPod:
    """Volumes, mounts and resources the patches add to the outpost's first container."""
    ops = p.data.get("kubernetes_json_patches")
    ops = ops.get("deployment") if isinstance(ops, dict) else None
    volumes: list[tuple[dict[str, Any], PathKey]] = []
    mounts: list[dict[str, Any]] = []
    res: dict[str, Any] = {}
    res_path: PathKey = ("kubernetes_json_patches", "deployment")
    for i, op in enumerate(ops if isinstance(ops, list) else []):
        if not isinstance(op, dict) or op.get("op") not in ("add", "replace"):
            continue
        target, value = str(op.get("path", "")), op.get("value")
        here: PathKey = ("kubernetes_json_patches", "deployment", i, "value")
        items = value if isinstance(value, list) else [value]
        if re.fullmatch(r"/spec/template/spec/volumes(/.*)?", target):
            volumes.extend((v, here) for v in items if isinstance(v, dict))
        elif re.fullmatch(r"/spec/template/spec/containers/0/volumeMounts(/.*)?", target):
            mounts.extend(m for m in items if isinstance(m, dict))
        elif target == "/spec/template/spec/containers/0/resources" and isinstance(value, dict):
            res, res_path = value, here
    container = Container(
        name=str(p.data.get("container", "proxy")),
        path=res_path,
        image=None,
        resources=res,
        readiness=None,
        liveness=None,
        env=(),
        mounts=tuple(mounts),
        resources_at=res_path,
    )
    return OutpostPod(tuple(volumes), container)
