"""The stages of every operation, and the typed state they pass along.

Rule: orchestration. A stage is a function of the ``Run`` state: it reads what earlier
stages left in it (the rendered ``target``, the ``plan``, what was ``applied``), calls
down into ``akops.cluster``, ``akops.lint`` or ``akops.verify``, records its own result
in the state and returns a one-line detail for the summary. The pipelines of
``akops.ops.operations`` are lists of these stages.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from akops.cluster.changes import (
    Applied,
    Out,
    RollbackPlan,
    Target,
    apply_plan,
    changed_deployments,
    live_basis,
    make_plan,
    prepare,
    roll_back,
    rollback_plan,
    stack_deployments,
    wait_rollout,
)
from akops.cluster.plan import Plan
from akops.errors import AkopsError, StalePlan, StepFailed
from akops.layout import Layout
from akops.ops.confirm import confirm
from akops.ops.pipeline import Skip
from akops.source import Revision, revision

if TYPE_CHECKING:
    from kubernetes.client import ApiClient
    from rich.console import Console

    from akops.cluster.saved_plan import SavedPlan
    from akops.environment import Environment


def lint_stack(layout: Layout, target: Target, out: Out) -> str:
    """The lint gate of ``invoke lint --env`` on the very render this run applies."""
    from akops.ops.lint import gate

    report = gate(layout, target.env, target.stack, out)
    shown = f"`invoke lint --env {target.env.name} --verbose`"
    out(report.to_text(show_waived=shown).rstrip("\n"))
    if not report.ok:
        raise StepFailed("lint found errors; fix them or waive them in the environment file")
    return "no errors"


def verify_stack(layout: Layout, env_name: str, context: str | None, out: Out) -> str:
    from akops.requests import VerifyRequest
    from akops.verify import verify_environment

    report = verify_environment(layout, VerifyRequest(env=env_name, context=context))
    out(report.to_text().rstrip("\n"))
    if not report.ok:
        raise StepFailed("verify found failing checks")
    return "all checks passed"


@dataclass
class DeployHooks:
    """The stages that belong to other areas; replaceable so the pipeline can be exercised alone."""

    lint: Callable[[Layout, Target, Out], str] = lint_stack
    verify: Callable[[Layout, str, str | None, Out], str] = verify_stack


@dataclass(frozen=True)
class Flags:
    """The operator's flags of one operation."""

    context: str | None = None
    yes: bool = False
    force: bool = False
    prune: bool = False
    skip_helm: bool = False
    dry_run: bool = False
    force_config: bool = False
    #: whether stdin is a terminal (``None``: ask ``sys.stdin``)
    interactive: bool | None = None
    #: Deployments ``rollout`` watches (empty: every Deployment of the stack)
    deployments: tuple[str, ...] = ()


#: Called before each stage; raises to stop the run (the deploy lock's ``check``).
Guard = Callable[[], None]


@dataclass
class Run:
    """One operation's state: its inputs, then what each stage found or did, in stage order."""

    layout: Layout
    env_name: str
    flags: Flags = field(default_factory=Flags)
    out: Out = print
    console: Console | None = None
    hooks: DeployHooks = field(default_factory=DeployHooks)
    with_secrets: bool = True
    #: read-only operations (rollout): resolve what secrets are there, for masking only
    mask_only: bool = False
    # --- set by the stages --------------------------------------------------------------
    target: Target | None = None
    api: ApiClient | None = None
    plan: Plan | None = None
    applied: Applied | None = None
    rollback: RollbackPlan | None = None
    #: the Deployments to watch, and the Helm release among the changes (for the message)
    watch: list[str] = field(default_factory=list)
    release: str | None = None
    #: ``apply --plan FILE``: the reviewed plan to apply instead of a new one
    saved: SavedPlan | None = None
    #: before each stage: the deploy lock is still this run's (None: no lock, a dry run)
    guard: Guard | None = None

    @property
    def rendered(self) -> Target:
        assert self.target is not None, "the render stage runs first"
        return self.target

    @property
    def planned(self) -> Plan:
        assert self.plan is not None, "the plan stage runs first"
        return self.plan

    def cluster(self) -> ApiClient:
        """The API client, connected on first use (after the context guard)."""
        if self.api is None:
            from akops.cluster.connect import connect

            self.api = connect(self.rendered.env, self.flags.context)
        return self.api

    def close(self) -> None:
        if self.api is not None:
            client: Any = self.api  # the client's close() is untyped
            client.close()


# --- stages --------------------------------------------------------------------------------


def render(run: Run) -> str:
    run.target = t = prepare(
        run.layout,
        run.env_name,
        run.flags.context,
        with_secrets=run.with_secrets,
        mask_only=run.mask_only,
        dry_run=run.flags.dry_run,
    )
    return f"{len(t.files)} files, {len(t.objects)} objects"


def lint(run: Run) -> str:
    return run.hooks.lint(run.layout, run.rendered, run.out)


def plan(run: Run) -> str:
    f = run.flags
    p = make_plan(run.cluster(), run.rendered, skip_helm=f.skip_helm, force=f.force)
    try:
        p = replace(p, image_drift=image_drift(run.cluster(), run.rendered.env))
    except AkopsError as e:  # the plan stands without it; say that it was not compared
        run.out(f"note: running images not compared with the pins: {e}")
    run.plan = p
    run.out(p.to_text().rstrip("\n"))
    return p.summary()


