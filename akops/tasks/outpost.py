"""``invoke outpost-patch``: the outpost's kubernetes_json_patches, sent to Authentik.

Rule: adapter (parse flags, call one library function, map errors to exit codes).
"""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context

from akops.requests import OutpostPatchRequest
from akops.tasks.common import exits, layout, locked, operation


@operation(OutpostPatchRequest)
def outpost_patch(c: Context, req: OutpostPatchRequest) -> None:
    """Show the diff of the outpost's kubernetes_json_patches, ask, send them to Authentik."""
    from akops.ops import operations as d

    repo = layout(c)
    with exits(), locked(repo, req, "outpost-patch", allow_dirty=req.allow_dirty):
        print(d.outpost_patch_env(repo, req.env, yes=req.yes, dry_run=req.dry_run))


ns = Collection(outpost_patch)
