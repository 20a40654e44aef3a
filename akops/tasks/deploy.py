"""Changing the cluster: ``plan``, ``apply``, ``deploy``, ``rollback``, ``rollout``.

Rule: adapter (parse flags, call one library function, map errors to exit codes).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from akops.tasks.common import (
    ALLOW_DIRTY_HELP,
    CONTEXT_HELP,
    ENV_HELP,
    FORCE_HELP,
    SKIP_HELM_HELP,
    exits,
    layout,
    locked,
    resolve_env,
    write_private,
)

if TYPE_CHECKING:
    from akops.cluster.saved_plan import SavedPlan
    from akops.ops.pipeline import Summary


@task(
    help={
        "env": ENV_HELP,
        "context": CONTEXT_HELP,
        "skip_helm": SKIP_HELM_HELP,
        "force_conflicts": "plan as if applying with --force-conflicts",
        "verbose": "also list unchanged objects",
        "out": "also write the plan to FILE (JSON; secret values only as salted hashes) for `invoke apply --plan FILE`",
        "format": "text (the default) or json (the saved plan's structure, on stdout)",
        "detailed_exitcode": "Terraform's CI gate: exit 0 no changes, 2 changes, 1 any error",
    }
)
def plan(
    c: Context,
    env: str = "",
    context: str | None = None,
    skip_helm: bool = False,
    force_conflicts: bool = False,
    verbose: bool = False,
    detailed_exitcode: bool = False,
    out: str = "",
    format: str = "text",
) -> None:
    """Show what apply would change (server-side dry run); exit 0 planned, 1 refused, 2 could not run."""
    repo = layout(c)
    from akops.ops import operations as d

    with exits(1 if detailed_exitcode else None):
        env = resolve_env(repo, env)
        if format not in ("text", "json"):
            from akops.errors import InputError

            raise InputError(f"--format must be text or json, not {format!r}")
        saved = None
        if out or format == "json":
            import datetime
            import secrets

            created = datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            result, saved = d.plan_saved(
                repo,
                env,
                context=context,
                skip_helm=skip_helm,
                force=force_conflicts,
                created=created,
                salt=secrets.token_hex(16),
            )
            if out:
                write_private(Path(out), saved.to_json(), "--out")
        else:
            result = d.plan_env(
                repo, env, context=context, skip_helm=skip_helm, force=force_conflicts
            )
    if format == "json" and saved is not None:
        print(saved.to_json(), end="")
    else:
        print(result.to_text(verbose=verbose), end="")
        if out:
            print(f"Saved to {out}: apply exactly this plan with `invoke apply --plan {out}`.")
    if detailed_exitcode and result.has_changes:
        raise Exit(code=2)


@task(
    help={
        "env": ENV_HELP,
        "context": CONTEXT_HELP,
        "yes": "apply without asking (required when stdin is not a terminal)",
        "force_conflicts": FORCE_HELP,
        "prune": "delete objects of ours that are no longer rendered (planned as destroy)",
        "skip_helm": SKIP_HELM_HELP,
        "dry_run": "show the plan and stop; change nothing",
        "allow_dirty": ALLOW_DIRTY_HELP,
        "plan": "apply exactly this saved plan (`invoke plan --out FILE`); refuses if anything moved since",
    }
)
def apply(
    c: Context,
    env: str = "",
    context: str | None = None,
    yes: bool = False,
    force_conflicts: bool = False,
    prune: bool = False,
    skip_helm: bool = False,
    dry_run: bool = False,
    allow_dirty: bool = False,
    plan: str = "",
) -> None:
    """Show the plan, confirm, then server-side apply the stack (and upgrade the release)."""
    repo = layout(c)
    from akops.ops import operations as d

    with exits():
        saved = _saved_plan(plan) if plan else None
        env = resolve_env(repo, env or (saved.basis.environment if saved else ""))
        with locked(repo, env, context, "apply", dry_run, allow_dirty):
            if saved is not None:
                d.apply_saved_env(
                    repo,
                    env,
                    saved,
                    context=context,
                    yes=yes,
                    force=force_conflicts,
                    prune=prune,
                    dry_run=dry_run,
                )
                return
            d.apply_env(
                repo,
                env,
                context=context,
                yes=yes,
                force=force_conflicts,
                prune=prune,
                skip_helm=skip_helm,
                dry_run=dry_run,
            )


def _summarised(summary: Summary) -> None:
    """Print a pipeline's summary; its failed stage's exit code is the task's."""
    print(summary.to_text(), end="")
    if summary.exit_code:
        raise Exit(code=summary.exit_code)


