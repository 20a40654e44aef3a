"""The operations of the invoke tasks, each a pipeline of the same typed stages.

Rule: orchestration. ``deploy`` is render → lint → plan → confirm → apply → rollout →
verify; ``apply`` is the same pipeline without lint and verify; ``plan`` stops after
the plan; ``rollback`` finds the previous revision, confirms, rolls back, watches and
verifies; ``rollout`` watches. Operations that end in a summary return it; single
operations (plan, apply, rollout) re-raise the failing stage's error instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from akops.cluster.changes import OUTPOST_FILE, Out, outpost_token, prepare
from akops.cluster.plan import Plan
from akops.layout import Layout
from akops.ops import stages as s
from akops.ops.confirm import confirm
from akops.ops.pipeline import Stage, Summary, run_stages
from akops.ops.stages import DeployHooks, Flags, Guard, Run
from akops.requests import (
    ApplyRequest,
    DeployRequest,
    PlanRequest,
    RollbackRequest,
    RolloutRequest,
)
from akops.source import revision

if TYPE_CHECKING:
    from rich.console import Console

    from akops.cluster.saved_plan import SavedPlan

DEPLOY: tuple[Stage[Run], ...] = (
    Stage("render", s.render),
    Stage("lint", s.lint),
    Stage("plan", s.plan),
    Stage("confirm", s.approve("Apply this plan?"), when=s.unchanged),
    Stage("apply", s.apply, when=s.unchanged),
    Stage("rollout", s.rollout, when=s.unchanged),
    Stage("verify", s.verify, when=s.dry),
)
APPLY = tuple(stage for stage in DEPLOY if stage.name not in ("lint", "verify"))
#: ``apply --plan FILE``: the reviewed plan, checked, instead of a new one
APPLY_SAVED = tuple(Stage("plan", s.check_saved) if st.name == "plan" else st for st in APPLY)
PLAN = tuple(stage for stage in DEPLOY if stage.name in ("render", "plan"))
ROLLBACK: tuple[Stage[Run], ...] = (
    Stage("plan", s.find_rollback),
    Stage("confirm", s.approve("Roll back?"), when=s.dry),
    Stage("rollback", s.roll, when=s.dry),
    Stage("rollout", s.rollout, when=s.dry),
    Stage("verify", s.verify, when=s.dry),
)
ROLLOUT: tuple[Stage[Run], ...] = (
    Stage("render", s.render),
    Stage("select", s.select_stack),
    Stage("rollout", s.rollout),
)


def execute(stages: Sequence[Stage[Run]], run: Run) -> Summary:
    """Run ``stages`` on ``run`` (``run.guard`` before each), closing its API connection at
    the end."""
    try:
        return run_stages(stages, run, guard=run.guard)
    finally:
        run.close()


# Each operation takes its typed request (``akops.requests``); ``Flags`` is what the stages
# read of it, built here once per operation.


def plan_env(layout: Layout, req: PlanRequest) -> Plan:
    """The plan for objects, the release and the outpost patches (nothing is changed)."""
    flags = Flags(context=req.context, skip_helm=req.skip_helm, force=req.force_conflicts)
    run = Run(layout, req.env, flags, out=lambda _: None)
    execute(PLAN, run).raise_failure()
    return run.planned


def plan_saved(
    layout: Layout, req: PlanRequest, *, created: str, salt: str
) -> tuple[Plan, SavedPlan]:
    """The plan, and its saved form with what it was computed against (``plan --out``)."""
    from akops.cluster.changes import plan_basis
    from akops.cluster.saved_plan import save
    from akops.source import revision

    flags = Flags(context=req.context, skip_helm=req.skip_helm, force=req.force_conflicts)
    run = Run(layout, req.env, flags, out=lambda _: None)
    execute(PLAN, run).raise_failure()
    source = revision(layout.root)
    commit, dirty = source.commit or "", source.dirty
    basis = plan_basis(run.rendered, run.planned, commit=commit, dirty=dirty, salt=salt)
    saved = save(run.planned, basis, salt=salt, secrets=run.rendered.secrets, created=created)
    return run.planned, saved


def _changing(req: ApplyRequest | DeployRequest, interactive: bool | None) -> Flags:
    return Flags(
        context=req.context,
        yes=req.yes,
        force=req.force_conflicts,
        prune=req.prune,
        skip_helm=req.skip_helm,
        dry_run=req.dry_run,
        interactive=interactive,
    )


def apply_saved_env(
    layout: Layout,
    req: ApplyRequest,
    saved: SavedPlan,
    *,
    out: Out = print,
    console: Console | None = None,
    interactive: bool | None = None,
    guard: Guard | None = None,
) -> Plan:
    """Apply exactly the reviewed plan ``saved``; StalePlan (exit 1) if the world moved since."""
    flags = replace(_changing(req, interactive), skip_helm=saved.release_action is None)
    run = Run(layout, req.env, flags, out=out, console=console, saved=saved, guard=guard)
    execute(APPLY_SAVED, run).raise_failure()
    if req.dry_run and run.planned.has_changes:
        out("--dry-run: nothing applied")
    return run.planned


def apply_env(
    layout: Layout,
    req: ApplyRequest,
    *,
    out: Out = print,
    console: Console | None = None,
    interactive: bool | None = None,
    guard: Guard | None = None,
) -> Plan:
    """Show the plan, confirm, apply, watch what changed converge.

    Returns the plan that was (or, dry-run, would be) applied. ``guard`` runs before each
    stage (the deploy lock's check: the run stops when the lock is no longer its own).
    """
    flags = _changing(req, interactive)
    run = Run(layout, req.env, flags, out=out, console=console, guard=guard)
    execute(APPLY, run).raise_failure()
    if req.dry_run and run.planned.has_changes:
        out("--dry-run: nothing applied")
    return run.planned


def deploy_env(
    layout: Layout,
    req: DeployRequest,
    *,
    out: Out = print,
    console: Console | None = None,
    hooks: DeployHooks | None = None,
    interactive: bool | None = None,
    guard: Guard | None = None,
) -> Summary:
    """render → lint → plan → confirm → apply → rollout → verify; the summary of all stages.

    ``guard`` runs before each stage: the deploy lock's check stops the run (exit 1) before
    the next stage once the lock is no longer this run's."""
    flags = _changing(req, interactive)
    run = Run(layout, req.env, flags, out, console, hooks or DeployHooks(), guard=guard)
    return execute(DEPLOY, run)


def rollback_env(
    layout: Layout,
    req: RollbackRequest,
    *,
    out: Out = print,
    console: Console | None = None,
    hooks: DeployHooks | None = None,
    interactive: bool | None = None,
    guard: Guard | None = None,
) -> Summary:
    """PgBouncer and the Helm release to their previous revisions; then wait and verify.

    The restored PgBouncer pods mount the *current* ConfigMap, so the rollback refuses
    (exit 1, like any refusal on the cluster's state) when pgbouncer.ini changed since
    that revision, unless ``req.force_config``.
    """
    flags = Flags(
        context=req.context,
        yes=req.yes,
        skip_helm=req.skip_helm,
        force_config=req.force_config,
        dry_run=req.dry_run,
        interactive=interactive,
    )
    run = Run(layout, req.env, flags, out, console, hooks or DeployHooks(), guard=guard)
    return execute(ROLLBACK, run)


def rollout_env(layout: Layout, req: RolloutRequest, *, console: Console | None = None) -> str:
    """Watch ``req.deployment`` (default: every Deployment of the stack) until they converge."""
    flags = Flags(context=req.context, deployments=req.deployment)
    # Watching needs no secret; those that resolve still mask the pod logs it prints.
    run = Run(layout, req.env, flags, out=lambda _: None, console=console, mask_only=True)
    summary = execute(ROLLOUT, run)
    summary.raise_failure()
    return summary.results[-1].detail


def outpost_patch_env(
    layout: Layout,
    env_name: str,
    *,
    yes: bool = False,
    dry_run: bool = False,
    out: Out = print,
    interactive: bool | None = None,
    ask: Callable[[str], str] = input,
) -> str:
    """Show the diff of the outpost's patches, ask, then send them (only the API token is read).

    Like ``apply``: ``--dry-run`` shows the diff and sends nothing; without a terminal the
    change needs ``--yes``; the banner names where the change goes before it is asked for.
    """
    from akops.authentik_api import parse_patches, patches_diff, read_outpost, write_patches

    target = prepare(layout, env_name, with_secrets=False)
    env = target.env
    token = outpost_token(target)
    patches = parse_patches(target.files.get(OUTPOST_FILE, ""), OUTPOST_FILE)
    live = read_outpost(env, patches.outpost, token)
    diff = patches_diff(live, patches)
    where = f"outpost {live.name} ({live.uuid}): kubernetes_json_patches"
    if not diff:
        return f"{where} already up to date; nothing to send"
    out(diff.rstrip("\n"))
    if dry_run:
        return f"{where} would be updated (--dry-run: nothing sent)"
    out(s.banner(env.name, target.context, env.kube.namespace, revision(layout.root)))
    confirm("Send these patches to the outpost?", yes=yes, interactive=interactive, ask=ask)
    write_patches(env, live, patches, token)
    return f"{where} updated"
