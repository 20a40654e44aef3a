"""Workloads as the policy sees them, whether they come from a manifest or chart values.

Rule: pure. A ``Workload`` is what will run: replicas, pod labels, containers with
their resources, probes and env, volumes, spread, rollout strategy and (for chart
values) the PDB the chart renders. The Authentik server and worker are derived from
the chart values the way the chart 2026.2.2 renders them (its defaults coalesced the
way Helm does, its helpers for names, labels, strategy, affinity and PDBs), so the same
rules apply to Helm-managed and to our own objects, and every finding points at the
line of the file the operator edits. tests/integration/chart/ holds this model against
``helm template`` of the real chart, field by field.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from akops import names
from akops.environment import chart_fullname
from akops.lint.documents import ChartValues, KubeObject, Located, OutpostPatches
from akops.lint.values import PINNED_CHART
from akops.yamldoc import PathKey

SERVER = "authentik-server"
WORKER = "authentik-worker"
PGBOUNCER = names.PGBOUNCER
OUTPOST = "outpost"
CRITICAL = frozenset({SERVER, WORKER, PGBOUNCER, OUTPOST})

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
    startup: dict[str, Any] | None = None
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
class ContainerSecurity:
    """A container as the Pod Security Standards see it; ``path`` is its securityContext."""

    name: str
    context: dict[str, Any]
    path: PathKey
    ports: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class PodSecurity:
    """A pod as the Pod Security Standards see it, and where each part is written.

    ``spec`` holds the pod-level fields they judge (hostNetwork, hostPID, hostIPC,
    automountServiceAccountToken, serviceAccountName); ``spec_path`` is where they go.
    """

    context: dict[str, Any]
    context_path: PathKey
    spec: dict[str, Any]
    spec_path: PathKey
    containers: tuple[ContainerSecurity, ...]
    volumes: tuple[dict[str, Any], ...] = ()
    volumes_path: PathKey = ()


_POD_FIELDS = (
    "hostNetwork",
    "hostPID",
    "hostIPC",
    "automountServiceAccountToken",
    "serviceAccountName",
)


def pod_security_of(spec: dict[str, Any], spec_path: PathKey) -> PodSecurity:
    """The PSS view of a pod spec (containers and initContainers alike)."""
    containers = []
    for key in ("initContainers", "containers"):
        for i, c in enumerate(_list(spec.get(key))):
            if isinstance(c, dict):
                containers.append(
                    ContainerSecurity(
                        str(c.get("name", i)),
                        _dict(c.get("securityContext")),
                        (*spec_path, key, i, "securityContext"),
                        tuple(p for p in _list(c.get("ports")) if isinstance(p, dict)),
                    )
                )
    return PodSecurity(
        context=_dict(spec.get("securityContext")),
        context_path=(*spec_path, "securityContext"),
        spec={k: spec[k] for k in _POD_FIELDS if k in spec},
        spec_path=spec_path,
        containers=tuple(containers),
        volumes=tuple(v for v in _list(spec.get("volumes")) if isinstance(v, dict)),
        volumes_path=(*spec_path, "volumes"),
    )


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
    security: PodSecurity | None = None

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
    if labels.get(names.NAME_LABEL) == names.AUTHENTIK:
        component = labels.get(names.COMPONENT_LABEL)
        if component == names.SERVER:
            return SERVER
        if component == names.WORKER:
            return WORKER
    if names.OUTPOST_LABEL in labels or name.startswith("ak-outpost-"):
        return OUTPOST
    if (
        labels.get(names.APP_LABEL) == names.PGBOUNCER
        or labels.get(names.NAME_LABEL) == names.PGBOUNCER
        or name == names.PGBOUNCER
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
                startup=c.get("startupProbe"),
                env=_env(c.get("env"), (*path, "env")),
                mounts=tuple(m for m in _list(c.get("volumeMounts")) if isinstance(m, dict)),
                image_path=(*path, "image"),
                probe_paths={short: (*path, key) for short, key in _PROBES},
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
        security=pod_security_of(spec, spec_path),
    )


def _probe(action: dict[str, Any], failures: int, delay: int) -> dict[str, Any]:
    return {
        "failureThreshold": failures,
        "initialDelaySeconds": delay,
        "periodSeconds": 10,
        "successThreshold": 1,
        "timeoutSeconds": 3,
        **action,
    }


def _http_probe(path: str, failures: int, delay: int) -> dict[str, Any]:
    get = {"path": "{{ .Values.authentik.web.path }}" + path, "port": "http"}
    return _probe({"httpGet": get}, failures, delay)


def _exec_probe(failures: int, delay: int) -> dict[str, Any]:
    return _probe({"exec": {"command": ["ak", "healthcheck"]}}, failures, delay)


# What the chart 2026.2.2's values.yaml sets for each component, as far as this model
# reads it; user values are coalesced over these the way Helm does (maps merge key by
# key, ``null`` deletes). Held against the real chart by tests/integration/chart/.
_CHART_DEFAULTS: dict[str, dict[str, Any]] = {
    "server": {
        "enabled": True,
        "name": "server",
        "replicas": 1,
        "containerPorts": {"http": 9000, "https": 9443, "metrics": 9300},
        "livenessProbe": _http_probe("-/health/live/", 3, 5),
        "readinessProbe": _http_probe("-/health/ready/", 3, 5),
        "startupProbe": _http_probe("-/health/live/", 60, 5),
    },
    "worker": {
        "enabled": True,
        "name": "worker",
        "replicas": 1,
        "containerPorts": {"http": 9000, "metrics": 9300},
        "livenessProbe": _exec_probe(3, 5),
        "readinessProbe": _exec_probe(3, 5),
        "startupProbe": _exec_probe(60, 30),
    },
}
_PROBES = (
    ("readiness", "readinessProbe"),
    ("liveness", "livenessProbe"),
    ("startup", "startupProbe"),
)
# The container ports the chart announces to Authentik, per component.
_LISTEN = {
    "server": (("HTTP", "http"), ("HTTPS", "https"), ("METRICS", "metrics")),
    "worker": (("HTTP", "http"), ("METRICS", "metrics")),
}


def coalesce(default: Any, given: Any) -> Any:
    """Helm's merge of user values over a chart's defaults: maps merge, ``null`` deletes."""
    if isinstance(default, dict) and isinstance(given, dict):
        out = dict(default)
        for k, v in given.items():
            if v is None:
                out.pop(k, None)
            else:
                out[k] = coalesce(default.get(k), v)
        return out
    return given


def _merge_overwrite(base: Any, over: Any) -> dict[str, Any]:
    """Sprig's ``mergeOverwrite`` as the chart uses it (global first, component over it)."""
    out = dict(_dict(base))
    for k, v in _dict(over).items():
        out[k] = (
            _merge_overwrite(out[k], v)
            if isinstance(v, dict) and isinstance(out.get(k), dict)
            else v
        )
    return out


