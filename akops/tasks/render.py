"""``invoke render``: templates/ to manifests/ENV/.

Rule: adapter (parse flags, call akops.render, map errors to exit codes).
"""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit

from akops.requests import RenderRequest
from akops.tasks.common import exits, layout, operation


@operation(RenderRequest)
def render(c: Context, req: RenderRequest) -> None:
    """Render templates/ for an environment into manifests/ENV/."""
    from akops import render as r

    repo = layout(c)
    with exits():
        env = req.env
        _, stack = r.render_env(repo, env)
        target = repo.manifests_for(env)
        if req.dry_run:
            drift = r.drift(stack, target, repo.rel(target))
            print(drift.diff, end="")
            print(f"{repo.rel(target)}: would change {len(drift.changed)} file(s)")
            return
        if req.check:
            drift = r.drift(stack, target, repo.rel(target))
            if not drift.clean:
                print(drift.diff, end="")
                raise Exit(
                    f"drift: {len(drift.changed)} file(s) in {repo.rel(target)} differ from a fresh "
                    f"render ({', '.join(drift.changed)}); run `invoke render --env {env}`",
                    code=1,
                )
            print(f"{repo.rel(target)}: up to date ({len(stack.files)} files)")
            return
        written = r.write(stack, target)
        print(f"{repo.rel(target)}: {len(written)} files rendered")


ns = Collection(render)
