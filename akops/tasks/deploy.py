"""Changing the cluster: ``plan``, ``apply``, ``deploy``, ``rollback``, ``rollout``.

Rule: adapter (parse flags, call one library function, map errors to exit codes).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit

from akops.requests import (
    ApplyRequest,
    DeployRequest,
    PlanRequest,
    RollbackRequest,
    RolloutRequest,
)
from akops.tasks.common import exits, layout, locked, operation, resolve_env, write_private

if TYPE_CHECKING:
    from akops.cluster.saved_plan import SavedPlan
    from akops.ops.pipeline import Summary


@operation(PlanRequest, error_code=lambda raw: 1 if raw.get("detailed_exitcode") else None)
def plan(c: Context, req: PlanRequest) -> None:
    """Show what apply would change (server-side dry run); exit 0 planned, 1 refused, 2 could not run."""
    from akops.ops import operations as d

    repo = layout(c)
    with exits(1 if req.detailed_exitcode else None):
        saved = None
        if req.out or req.format == "json":
            import datetime
            import secrets

            created = datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            result, saved = d.plan_saved(repo, req, created=created, salt=secrets.token_hex(16))
            if req.out:
                write_private(Path(req.out), saved.to_json(), "--out")
        else:
            result = d.plan_env(repo, req)
    if req.format == "json" and saved is not None:
        print(saved.to_json(), end="")
    else:
        print(result.to_text(verbose=req.verbose), end="")
        if req.out:
            print(
                f"Saved to {req.out}: apply exactly this plan with `invoke apply --plan {req.out}`."
            )
    if req.detailed_exitcode and result.has_changes:
        raise Exit(code=2)


@operation(ApplyRequest)
def apply(c: Context, req: ApplyRequest) -> None:
    """Show the plan, confirm, then server-side apply the stack (and upgrade the release)."""
    from akops.ops import operations as d

    repo = layout(c)
    with exits():
        saved = _saved_plan(req.plan) if req.plan else None
        req = replace(
            req, env=resolve_env(repo, req.env or (saved.basis.environment if saved else ""))
        )
        with locked(repo, req, "apply", allow_dirty=req.allow_dirty) as guard:
            if saved is not None:
                d.apply_saved_env(repo, req, saved, guard=guard)
                return
            d.apply_env(repo, req, guard=guard)


def _summarised(summary: Summary) -> None:
    """Print a pipeline's summary; its failed stage's exit code is the task's, and its
    reason the one line on stderr."""
    print(summary.to_text(), end="")
    failed = summary.failed
    if failed is not None:
        raise Exit(f"error: {failed.name}: {failed.detail}", code=summary.exit_code)


def _saved_plan(path: str) -> SavedPlan:
    from akops import files
    from akops.cluster.saved_plan import load

    return load(files.read_text(path, flag="--plan"), path)


@operation(DeployRequest)
def deploy(c: Context, req: DeployRequest) -> None:
    """Render, lint, plan, confirm, apply, wait for the rollout, verify; one summary."""
    from akops.ops import operations as d

    repo = layout(c)
    with exits(), locked(repo, req, "deploy", allow_dirty=req.allow_dirty) as guard:
        summary = d.deploy_env(repo, req, guard=guard)
    _summarised(summary)


@operation(RollbackRequest)
def rollback(c: Context, req: RollbackRequest) -> None:
    """Roll PgBouncer and the Authentik release back one revision, then wait and verify."""
    from akops.ops import operations as d

    repo = layout(c)
    # A rollback returns to a revision the cluster already ran: no tree check.
    with exits(), locked(repo, req, "rollback", tree=False) as guard:
        summary = d.rollback_env(repo, req, guard=guard)
    _summarised(summary)


@operation(RolloutRequest)
def rollout(c: Context, req: RolloutRequest) -> None:
    """Wait (by watch, with a live display) until the stack's Deployments converge."""
    from akops.ops import operations as d

    with exits():
        done = d.rollout_env(layout(c), req)
    print(f"converged: {done}")


ns = Collection(plan, apply, deploy, rollback, rollout)