def _chart_strategy(merged: dict[str, Any]) -> dict[str, Any] | None:
    """The chart's ``authentik.strategy``: only a known type renders (else Kubernetes' default)."""
    kind = str(merged.get("type", ""))
    if kind == "Recreate":
        return {"type": "Recreate"}
    if kind == "RollingUpdate":
        rolling = merged.get("rollingUpdate")
        return {"type": "RollingUpdate", **({"rollingUpdate": rolling} if rolling else {})}
    return None


def _annotation(value: Any) -> str:
    # The chart writes every pod annotation through `quote`: Go's formatting of the value.
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _truthy(value: Any) -> bool:
    """Go template truth (``with``/``if``): empty, zero and null are false."""
    return value not in (None, "", 0, False, {}, []) or value is True


def from_values(
    values: ChartValues, release: str = names.DEFAULT_RELEASE, chart_version: str = PINNED_CHART
) -> list[Workload]:
    """The server and worker Deployments the chart renders from ``values``.

    ``chart_version`` is the pinned chart's version, which the Authentik chart also uses
    as its appVersion (the default image tag and the version label).
    """
    data = _dict(values.data)
    glob = _dict(data.get("global"))
    gimage = _dict(glob.get("image"))
    web_path = str(_dict(_dict(data.get("authentik")).get("web")).get("path", "/"))
    fullname = chart_fullname(
        release,
        name_override=str(glob.get("nameOverride") or data.get("nameOverride") or ""),
        fullname_override=str(data.get("fullnameOverride") or glob.get("fullnameOverride") or ""),
    )
    app_name = str(glob.get("nameOverride") or data.get("nameOverride") or "authentik")
    tag_default = str(gimage.get("tag") or chart_version)
    blueprints = _dict(data.get("blueprints"))
    geoip = _truthy(_dict(data.get("geoip")).get("enabled"))
    out = []
    for component, role in (("server", SERVER), ("worker", WORKER)):
        given = _dict(data.get(component))
        comp = coalesce(_CHART_DEFAULTS[component], given)
        if not _truthy(comp.get("enabled")):
            continue
        base: PathKey = (component,)
        cname = str(comp.get("name") or component)
        replicas = comp.get("replicas", 1)
        replicas_path: PathKey = (*base, "replicas")
        autoscaling = _dict(comp.get("autoscaling"))
        if autoscaling.get("enabled"):
            replicas = autoscaling.get("minReplicas", 1)
            replicas_path = (*base, "autoscaling", "minReplicas")
        selector = {
            names.NAME_LABEL: app_name,
            names.INSTANCE_LABEL: release,
            names.COMPONENT_LABEL: cname,
        }
        labels = {
            "helm.sh/chart": f"authentik-{chart_version}",
            **selector,
            "app.kubernetes.io/managed-by": "Helm",
            "app.kubernetes.io/part-of": "authentik",
            "app.kubernetes.io/version": tag_default,
            **{str(k): str(v) for k, v in _dict(glob.get("additionalLabels")).items()},
            **{
                str(k): str(v)
                for k, v in _merge_overwrite(glob.get("podLabels"), comp.get("podLabels")).items()
            },
        }
        image = _dict(comp.get("image"))
        repo = image.get("repository") or gimage.get("repository") or "ghcr.io/goauthentik/server"
        tag = image.get("tag") or tag_default
        digest = image.get("digest") or gimage.get("digest")
        image_path: PathKey = (
            (*base, "image", "tag") if image.get("tag") else ("global", "image", "tag")
        )
        ref = f"{repo}:{tag}" + (f"@{digest}" if digest else "")
        probes = {short: _render_probe(comp.get(key), web_path) for short, key in _PROBES}
        ports = _dict(comp.get("containerPorts"))
        listen = tuple(
            EnvVar(f"AUTHENTIK_LISTEN__{var}", f"0.0.0.0:{ports.get(port)}", False, base)
            for var, port in _LISTEN[component]
        )
        env = (
            _env(glob.get("env"), ("global", "env"))
            + _env(comp.get("env"), (*base, "env"))
            + listen
        )
        extra_mounts: list[dict[str, Any]] = []
        extra_volumes: list[dict[str, Any]] = []
        if geoip:
            extra_mounts.append({"name": "geoip-db", "mountPath": "/geoip"})
            extra_volumes.append({"name": "geoip-db", "emptyDir": {}})
        if component == "worker":
            for cm in _list(blueprints.get("configMaps")):
                extra_mounts.append(
                    {"name": f"blueprints-cm-{cm}", "mountPath": f"/blueprints/mounted/cm-{cm}"}
                )
                extra_volumes.append({"name": f"blueprints-cm-{cm}", "configMap": {"name": cm}})
            for sec in _list(blueprints.get("secrets")):
                extra_mounts.append(
                    {
                        "name": f"blueprints-secret-{sec}",
                        "mountPath": f"/blueprints/mounted/secret-{sec}",
                    }
                )
                extra_volumes.append(
                    {"name": f"blueprints-secret-{sec}", "secret": {"secretName": sec}}
                )
        container = Container(
            name=cname,
            path=base,
            image=ref,
            resources=_dict(comp.get("resources")),
            readiness=probes["readiness"],
            liveness=probes["liveness"],
            startup=probes["startup"],
            env=env,
            mounts=tuple(
                m
                for m in _list(glob.get("volumeMounts"))
                + _list(comp.get("volumeMounts"))
                + extra_mounts
                if isinstance(m, dict)
            ),
            image_path=image_path,
            probe_paths={short: (*base, key) for short, key in _PROBES},
        )
        spread = _list(comp.get("topologySpreadConstraints")) or _list(
            glob.get("topologySpreadConstraints")
        )
        spread_self = tuple(
            {**t, "labelSelector": t.get("labelSelector") or {"matchLabels": selector}}
            for t in spread
            if isinstance(t, dict)
        )
        affinity = _dict(comp.get("affinity"))
        affinity_path: PathKey = (*base, "affinity")
        if not affinity:
            affinity = _preset_affinity(glob, selector)
            affinity_path = ("global", "affinity")
        strategy = _chart_strategy(
            _merge_overwrite(glob.get("deploymentStrategy"), comp.get("deploymentStrategy"))
        )
        strategy_path: PathKey = (
            (*base, "deploymentStrategy") if comp.get("deploymentStrategy") else base
        )
        security = _values_security(data, glob, given, comp, component, cname)
        pdb = _dict(comp.get("pdb"))
        budget = None
        if _truthy(pdb.get("enabled")):
            max_u = pdb.get("maxUnavailable")
            min_a = pdb.get("minAvailable")
            # `with maxUnavailable`: zero, "" and null count as unset; minAvailable defaults to 0.
            budget = Budget(
                min_available=None if _truthy(max_u) else (min_a if _truthy(min_a) else 0),
                max_unavailable=max_u if _truthy(max_u) else None,
                source=values,
                path=(*base, "pdb"),
                ref=f"PodDisruptionBudget/{fullname}-{cname}",
            )
        out.append(
            Workload(
                kind="Deployment",
                name=f"{fullname}-{cname}"[:63].rstrip("-"),
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
                    for v in _list(glob.get("volumes")) + _list(comp.get("volumes")) + extra_volumes
                    if isinstance(v, dict)
                ),
                volumes_path=(*base, "volumes"),
                affinity=affinity,
                affinity_path=affinity_path,
                spread=spread_self,
                strategy=strategy or DEFAULT_STRATEGY,
                strategy_path=strategy_path,
                annotations={
                    str(k): _annotation(v)
                    for k, v in _merge_overwrite(
                        glob.get("podAnnotations"), comp.get("podAnnotations")
                    ).items()
                },
                annotations_path=(*base, "podAnnotations"),
                long_running=True,
                budget=budget,
                from_values=True,
                security=security,
            )
        )
    return out


