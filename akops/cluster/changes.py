"""The stack's changes on the cluster: planned, applied, rolled back, watched.

Rule: I/O. The building blocks the orchestration (``akops.ops``) runs as stages: render
an environment into a ``Target``, plan it (objects, the Helm release, the outpost
patches), apply a reviewed plan, find and apply the previous revision, and watch what
changed. Each prints what it does through ``out`` (masked) and raises ``AkopsError``
subclasses; none asks the operator or decides an exit code.

Whatever an apply or rollback changed is then watched until it converges (or a pod
fails for good): the Deployments applied or restarted, and, when the Helm release
changed, PgBouncer with the chart's ``<release>-server`` and ``<release>-worker``.
Helm itself neither waits nor rolls back on its own (see ``akops.cluster.helm``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from akops import names
from akops.cluster.apply import (
    Ledger,
    apply_objects,
    get,
    namespace_exists,
    plan_objects,
    restart_all,
    server_apply,
)
from akops.cluster.helm import Helm, helm_program, rendered_values
from akops.cluster.objects import Manifest, Ref, chart_manifests, manifests, to_apply
from akops.cluster.plan import (
    OutpostPlan,
    Plan,
    ReleasePlan,
    object_plan,
    release_plan,
    resource_version,
    restarts,
)
from akops.cluster.saved_plan import Basis, secret_hash, stack_digest
from akops.environment import Environment
from akops.errors import ConflictError, InputError, RolloutFailed, StepFailed
from akops.layout import Layout
from akops.secrets import (
    Secrets,
    placeholders_in,
    resolve,
    resolve_available,
    resolve_needed_or_why,
    resolve_one,
)
from akops.stack import RenderedStack

if TYPE_CHECKING:
    from kubernetes.client import ApiClient
    from rich.console import Console

    from akops.authentik_api import PatchOutcome

VALUES_FILE = "authentik-values.yaml"
OUTPOST_FILE = "outpost-patches.yaml"
PGBOUNCER = names.PGBOUNCER
HELM_MANAGER = "helm"  # the field manager Helm 4 applies the release's objects as
Out = Callable[[str], None]


@dataclass(frozen=True)
class Target:
    """One environment, rendered, with the secrets its manifests need resolved."""

    env: Environment
    files: dict[str, str]
    objects: list[Manifest]
    secrets: Secrets = field(repr=False)
    context: str
    #: the render itself (its files, with secret placeholders): what lint judges
    stack: RenderedStack
    #: secrets the manifests use that a dry run could not read here, each with the reason
    unresolved: dict[str, str] = field(default_factory=dict)

    @property
    def chart_deployments(self) -> list[str]:
        chart = self.env.authentik.chart
        return [chart.server, chart.worker]


def prepare(
    layout: Layout,
    env_name: str,
    context: str | None = None,
    *,
    with_secrets: bool = True,
    mask_only: bool = False,
    dry_run: bool = False,
) -> Target:
    """Render ``env_name`` in memory and resolve the secrets its files reference.

    ``mask_only``: a read-only operation resolves what it can, for masking, and needs none.
    ``dry_run``: what resolves is used; the objects needing the rest are planned without
    them (``Target.unresolved`` says which and why), for a dry run changes nothing.
    """
    from akops.render import render_env

    env, stack = render_env(layout, env_name)
    files = stack.by_name()
    needed: set[str] = set()
    for text in files.values():
        needed |= placeholders_in(text)
    unresolved: dict[str, str] = {}
    if mask_only:
        secrets = resolve_available(env.secrets)
    elif dry_run and with_secrets:
        secrets, unresolved = resolve_needed_or_why(env.secrets, needed)
    else:
        secrets = resolve(env.secrets, needed) if with_secrets else Secrets()
    return Target(
        env,
        files,
        manifests(stack, env.kube.namespace, env.other_namespaces),
        secrets,
        context or env.kube.context,
        stack,
        unresolved,
    )


def _helm(target: Target) -> Helm:
    return Helm(target.env, target.context, target.secrets)


def plan_release(target: Target) -> ReleasePlan:
    chart = target.env.authentik.chart
    values = rendered_values(target.files.get(VALUES_FILE, ""), VALUES_FILE)
    helm = _helm(target)
    live_values, live_version = helm.live()
    planned = release_plan(
        chart.release,
        target.env.kube.namespace,
        chart.name,
        chart.version,
        values,
        live_values,
        live_version,
    )
    return replace(planned, revision=helm.revision() if live_values is not None else None)


def _basis(
    target: Target,
    versions: list[tuple[str, str | None]],
    revision: int | None,
    *,
    commit: str,
    dirty: bool,
    salt: str,
) -> Basis:
    env = target.env
    return Basis(
        environment=env.name,
        context=target.context,
        namespace=env.kube.namespace,
        commit=commit,
        dirty=dirty,
        stack=stack_digest(target.files),
        versions=tuple(versions),
        release_revision=revision,
        secrets=tuple(
            (name, secret_hash(value, salt))
            for name, value in sorted(target.secrets.values.items())
        ),
    )


def plan_basis(target: Target, plan: Plan, *, commit: str, dirty: bool, salt: str) -> Basis:
    """What ``plan`` was computed against: the resourceVersions and revision it saw."""
    objects = [*plan.objects, *(plan.release.objects if plan.release else ())]
    # A Namespace the plan adds is created bare by the deploy lock before the apply (the
    # Lease lives in it): its appearance is the plan being carried out, not a change under it.
    versions = [
        (str(o.ref), o.version)
        for o in objects
        if not (o.ref.kind == "Namespace" and o.action == "add")
    ]
    revision = plan.release.revision if plan.release else None
    return _basis(target, versions, revision, commit=commit, dirty=dirty, salt=salt)


def live_basis(
    api: ApiClient,
    target: Target,
    saved: Basis,
    *,
    skip_helm: bool,
    commit: str,
    dirty: bool,
    salt: str,
) -> Basis:
    """The same facts as ``saved`` has, read from the cluster as it is now."""
    ns = target.env.kube.namespace
    versions: list[tuple[str, str | None]] = []
    for text, _ in saved.versions:
        kind, _, name = text.partition("/")
        live = get(api, Ref(kind, ns, name))
        versions.append((text, None if live is None else resource_version(live)))
    revision = None if skip_helm else _helm(target).revision()
    return _basis(target, versions, revision, commit=commit, dirty=dirty, salt=salt)


def plan_release_objects(
    api: ApiClient, target: Target, release: ReleasePlan, absent: bool | None = None
) -> ReleasePlan:
    """The release's objects as the pinned chart renders them, diffed like the stack's own.

    ``helm template`` of the pulled chart (``invoke chart.pull``) with the rendered values
    gives the objects an upgrade would send; each goes through the same server-side dry
    run and diff as PgBouncer's, as field manager ``helm`` (what Helm 4 applies as), so
    the plan shows what the upgrade would change on the cluster. Without the pulled chart
    the release is planned by its values alone, and the plan says so.
    """
    from akops import chart as charts

    env = target.env
    pulled = charts.cached(env.authentik.chart)
    if pulled is None:
        return release.with_objects(
            (),
            f"objects not planned: chart {env.authentik.chart.name} {env.authentik.chart.version} "
            f"is not pulled; `invoke chart.pull --env {env.name}`",
        )
    text = charts.template(
        helm_program(),
        pulled.archive,
        release=env.authentik.chart.release,
        namespace=env.kube.namespace,
        values_text=target.secrets.inject(target.files.get(VALUES_FILE, "")),
        kube_version=env.kube.version,
    )
    found, skipped = chart_manifests(
        text, env.kube.namespace, f"chart {pulled.label}", release=env.authentik.chart.release
    )
    plans = []
    if absent is None:
        absent = not namespace_exists(api, env.kube.namespace)
    for m in found:
        body = to_apply(m, target.secrets)
        if absent:  # a first deploy: the API refuses a dry run in a missing namespace
            plans.append(object_plan(m.ref, None, body))
            continue
        live = get(api, m.ref)
        planned = server_apply(
            api, body, dry_run=True, force=True, secrets=target.secrets, manager=HELM_MANAGER
        )
        plans.append(object_plan(m.ref, live, body if live is None else planned))
    note = f"not compared: {', '.join(skipped)}" if skipped else ""
    return release.with_objects(plans, note)


def make_plan(
    api: ApiClient,
    target: Target,
    *,
    skip_helm: bool = False,
    force: bool = False,
    absent: bool | None = None,
) -> Plan:
    """The plan for objects, the Authentik release (unless ``skip_helm``) and outpost patches.

    ``absent``: plan as for a namespace that does not exist yet (``plan_objects``)."""
    if not skip_helm:
        helm_program()  # before any API call: a missing tool is known at once
    usable = [m for m in target.objects if not _unresolved_in(m, target)]
    not_compared = tuple(
        f"{m.ref}: {target.unresolved[name]} (a dry run plans without it; a real run needs it)"
        for m in target.objects
        for name in _unresolved_in(m, target)
    )
    objects = plan_objects(
        api, usable, target.env.kube.namespace, target.secrets, force=force, absent=absent
    )
    release = None if skip_helm else plan_release_objects(api, target, plan_release(target), absent)
    outpost = None
    if target.env.authentik.outpost.api.enabled:
        pending = outpost_patches(target, dry_run=True)
        outpost = OutpostPlan(pending.outpost, "change" if pending.changed else "none")
    return Plan(
        tuple(objects),
        release,
        target.secrets,
        outpost,
        restarts(usable, objects),
        not_compared=not_compared,
    )


def _unresolved_in(manifest: Manifest, target: Target) -> list[str]:
    """The secrets ``manifest`` carries that this (dry) run could not read."""
    if not target.unresolved:
        return []
    used = placeholders_in(json.dumps(manifest.body))
    return sorted(name for name in used if name in target.unresolved)


@dataclass
class Applied:
    """What an apply changed: objects, the release, the outpost patches."""

    objects: list[Ref] = field(default_factory=list)
    deleted: list[Ref] = field(default_factory=list)
    release: bool | None = False  # None: left alone (--skip-helm)
    outpost: str | None = None
    restarted: list[Ref] = field(default_factory=list)

    @property
    def deployments(self) -> list[str]:
        """Our Deployments whose pods this apply replaces (applied or restarted)."""
        names = [r.name for r in [*self.objects, *self.restarted] if r.kind == "Deployment"]
        return list(dict.fromkeys(names))

    def describe(self) -> str:
        parts = [f"{len(self.objects)} object(s)"]
        if self.deleted:
            parts.append(f"{len(self.deleted)} deleted")
        if self.restarted:
            parts.append(f"{', '.join(map(str, self.restarted))} restarted")
        if self.release is not None:
            parts.append("release upgraded" if self.release else "release unchanged")
        if self.outpost:
            parts.append(self.outpost)
        return ", ".join(parts)


def outpost_patches(target: Target, *, dry_run: bool = False) -> PatchOutcome:
    """Send (or with ``dry_run`` only compare) the rendered outpost patches."""
    from akops.authentik_api import parse_patches, send_patches

    patches = parse_patches(target.files.get(OUTPOST_FILE, ""), OUTPOST_FILE)
    return send_patches(target.env, patches, outpost_token(target), dry_run=dry_run)


def outpost_token(target: Target) -> str:
    """The Authentik API token the environment names (InputError when the API is off)."""
    api_cfg = target.env.authentik.outpost.api
    if api_cfg.token is None or not api_cfg.enabled:
        raise InputError(f"environment {target.env.name!r}: authentik.outpost.api is not enabled")
    return resolve_one("authentik_token", api_cfg.token)


def apply_plan(
    api: ApiClient,
    target: Target,
    plan: Plan,
    *,
    force: bool = False,
    prune: bool = False,
    skip_helm: bool = False,
    out: Out = print,
) -> Applied:
    """Apply a reviewed plan: objects in order, prune, the Helm release, the outpost patches."""
    ledger = Ledger()
    release_due = not skip_helm and plan.release is not None and plan.release.action != "none"
    outpost_due = plan.outpost is not None and plan.outpost.action != "none"
    ledger.pending.extend(f"restart {r.ref}" for r in plan.restarts)
    if release_due:
        ledger.pending.append("helm release")
    if outpost_due:
        ledger.pending.append("outpost patches")
    applied = Applied(release=None if skip_helm else False)
    applied.objects, applied.deleted = apply_objects(
        api, target.objects, plan.objects, target.secrets, ledger, force=force, prune=prune, log=out
    )
    # After the Secret is applied: the restarted pods read its new data.
    applied.restarted = restart_all(api, plan.restarts, ledger, log=out)
    if release_due:
        ledger.step(
            "helm release", lambda: _helm(target).upgrade(target.files.get(VALUES_FILE, ""))
        )
        chart = target.env.authentik.chart
        out(f"upgraded helm release {chart.release} to chart {chart.name} {chart.version}")
        applied.release = True
    if outpost_due:
        applied.outpost = ledger.step("outpost patches", lambda: outpost_patches(target).describe())
        out(str(applied.outpost))
    return applied


def changed_deployments(target: Target, applied: Applied | None) -> list[str]:
    """The Deployments to watch after ``applied``: ours it replaced, and with a release
    change PgBouncer (Authentik's path to its database) and the chart's server and worker."""
    if applied is None:
        return []
    names = applied.deployments
    if applied.release:
        names += [PGBOUNCER, *target.chart_deployments]
    return list(dict.fromkeys(names))


def wait_rollout(
    api: ApiClient,
    target: Target,
    names: list[str],
    console: Console | None = None,
    *,
    release: str | None = None,
) -> str:
    """Watch ``names`` until they converge; ``release`` names a release just changed."""
    from akops.cluster.rollout import wait_for

    try:
        done = wait_for(
            api,
            target.env.kube.namespace,
            names,
            timeout=target.env.kube.rollout_timeout,
            console=console,
            secrets=target.secrets,
        )
    except RolloutFailed as e:
        if release:
            # Nothing rolls it back on its own: the new chart's migration may already have run.
            e.args = (
                f"{e}; helm release {release} stays at its new revision (no automatic "
                "rollback: its database migration may have run); see "
                "`invoke runbook.show db-boot-storm`",
            )
        raise
    return ", ".join(f"{p.name} {p.ready}/{p.desired}" for p in done)


def stack_deployments(target: Target) -> list[str]:
    """Every Deployment of the stack: ours, the chart's, the embedded outpost's."""
    ours = [m.ref.name for m in target.objects if m.ref.kind == "Deployment"]
    return [*ours, *target.chart_deployments, target.env.authentik.outpost.deployment]


def previous_template(
    api: ApiClient, namespace: str, deployment: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    """(revision, pod template) of the revision before the Deployment's current one."""
    from akops.cluster.call import call
    from akops.cluster.convergence import selector_string

    name = deployment["metadata"]["name"]
    current = int(
        ((deployment["metadata"].get("annotations") or {}).get("deployment.kubernetes.io/revision"))
        or 0
    )
    found = call(
        api,
        "GET",
        f"/apis/apps/v1/namespaces/{namespace}/replicasets",
        what=f"ReplicaSets of Deployment/{name}",
        query=[("labelSelector", selector_string(deployment))],
    )
    revisions: list[tuple[int, dict[str, Any]]] = []
    for rs in found.get("items") or []:
        meta = rs.get("metadata") or {}
        owners = [
            o.get("name")
            for o in meta.get("ownerReferences") or []
            if o.get("kind") == "Deployment"
        ]
        if name not in owners:
            continue
        revision = int(
            (meta.get("annotations") or {}).get("deployment.kubernetes.io/revision") or 0
        )
        if revision and revision < current:
            revisions.append((revision, rs["spec"]["template"]))
    if not revisions:
        raise StepFailed(f"Deployment/{name} has no revision before {current} to roll back to")
    revision, template = max(revisions, key=lambda r: r[0])
    template = dict(template)
    labels = dict((template.get("metadata") or {}).get("labels") or {})
    labels.pop("pod-template-hash", None)
    template["metadata"] = {**(template.get("metadata") or {}), "labels": labels}
    return revision, template


@dataclass(frozen=True)
class RollbackPlan:
    """What a rollback would do: PgBouncer's pod template back one revision, and the release."""

    manifest: Manifest
    revision: int
    template: dict[str, Any] = field(repr=False)
    lines: tuple[str, ...]

    def describe(self) -> str:
        return "; ".join(line[2:] for line in self.lines)


def rollback_plan(
    api: ApiClient, target: Target, *, skip_helm: bool = False, force_config: bool = False
) -> RollbackPlan:
    """Find PgBouncer's previous revision (and the release's); refuse when the restored pods
    would run a pgbouncer.ini that changed since that revision, unless ``force_config``."""
    from akops.cluster.apply import get
    from akops.cluster.revisions import config_drift, config_maps

    manifest = next(
        (m for m in target.objects if m.ref.kind == "Deployment" and m.ref.name == PGBOUNCER),
        None,
    )
    if manifest is None:
        raise InputError(f"environment {target.env.name!r} renders no Deployment/{PGBOUNCER}")
    live = get(api, manifest.ref)
    if live is None:
        raise StepFailed(f"Deployment/{PGBOUNCER} does not exist; nothing to roll back")
    revision, template = previous_template(api, target.env.kube.namespace, live)
    lines = [f"~ Deployment/{PGBOUNCER}: pod template back to revision {revision}"]
    name = next(iter(config_maps(template)), names.PGBOUNCER_CONFIG)
    config = get(api, Ref("ConfigMap", target.env.kube.namespace, name))
    drift = config_drift(revision, template, config, name=name)
    if drift and not force_config:
        raise StepFailed(
            f"refusing to roll back Deployment/{PGBOUNCER}: {drift}, and the restored pods "
            "would run the current config; revert the config change in git and run "
            "`invoke deploy`, or pass --force-config to roll back anyway"
        )
    if drift:
        lines.append(f"! {drift}: rolling back anyway (--force-config)")
    if not skip_helm:
        release = target.env.authentik.chart.release
        history = _helm(target).history()
        if len(history) < 2:
            raise StepFailed(f"helm release {release} has no previous revision")
        prev, cur = history[-2], history[-1]
        lines.append(
            f"~ helm release {release}: revision {cur.get('revision')} "
            f"({cur.get('chart')}) → {prev.get('revision')} ({prev.get('chart')})"
        )
    return RollbackPlan(manifest, revision, template, tuple(lines))


def roll_back(
    api: ApiClient, target: Target, plan: RollbackPlan, *, skip_helm: bool = False, out: Out = print
) -> list[str]:
    """Apply PgBouncer's previous pod template and roll the release back; the Deployments to
    watch."""
    from akops.cluster.apply import server_apply
    from akops.cluster.objects import to_apply

    body = to_apply(plan.manifest, target.secrets)
    body["spec"]["template"] = plan.template
    try:
        server_apply(api, body, dry_run=False, force=False, secrets=target.secrets)
    except ConflictError as e:  # rollback has no --force-conflicts: say what does
        raise ConflictError(
            e.what,
            f"`invoke apply --env {target.env.name} --force-conflicts` takes them over; "
            "then roll back again",
        ) from e
    out(f"rolled back Deployment/{PGBOUNCER}")
    if skip_helm:
        return [PGBOUNCER]
    _helm(target).rollback()
    out(f"rolled back helm release {target.env.authentik.chart.release}")
    return [PGBOUNCER, *target.chart_deployments]
