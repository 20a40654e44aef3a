"""Plan, apply, deploy, roll back and wait: the operations behind the invoke tasks.

Rule: I/O orchestration. Each public function takes a layout, an environment name and
the operator's flags, does one operation end to end, prints what it does through
``out`` (masked), and raises ``AkopsError`` subclasses; it never exits. The stages
of ``deploy`` are plain functions run by ``akops.cluster.pipeline``.

Whatever an apply or rollback changed is then watched until it converges (or a pod
fails for good): the Deployments applied or restarted, and, when the Helm release
changed, PgBouncer with the chart's ``<release>-server`` and ``<release>-worker``.
Helm itself neither waits nor rolls back on its own (see ``akops.cluster.helm``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from akops.cluster.apply import Ledger, apply_objects, plan_objects, restart_all
from akops.cluster.connect import connect
from akops.cluster.helm import Helm, helm_program, rendered_values
from akops.cluster.objects import Manifest, Ref, manifests
from akops.cluster.pipeline import Skip, Stage, Summary, run_stages
from akops.cluster.plan import OutpostPlan, Plan, ReleasePlan, release_plan, restarts
from akops.environment import Environment
from akops.errors import InputError, RolloutFailed, StepFailed
from akops.layout import Layout
from akops.secrets import Secrets, placeholders_in, resolve, resolve_one

if TYPE_CHECKING:
    from kubernetes.client import ApiClient
    from rich.console import Console

    from akops.cluster.outpost import Result as OutpostResult

VALUES_FILE = "authentik-values.yaml"
OUTPOST_FILE = "outpost-patches.yaml"
PGBOUNCER = "pgbouncer"
Out = Callable[[str], None]


@dataclass(frozen=True)
class Target:
    """One environment, rendered, with the secrets its manifests need resolved."""

    env: Environment
    files: dict[str, str]
    objects: list[Manifest]
    secrets: Secrets = field(repr=False)
    context: str

    @property
    def chart_deployments(self) -> list[str]:
        chart = self.env.authentik.chart
        return [chart.server, chart.worker]


def prepare(
    layout: Layout, env_name: str, context: str | None = None, *, with_secrets: bool = True
) -> Target:
    """Render ``env_name`` in memory and resolve the secrets its files reference."""
    from akops.render import render_env

    env, stack = render_env(layout, env_name)
    files = stack.by_name()
    needed: set[str] = set()
    for text in files.values():
        needed |= placeholders_in(text)
    secrets = resolve(env.secrets, needed) if with_secrets else Secrets()
    return Target(
        env, files, manifests(stack, env.kube.namespace), secrets, context or env.kube.context
    )


def _helm(target: Target) -> Helm:
    return Helm(target.env, target.context, target.secrets)


def plan_release(target: Target) -> ReleasePlan:
    chart = target.env.authentik.chart
    values = rendered_values(target.files.get(VALUES_FILE, ""), VALUES_FILE)
    live_values, live_version = _helm(target).live()
    return release_plan(
        chart.release,
        target.env.kube.namespace,
        chart.name,
        chart.version,
        values,
        live_values,
        live_version,
    )


def make_plan(
    api: ApiClient, target: Target, *, skip_helm: bool = False, force: bool = False
) -> Plan:
    """The plan for objects, the Authentik release (unless ``skip_helm``) and outpost patches."""
    if not skip_helm:
        helm_program()  # before any API call: a missing tool is known at once
    objects = plan_objects(
        api, target.objects, target.env.kube.namespace, target.secrets, force=force
    )
    release = None if skip_helm else plan_release(target)
    outpost = None
    if target.env.authentik.outpost.api.enabled:
        pending = outpost_patches(target, dry_run=True)
        outpost = OutpostPlan(pending.outpost, "change" if pending.changed else "none")
    return Plan(tuple(objects), release, target.secrets, outpost, restarts(target.objects, objects))


def plan_env(
    layout: Layout,
    env_name: str,
    *,
    context: str | None = None,
    skip_helm: bool = False,
    force: bool = False,
) -> Plan:
    target = prepare(layout, env_name, context)
    api = connect(target.env, context)
    with api:
        return make_plan(api, target, skip_helm=skip_helm, force=force)


def confirm(
    question: str, *, yes: bool, interactive: bool | None = None, ask: Callable[[str], str] = input
) -> None:
    """Go on only with ``--yes`` or a typed ``yes``; a non-interactive run without --yes refuses."""
    if yes:
        return
    interactive = sys.stdin.isatty() if interactive is None else interactive
    if not interactive:
        raise InputError(
            "refusing to change the cluster without confirmation: stdin is not a terminal; pass --yes"
        )
    try:
        answer = ask(f"{question} Only 'yes' will be accepted: ")
    except EOFError:
        answer = ""
    if answer.strip() != "yes":
        raise StepFailed("cancelled: the answer was not 'yes'; nothing was changed")


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


def outpost_patches(target: Target, *, dry_run: bool = False) -> OutpostResult:
    """Send (or with ``dry_run`` only compare) the rendered outpost patches."""
    from akops.cluster.outpost import parse_patches, send_patches

    api_cfg = target.env.authentik.outpost.api
    if api_cfg.token is None or not api_cfg.enabled:
        raise InputError(f"environment {target.env.name!r}: authentik.outpost.api is not enabled")
    token = resolve_one("authentik_token", api_cfg.token)
    patches = parse_patches(target.files.get(OUTPOST_FILE, ""), OUTPOST_FILE)
    return send_patches(target.env, patches, token, dry_run=dry_run)


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

    if not names:
        raise Skip("no Deployment changed")
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


def rollout_env(
    layout: Layout,
    env_name: str,
    *,
    context: str | None = None,
    names: tuple[str, ...] = (),
    console: Console | None = None,
) -> str:
    target = prepare(layout, env_name, context)
    api = connect(target.env, context)
    with api:
        return wait_rollout(api, target, list(names) or stack_deployments(target), console)


def _lint(layout: Layout, env_name: str, out: Out) -> str:
    from akops.lint import lint_environment

    report = lint_environment(layout, env_name)
    out(report.to_text().rstrip("\n"))
    if not report.ok:
        raise StepFailed("lint found errors; fix them or waive them in the environment file")
    return "no errors"


def _verify(layout: Layout, env_name: str, context: str | None, out: Out) -> str:
    from akops.verify import verify_environment

    report = verify_environment(layout, env_name, context=context, target="cluster")
    out(report.to_text().rstrip("\n"))
    if not report.ok:
        raise StepFailed("verify found failing checks")
    return "all checks passed"


@dataclass
class DeployHooks:
    """The stages that belong to other areas; replaceable so the pipeline can be exercised alone."""

    lint: Callable[[Layout, str, Out], str] = _lint
    verify: Callable[[Layout, str, str | None, Out], str] = _verify


def deploy_env(
    layout: Layout,
    env_name: str,
    *,
    context: str | None = None,
    yes: bool = False,
    force: bool = False,
    prune: bool = False,
    skip_helm: bool = False,
    dry_run: bool = False,
    out: Out = print,
    console: Console | None = None,
    hooks: DeployHooks | None = None,
    interactive: bool | None = None,
) -> Summary:
    """render → lint → plan → confirm → apply → rollout → verify; the summary of all stages."""
    hooks = hooks or DeployHooks()
    state: dict[str, Any] = {}

    def render() -> str:
        state["target"] = target = prepare(layout, env_name, context)
        return f"{len(target.files)} files, {len(target.objects)} objects"

    def plan() -> str:
        target: Target = state["target"]
        state["api"] = api = connect(target.env, context)
        state["plan"] = p = make_plan(api, target, skip_helm=skip_helm, force=force)
        out(p.to_text().rstrip("\n"))
        return p.summary()

    def no_changes() -> str | None:
        if dry_run:
            return "--dry-run"
        return None if state["plan"].has_changes else "no changes"

    def approve() -> str:
        confirm("Apply this plan?", yes=yes, interactive=interactive)
        return "--yes" if yes else "confirmed"

    def apply() -> str:
        state["applied"] = a = apply_plan(
            state["api"],
            state["target"],
            state["plan"],
            force=force,
            prune=prune,
            skip_helm=skip_helm,
            out=out,
        )
        return a.describe()

    def rollout() -> str:
        target: Target = state["target"]
        applied: Applied | None = state.get("applied")
        release = target.env.authentik.chart.release if applied and applied.release else None
        return wait_rollout(
            state["api"], target, changed_deployments(target, applied), console, release=release
        )

    stages = [
        Stage("render", render),
        Stage("lint", lambda: hooks.lint(layout, env_name, out)),
        Stage("plan", plan),
        Stage("confirm", approve, when=no_changes),
        Stage("apply", apply, when=no_changes),
        Stage("rollout", rollout, when=no_changes),
        Stage(
            "verify",
            lambda: hooks.verify(layout, env_name, context, out),
            when=lambda: "--dry-run" if dry_run else None,
        ),
    ]
    try:
        return run_stages(stages)
    finally:
        api = state.get("api")
        if api is not None:
            api.close()


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


def rollback_env(
    layout: Layout,
    env_name: str,
    *,
    context: str | None = None,
    yes: bool = False,
    skip_helm: bool = False,
    force_config: bool = False,
    dry_run: bool = False,
    out: Out = print,
    console: Console | None = None,
    hooks: DeployHooks | None = None,
    interactive: bool | None = None,
) -> Summary:
    """PgBouncer and the Helm release to their previous revisions; then wait and verify.

    The restored PgBouncer pods mount the *current* ConfigMap, so the rollback refuses
    (exit 1, like any refusal on the cluster's state) when pgbouncer.ini changed since
    that revision, unless ``force_config``.
    """
    from akops.cluster.apply import get, server_apply
    from akops.cluster.objects import Ref, to_apply
    from akops.cluster.revisions import config_drift, config_maps

    hooks = hooks or DeployHooks()
    state: dict[str, Any] = {}

    def find() -> str:
        state["target"] = target = prepare(layout, env_name, context)
        if not skip_helm:
            helm_program()
        state["api"] = api = connect(target.env, context)
        manifest = next(
            (m for m in target.objects if m.ref.kind == "Deployment" and m.ref.name == PGBOUNCER),
            None,
        )
        if manifest is None:
            raise InputError(f"environment {env_name!r} renders no Deployment/{PGBOUNCER}")
        live = get(api, manifest.ref)
        if live is None:
            raise StepFailed(f"Deployment/{PGBOUNCER} does not exist; nothing to roll back")
        revision, template = previous_template(api, target.env.kube.namespace, live)
        state["pgbouncer"] = (manifest, template)
        lines = [f"~ Deployment/{PGBOUNCER}: pod template back to revision {revision}"]
        name = next(iter(config_maps(template)), "pgbouncer-config")
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
            history = _helm(target).history()
            if len(history) < 2:
                raise StepFailed(
                    f"helm release {target.env.authentik.chart.release} has no previous revision"
                )
            prev, cur = history[-2], history[-1]
            lines.append(
                f"~ helm release {target.env.authentik.chart.release}: revision {cur.get('revision')} "
                f"({cur.get('chart')}) → {prev.get('revision')} ({prev.get('chart')})"
            )
        out("\n".join(lines))
        return "; ".join(line[2:] for line in lines)

    def approve() -> str:
        confirm("Roll back?", yes=yes, interactive=interactive)
        return "--yes" if yes else "confirmed"

    def roll() -> str:
        target: Target = state["target"]
        manifest, template = state["pgbouncer"]
        body = to_apply(manifest, target.secrets)
        body["spec"]["template"] = template
        server_apply(state["api"], body, dry_run=False, force=False, secrets=target.secrets)
        out(f"rolled back Deployment/{PGBOUNCER}")
        if not skip_helm:
            _helm(target).rollback()
            out(f"rolled back helm release {target.env.authentik.chart.release}")
        return "done"

    def wait() -> str:
        target: Target = state["target"]
        names = [PGBOUNCER] if skip_helm else [PGBOUNCER, *target.chart_deployments]
        return wait_rollout(state["api"], target, names, console)

    def dry() -> str | None:
        return "--dry-run" if dry_run else None

    stages = [
        Stage("plan", find),
        Stage("confirm", approve, when=dry),
        Stage("rollback", roll, when=dry),
        Stage("rollout", wait, when=dry),
        Stage("verify", lambda: hooks.verify(layout, env_name, context, out), when=dry),
    ]
    try:
        return run_stages(stages)
    finally:
        if state.get("api") is not None:
            state["api"].close()


def apply_env(
    layout: Layout,
    env_name: str,
    *,
    context: str | None = None,
    yes: bool = False,
    force: bool = False,
    prune: bool = False,
    skip_helm: bool = False,
    dry_run: bool = False,
    out: Out = print,
    console: Console | None = None,
    interactive: bool | None = None,
) -> Plan:
    """Show the plan, confirm, apply, watch what changed converge.

    Returns the plan that was (or, dry-run, would be) applied.
    """
    target = prepare(layout, env_name, context)
    api = connect(target.env, context)
    with api:
        plan = make_plan(api, target, skip_helm=skip_helm, force=force)
        out(plan.to_text().rstrip("\n"))
        if not plan.has_changes:
            return plan
        if dry_run:
            out("--dry-run: nothing applied")
            return plan
        confirm("Apply this plan?", yes=yes, interactive=interactive)
        applied = apply_plan(
            api, target, plan, force=force, prune=prune, skip_helm=skip_helm, out=out
        )
        out(f"Apply complete: {applied.describe()}.")
        kept = plan.refs("destroy") if not prune else []
        if kept:
            out(
                f"Kept {len(kept)} object(s) planned for destroy ({', '.join(map(str, kept))}); "
                "pass --prune to delete them."
            )
        names = changed_deployments(target, applied)
        if names:
            release = target.env.authentik.chart.release if applied.release else None
            done = wait_rollout(api, target, names, console, release=release)
            out(f"Rollout complete: {done}.")
        return plan


def outpost_patch_env(layout: Layout, env_name: str, *, dry_run: bool = False) -> str:
    """Send the rendered outpost patches (only the Authentik API token is resolved)."""
    target = prepare(layout, env_name, with_secrets=False)
    result = outpost_patches(target, dry_run=dry_run).describe()
    return f"{result} (--dry-run: nothing sent)" if dry_run else result