def _values_security(
    data: dict[str, Any],
    glob: dict[str, Any],
    given: dict[str, Any],
    comp: dict[str, Any],
    component: str,
    cname: str,
) -> PodSecurity:
    """The pod security the chart renders: ``mergeOverwrite`` of the global and component
    pod contexts, the component's container context, and its ServiceAccount (the worker
    gets the chart's own unless ``worker.serviceAccountName`` names another)."""
    base: PathKey = (component,)
    context = _merge_overwrite(glob.get("securityContext"), comp.get("securityContext"))
    context_path: PathKey = (
        (*base, "securityContext")
        if _dict(given.get("securityContext")) or not _dict(glob.get("securityContext"))
        else ("global", "securityContext")
    )
    spec: dict[str, Any] = {}
    if _truthy(comp.get("hostNetwork")):
        spec["hostNetwork"] = comp["hostNetwork"]
    account = comp.get("serviceAccountName")
    if account:
        spec["serviceAccountName"] = str(account)
        # `with` in the chart's template: false renders nothing (the real chart proved it).
        if component == "worker" and _truthy(comp.get("automountServiceAccountToken")):
            spec["automountServiceAccountToken"] = comp["automountServiceAccountToken"]
    elif component == "worker":
        chart_sa = _dict(data.get("serviceAccount"))
        if chart_sa.get("create", True) is not False:
            spec["serviceAccountName"] = str(chart_sa.get("fullnameOverride") or "authentik")
    container = ContainerSecurity(
        cname, _dict(comp.get("containerSecurityContext")), (*base, "containerSecurityContext")
    )
    return PodSecurity(context, context_path, spec, base, (container,))


