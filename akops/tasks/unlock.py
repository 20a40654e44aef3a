"""``invoke unlock``: who holds the deploy lock, and breaking it.

Rule: adapter (parse flags, call one library function, map errors to exit codes).
"""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from akops.tasks.common import (
    CONTEXT_HELP,
    ENV_HELP,
    exits,
    layout,
    resolve_env,
)


@task(
    help={
        "env": ENV_HELP,
        "context": CONTEXT_HELP,
        "yes": "break the lock without asking (required when stdin is not a terminal)",
        "dry_run": "show who holds the lock; change nothing",
    }
)
def unlock(
    c: Context,
    env: str = "",
    context: str | None = None,
    yes: bool = False,
    dry_run: bool = False,
) -> None:
    """Show who holds the deploy lock (Lease akops-deploy) and, after asking, break it."""
    repo = layout(c)
    from akops.cluster import lease
    from akops.cluster.connect import connect
    from akops.environment import load_environment
    from akops.ops.confirm import confirm

    with exits():
        env = resolve_env(repo, env)
        environment = load_environment(env, repo.environments)
        namespace = environment.kube.namespace
        with connect(environment, context) as api:
            found = lease.inspect(api, namespace)
            if found is None or lease.released(found):
                print(f"the deploy lock of {env} ({namespace}) is not held")
                return
            print(f"the deploy lock of {env} ({namespace}) {lease.state(found, lease.now())}")
            if dry_run:
                return
            confirm(f"Break it? The run holding it may still be changing {env}.", yes=yes)
            broken = lease.break_lock(api, namespace)
        print(f"unlocked: {lease.who(broken)} no longer holds it")


ns = Collection(unlock)
