"""``invoke unlock``: who holds the deploy lock, and breaking it.

Rule: adapter (parse flags, call one library function, map errors to exit codes).
"""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context

from akops.requests import UnlockRequest
from akops.tasks.common import exits, layout, operation


@operation(UnlockRequest)
def unlock(c: Context, req: UnlockRequest) -> None:
    """Show who holds the deploy lock (Lease akops-deploy) and, after asking, break it."""
    from akops.cluster import lease
    from akops.cluster.connect import connect
    from akops.environment import load_environment
    from akops.ops.confirm import confirm

    with exits():
        env = req.env
        environment = load_environment(env, layout(c).environments)
        namespace = environment.kube.namespace
        with connect(environment, req.context) as api:
            found = lease.inspect(api, namespace)
            if found is None or lease.released(found):
                print(f"the deploy lock of {env} ({namespace}) is not held")
                return
            print(f"the deploy lock of {env} ({namespace}) {lease.state(found, lease.now())}")
            if req.dry_run:
                return
            confirm(f"Break it? The run holding it may still be changing {env}.", yes=req.yes)
            broken = lease.break_lock(api, namespace)
        print(f"unlocked: {lease.who(broken)} no longer holds it")


ns = Collection(unlock)