def on_real_objects(
    model: Sequence[Workload], objects: Sequence[KubeObject]
) -> tuple[Workload, ...]:
    """The model's workloads with every fact taken from the chart's real objects.

    ``objects`` is what ``helm template`` rendered from the same values. What the rules
    judge (replicas, labels, containers, probes, env, volumes, affinity, spread, strategy,
    annotations, the PDB) comes from the real Deployments and PDBs; where a finding
    points (the values file and its keys) stays the model's, so the operator is still
    sent to the line to edit. A model workload the chart did not render is dropped.
    """
    real = {o.name: (o, w) for o in objects if (w := from_object(o)) is not None}
    pdbs = [o for o in objects if o.kind == "PodDisruptionBudget"]
    out = []
    for m in model:
        found = real.get(m.name)
        if found is None:
            continue
        _, r = found
        out.append(
            replace(
                m,
                replicas=r.replicas,
                labels=r.labels,
                containers=tuple(_real_container(m, c) for c in r.containers),
                volumes=r.volumes,
                affinity=r.affinity,
                spread=r.spread,
                strategy=r.strategy,
                annotations=r.annotations,
                budget=_real_budget(m, r, pdbs),
                security=_real_security(m.security, r.security),
            )
        )
    return tuple(out)


def _real_security(model: PodSecurity | None, real: PodSecurity | None) -> PodSecurity | None:
    """The real pod's security facts, pointing where the model says the values are."""
    if model is None or real is None:
        return real or model
    mine = {c.name: c for c in model.containers}
    first = model.containers[0] if model.containers else None
    containers = tuple(
        replace(c, path=(mine.get(c.name) or first or c).path) for c in real.containers
    )
    return replace(
        real,
        context_path=model.context_path,
        spec_path=model.spec_path,
        containers=containers,
        volumes_path=model.volumes_path,
    )


