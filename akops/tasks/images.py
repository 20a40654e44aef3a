"""Image pins: ``images.pin``, ``images.check``.

Rule: adapter (parse flags, call one library function, map errors to exit codes).
"""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit

from akops.requests import ImagesCheckRequest, ImagesPinRequest
from akops.tasks.common import exits, layout, operation


@operation(ImagesPinRequest, name="pin")
def images_pin(c: Context, req: ImagesPinRequest) -> None:
    """Resolve every image's tag to its digest in the registry; write tag@sha256 into ENV's file."""
    from akops.images import pin

    with exits():
        report = pin.pin_env(layout(c), req.env, dry_run=req.dry_run, timeout=req.timeout)
    print(report.to_text(), end="")


@operation(ImagesCheckRequest, name="check")
def images_check(c: Context, req: ImagesCheckRequest) -> None:
    """Report pinned tags whose registry digest moved since they were pinned (exit 1)."""
    from akops.images import pin

    with exits():
        report = pin.check_envs(layout(c), req.env, timeout=req.timeout)
    print(report.to_text(), end="")
    if report.exit_code:
        raise Exit(code=report.exit_code)


ns = Collection("images", images_pin, images_check)
