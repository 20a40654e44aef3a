"""Invoke tasks: thin adapters over the ``akops`` library.

Each task parses its flags, calls one library function, and turns ``AkopsError``
into an exit code. Heavy modules (kubernetes, testinfra) are imported inside the
tasks that need them so that ``invoke --list`` stays fast.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from invoke import Collection, Context, Exit, task

from akops.errors import AkopsError
from akops.layout import Layout

LAYOUT = Layout(Path(__file__).resolve().parent)
ENV_HELP = "environment name (a file in environments/)"


@contextmanager
def exits() -> Iterator[None]:
    """Map the project's errors to exit codes: the entry point decides, the library suggests."""
    try:
        yield
    except AkopsError as e:
        raise Exit(f"error: {e}", code=e.exit_code) from None
    except KeyboardInterrupt:
        raise Exit("interrupted", code=130) from None


@task(help={"env": ENV_HELP, "check": "render in memory and exit 1 with a diff if manifests/ENV differs"})
def render(c: Context, env: str = "prod", check: bool = False) -> None:
    """Render templates/ for an environment into manifests/ENV/."""
    from akops import render as r

    with exits():
        _, stack = r.render_env(LAYOUT, env)
        target = LAYOUT.manifests_for(env)
        if check:
            drift = r.drift(stack, target, LAYOUT.rel(target))
            if not drift.clean:
                print(drift.diff, end="")
                raise Exit(
                    f"drift: {len(drift.changed)} file(s) in {LAYOUT.rel(target)} differ from a fresh "
                    f"render ({', '.join(drift.changed)}); run `invoke render --env {env}`",
                    code=1,
                )
            print(f"{LAYOUT.rel(target)}: up to date ({len(stack.files)} files)")
            return
        written = r.write(stack, target)
        print(f"{LAYOUT.rel(target)}: {len(written)} files rendered")


# --- tasks of later issues are added below, one section each ---

ns = Collection(render)