def _real_container(model: Workload, real: Container) -> Container:
    base = model.containers[0]
    mine = next((c for c in model.containers if c.name == real.name), None)
    at = mine or base
    paths = {v.name: v.path for v in at.env}
    env_base: PathKey = (*at.path, "env")
    return replace(
        at,
        name=real.name,
        image=real.image,
        resources=real.resources,
        readiness=real.readiness,
        liveness=real.liveness,
        startup=real.startup,
        env=tuple(replace(v, path=paths.get(v.name, env_base)) for v in real.env),
        mounts=real.mounts,
    )


def _real_budget(model: Workload, real: Workload, pdbs: Sequence[KubeObject]) -> Budget | None:
    for pdb in pdbs:
        spec = _dict(pdb.data.get("spec"))
        if selector_matches(spec.get("selector"), real.labels):
            path = model.budget.path if model.budget else (*model.replicas_path[:1], "pdb")
            return Budget(
                spec.get("minAvailable"), spec.get("maxUnavailable"), model.source, path, pdb.ref
            )
    return None


def _render_probe(probe: Any, web_path: str) -> dict[str, Any] | None:
    """A probe as the chart writes it (``with``: an empty or deleted probe renders none)."""
    if not isinstance(probe, dict) or not probe:
        return None
    rendered: dict[str, Any] = _substitute(probe, web_path)
    return rendered


def _substitute(node: Any, web_path: str) -> Any:
    # The chart runs probes through `tpl`; the only template its defaults use is the web path.
    if isinstance(node, dict):
        return {k: _substitute(v, web_path) for k, v in node.items()}
    if isinstance(node, list):
        return [_substitute(v, web_path) for v in node]
    if isinstance(node, str):
        return node.replace("{{ .Values.authentik.web.path }}", web_path)
    return node


def _preset_affinity(glob: dict[str, Any], selector: dict[str, str]) -> dict[str, Any]:
    """The chart's affinity presets (global.affinity: pod anti-affinity soft by default)."""
    preset = _dict(glob.get("affinity"))
    anti = preset.get("podAntiAffinity", "soft")
    host = {"labelSelector": {"matchLabels": selector}, "topologyKey": "kubernetes.io/hostname"}
    zone = {
        "labelSelector": {"matchLabels": selector},
        "topologyKey": "topology.kubernetes.io/zone",
    }
    out: dict[str, Any] = {}
    if anti == "soft":
        out["podAntiAffinity"] = {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 100, "podAffinityTerm": host}
            ]
        }
    elif anti == "hard":
        # Hard: never two on one node, and preferably spread over zones.
        out["podAntiAffinity"] = {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 100, "podAffinityTerm": zone}
            ],
            "requiredDuringSchedulingIgnoredDuringExecution": [host],
        }
    node = _dict(preset.get("nodeAffinity", {"type": "hard"}))
    exprs = _list(node.get("matchExpressions"))
    if exprs and node.get("type") == "soft":
        out["nodeAffinity"] = {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 1, "preference": {"matchExpressions": exprs}}
            ]
        }
    elif exprs and node.get("type", "hard") == "hard":
        out["nodeAffinity"] = {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": exprs}]
            }
        }
    return out


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
    security: PodSecurity
    #: Whole containers the patches add beside Authentik's (the /dev/shm exporter).
    sidecars: tuple[Container, ...] = ()