def _saved_plan(path: str) -> SavedPlan:
    from akops import files
    from akops.cluster.saved_plan import load

    return load(files.read_text(path, flag="--plan"), path)


@task(
    help={
        "env": ENV_HELP,
        "context": CONTEXT_HELP,
        "yes": "apply without asking (required when stdin is not a terminal)",
        "force_conflicts": FORCE_HELP,
        "prune": "delete objects of ours that are no longer rendered",
        "skip_helm": SKIP_HELM_HELP,
        "dry_run": "render, lint and plan only; change nothing",
        "allow_dirty": ALLOW_DIRTY_HELP,
    }
)
def deploy(
    c: Context,
    env: str = "",
    context: str | None = None,
    yes: bool = False,
    force_conflicts: bool = False,
    prune: bool = False,
    skip_helm: bool = False,
    dry_run: bool = False,
    allow_dirty: bool = False,
) -> None:
    """Render, lint, plan, confirm, apply, wait for the rollout, verify; one summary."""
    repo = layout(c)
    from akops.ops import operations as d

    with (
        exits(),
        locked(repo, env := resolve_env(repo, env), context, "deploy", dry_run, allow_dirty),
    ):
        summary = d.deploy_env(
            repo,
            env,
            context=context,
            yes=yes,
            force=force_conflicts,
            prune=prune,
            skip_helm=skip_helm,
            dry_run=dry_run,
        )
    _summarised(summary)


@task(
    help={
        "env": ENV_HELP,
        "context": CONTEXT_HELP,
        "yes": "roll back without asking (required when stdin is not a terminal)",
        "skip_helm": "roll back PgBouncer only; leave the Helm release alone",
        "force_config": "roll back even though pgbouncer.ini changed since that revision",
        "dry_run": "show the revisions it would roll back to; change nothing",
    }
)
def rollback(
    c: Context,
    env: str = "",
    context: str | None = None,
    yes: bool = False,
    skip_helm: bool = False,
    force_config: bool = False,
    dry_run: bool = False,
) -> None:
    """Roll PgBouncer and the Authentik release back one revision, then wait and verify."""
    repo = layout(c)
    from akops.ops import operations as d

    # A rollback returns to a revision the cluster already ran: no tree check.
    with (
        exits(),
        locked(
            repo, env := resolve_env(repo, env), context, "rollback", dry_run, False, tree=False
        ),
    ):
        summary = d.rollback_env(
            repo,
            env,
            context=context,
            yes=yes,
            skip_helm=skip_helm,
            force_config=force_config,
            dry_run=dry_run,
        )
    _summarised(summary)


@task(
    iterable=["deployment"],
    help={
        "env": ENV_HELP,
        "context": CONTEXT_HELP,
        "deployment": "wait for this Deployment only (repeatable; default: every Deployment of the stack)",
    },
)
def rollout(
    c: Context, env: str = "", context: str | None = None, deployment: list[str] | None = None
) -> None:
    """Wait (by watch, with a live display) until the stack's Deployments converge."""
    repo = layout(c)
    from akops.ops import operations as d

    with exits():
        env = resolve_env(repo, env)
        done = d.rollout_env(repo, env, context=context, deployments=tuple(deployment or ()))
    print(f"converged: {done}")


ns = Collection(plan, apply, deploy, rollback, rollout)
