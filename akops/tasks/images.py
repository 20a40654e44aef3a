"""Image pins: ``images.pin``, ``images.check``.

Rule: adapter (parse flags, call one library function, map errors to exit codes).
"""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from akops.tasks.common import ENV_HELP, exits, layout, resolve_env

TIMEOUT_HELP = "seconds each registry gets to answer for one image (default 10)"


@task(
    name="pin",
    help={
        "env": ENV_HELP,
        "dry_run": "show the changes to the environment file and write nothing",
        "timeout": TIMEOUT_HELP,
    },
)
def images_pin(c: Context, env: str = "", dry_run: bool = False, timeout: str = "10") -> None:
    """Resolve every image's tag to its digest in the registry; write tag@sha256 into ENV's file."""
    repo = layout(c)
    from akops.cli import seconds
    from akops.images import pin

    with exits():
        env = resolve_env(repo, env)
        report = pin.pin_env(repo, env, dry_run=dry_run, timeout=seconds("timeout", timeout) or 10)
    print(report.to_text(), end="")


@task(
    name="check",
    iterable=["env"],
    help={
        "env": "environment to check (repeatable; default: every environment)",
        "timeout": TIMEOUT_HELP,
    },
)
def images_check(c: Context, env: list[str] | None = None, timeout: str = "10") -> None:
    """Report pinned tags whose registry digest moved since they were pinned (exit 1)."""
    repo = layout(c)
    from akops.cli import seconds
    from akops.images import pin

    with exits():
        report = pin.check_envs(repo, tuple(env or ()), timeout=seconds("timeout", timeout) or 10)
    print(report.to_text(), end="")
    if report.exit_code:
        raise Exit(code=report.exit_code)


ns = Collection("images", images_pin, images_check)