#: A whole container added after the first: ``.../containers/-`` or ``.../containers/N`` (N > 0).
_ADDED_CONTAINER = re.compile(r"/spec/template/spec/containers/(-|[1-9][0-9]*)")


def _sidecar(value: dict[str, Any], here: PathKey) -> Container:
    return Container(
        name=str(value.get("name", "(unnamed)")),
        path=here,
        image=value.get("image"),
        resources=_dict(value.get("resources")),
        readiness=value.get("readinessProbe"),
        liveness=value.get("livenessProbe"),
        startup=value.get("startupProbe"),
        env=_env(value.get("env"), (*here, "env")),
        mounts=tuple(m for m in _list(value.get("volumeMounts")) if isinstance(m, dict)),
        image_path=(*here, "image"),
        probe_paths={short: (*here, key) for short, key in _PROBES},
    )


def from_patches(p: OutpostPatches) -> OutpostPod:
    """Volumes, mounts and resources the patches add to the outpost's first container, and the
    containers they add beside it."""
    ops = p.data.get("kubernetes_json_patches")
    ops = ops.get("deployment") if isinstance(ops, dict) else None
    volumes: list[tuple[dict[str, Any], PathKey]] = []
    mounts: list[dict[str, Any]] = []
    res: dict[str, Any] = {}
    res_path: PathKey = ("kubernetes_json_patches", "deployment")
    # Authentik builds the Deployment with none of these; only the patches can set them.
    pod_ctx: dict[str, Any] = {}
    ctx: dict[str, Any] = {}
    spec: dict[str, Any] = {}
    pod_ctx_path = ctx_path = spec_path = res_path
    sidecars: list[Container] = []
    sidecar_security: list[ContainerSecurity] = []
    for i, op in enumerate(ops if isinstance(ops, list) else []):
        if not isinstance(op, dict) or op.get("op") not in ("add", "replace"):
            continue
        target, value = str(op.get("path", "")), op.get("value")
        here: PathKey = ("kubernetes_json_patches", "deployment", i, "value")
        items = value if isinstance(value, list) else [value]
        if _ADDED_CONTAINER.fullmatch(target) and isinstance(value, dict):
            sidecars.append(_sidecar(value, here))
            sidecar_security.append(_sidecar_security(value, here))
        elif re.fullmatch(r"/spec/template/spec/volumes(/.*)?", target):
            volumes.extend((v, here) for v in items if isinstance(v, dict))
        elif re.fullmatch(r"/spec/template/spec/containers/0/volumeMounts(/.*)?", target):
            mounts.extend(m for m in items if isinstance(m, dict))
        elif target == "/spec/template/spec/containers/0/resources" and isinstance(value, dict):
            res, res_path = value, here
        elif target == "/spec/template/spec/securityContext" and isinstance(value, dict):
            pod_ctx, pod_ctx_path = value, here
        elif target == "/spec/template/spec/containers/0/securityContext" and isinstance(
            value, dict
        ):
            ctx, ctx_path = value, here
        elif target.startswith("/spec/template/spec/") and target.count("/") == 4:
            key = target.rsplit("/", 1)[1]
            if key in _POD_FIELDS:
                spec[key], spec_path = value, here
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
    security = PodSecurity(
        context=pod_ctx,
        context_path=pod_ctx_path,
        spec=spec,
        spec_path=spec_path,
        containers=(
            ContainerSecurity(container.name, ctx, ctx_path),
            *sidecar_security,
        ),
        volumes=tuple(v for v, _ in volumes),
        volumes_path=res_path,
    )
    return OutpostPod(tuple(volumes), container, security, tuple(sidecars))


def _sidecar_security(value: dict[str, Any], here: PathKey) -> ContainerSecurity:
    ports = tuple(p for p in _list(value.get("ports")) if isinstance(p, dict))
    name = str(value.get("name", "(unnamed)"))
    return ContainerSecurity(
        name, _dict(value.get("securityContext")), (*here, "securityContext"), ports
    )
