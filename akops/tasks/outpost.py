"""``invoke outpost-patch``: the outpost's kubernetes_json_patches, sent to Authentik.

Rule: adapter (parse flags, call one library function, map errors to exit codes).
"""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from akops.tasks.common import (
    ALLOW_DIRTY_HELP,
    CONTEXT_HELP,
    ENV_HELP,
    exits,
    layout,
    locked,
    resolve_env,
)


@task(
    help={
        "env": ENV_HELP,
        "yes": "send without asking (required when stdin is not a terminal)",
        "context": CONTEXT_HELP + " (for the deploy lock)",
        "dry_run": "show the diff of the outpost's patches; send nothing",
        "allow_dirty": ALLOW_DIRTY_HELP,
    }
)
def outpost_patch(
    c: Context,
    env: str = "",
    context: str | None = None,
    yes: bool = False,
    dry_run: bool = False,
    allow_dirty: bool = False,
) -> None:
    """Show the diff of the outpost's kubernetes_json_patches, ask, send them to Authentik."""
    repo = layout(c)
    from akops.ops import operations as d

    with (
        exits(),
        locked(repo, env := resolve_env(repo, env), context, "outpost-patch", dry_run, allow_dirty),
    ):
        print(d.outpost_patch_env(repo, env, yes=yes, dry_run=dry_run))


ns = Collection(outpost_patch)