def image_drift(api: ApiClient, env: Environment) -> tuple[str, ...]:
    """Containers of the stack's pods that run another image than ``env`` pins, one line
    each: the ``images.pinned`` check's comparison, computed there."""
    from akops.verify import observe

    return observe.image_drift(api, env)


def banner(env_name: str, context: str, namespace: str, source: Revision) -> str:
    """The one line every changing task prints before its first change: where, and what."""
    return (
        f"akops: environment {env_name} · context {context} · namespace {namespace} · "
        f"commit {source.short}"
    )


def check_saved(run: Run) -> str:
    """The saved plan still describes what an apply would do, or StalePlan (exit 1).

    Nothing that decided it may have moved: the rendered stack (digest), the secrets
    (hashes), each object's resourceVersion, the release revision. The dry run is then
    asked again on those same inputs and must answer exactly what the file says; the
    plan applied is that answer, so what is applied is what was reviewed.
    """
    from akops.cluster.saved_plan import save, stale
    from akops.source import revision

    saved, f, target = run.saved, run.flags, run.rendered
    assert saved is not None, "apply --plan loads the plan first"
    source = revision(run.layout.root)
    commit, dirty = source.commit or "", source.dirty
    now = live_basis(
        run.cluster(),
        target,
        saved.basis,
        skip_helm=f.skip_helm,
        commit=commit,
        dirty=dirty,
        salt=saved.salt,
    )
    reasons = stale(saved, now)
    if reasons:
        raise StalePlan(
            "the saved plan no longer applies: "
            + "; ".join(reasons)
            + f"; plan again (`invoke plan --env {run.env_name} --out FILE`)"
        )
    # A plan made before the namespace existed is asked again the same way: the deploy lock
    # has created the namespace since (the Lease lives in it).
    absent = True if saved.adds_namespace() else None
    fresh = make_plan(run.cluster(), target, skip_helm=f.skip_helm, force=f.force, absent=absent)
    again = save(fresh, now, salt=saved.salt, secrets=target.secrets, created="")
    if again.body["plan"] != saved.body["plan"]:
        raise StalePlan(
            "the saved plan no longer applies: the cluster's dry run of the same inputs answers "
            f"differently now; plan again (`invoke plan --env {run.env_name} --out FILE`)"
        )
    run.plan = fresh
    run.out(fresh.to_text().rstrip("\n"))
    return f"{fresh.summary()} (as saved)"


def approve(question: str) -> Callable[[Run], str]:
    def stage(run: Run) -> str:
        t = run.rendered
        run.out(banner(t.env.name, t.context, t.env.kube.namespace, revision(run.layout.root)))
        confirm(question, yes=run.flags.yes, interactive=run.flags.interactive)
        return "--yes" if run.flags.yes else "confirmed"

    return stage


def apply(run: Run) -> str:
    f, target, p = run.flags, run.rendered, run.planned
    a = apply_plan(
        run.cluster(), target, p, force=f.force, prune=f.prune, skip_helm=f.skip_helm, out=run.out
    )
    run.applied = a
    run.out(f"Apply complete: {a.describe()}.")
    kept = p.refs("destroy") if not f.prune else []
    if kept:
        run.out(
            f"Kept {len(kept)} object(s) planned for destroy ({', '.join(map(str, kept))}); "
            "pass --prune to delete them."
        )
    run.watch = changed_deployments(target, a)
    run.release = target.env.authentik.chart.release if a.release else None
    return a.describe()


def select_stack(run: Run) -> str:
    run.watch = list(run.flags.deployments) or stack_deployments(run.rendered)
    return ", ".join(run.watch)


def rollout(run: Run) -> str:
    if not run.watch:
        raise Skip("no Deployment changed")
    done = wait_rollout(run.cluster(), run.rendered, run.watch, run.console, release=run.release)
    run.out(f"Rollout complete: {done}.")
    return done


def verify(run: Run) -> str:
    return run.hooks.verify(run.layout, run.env_name, run.flags.context, run.out)


def find_rollback(run: Run) -> str:
    from akops.cluster.helm import helm_program

    render(run)
    if not run.flags.skip_helm:
        helm_program()  # before any API call: a missing tool is known at once
    f = run.flags
    run.rollback = rb = rollback_plan(
        run.cluster(), run.rendered, skip_helm=f.skip_helm, force_config=f.force_config
    )
    run.out("\n".join(rb.lines))
    return rb.describe()


def roll(run: Run) -> str:
    assert run.rollback is not None, "the rollback plan comes first"
    run.watch = roll_back(
        run.cluster(), run.rendered, run.rollback, skip_helm=run.flags.skip_helm, out=run.out
    )
    return "done"


# --- when a stage does not run ---------------------------------------------------------------


def dry(run: Run) -> str | None:
    return "--dry-run" if run.flags.dry_run else None


def unchanged(run: Run) -> str | None:
    """Why apply and what follows it do not run: a dry run, or nothing to change."""
    if run.flags.dry_run:
        return "--dry-run"
    return None if run.planned.has_changes else "no changes"
