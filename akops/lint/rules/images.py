"""Images pinned by digest: every image the stack renders, as ``repo:tag@sha256:…``.

Rule: pure. A file rule over each workload's containers (the Authentik server and worker
as the chart renders them from the values, with ``global.image.digest``), the outpost's
image when the patches replace it and the containers the patches add beside it. An error in a protected environment (``protected:
true``), a warning in any other; silent under ``lint --path``, where no environment says
which it is. A lab may follow a tag; production runs what was pinned.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from akops.lint.findings import Finding, Severity
from akops.lint.index import Index, at, located
from akops.lint.registry import rule
from akops.lint.workloads import from_patches

RULE = "image.digest"
OUTPOST_IMAGE = "/spec/template/spec/containers/0/image"


@rule(
    RULE,
    "warning",
    "image not pinned by digest (an error in a protected environment)",
    hint="run `invoke images.pin --env ENV`: it writes tag@sha256:… from the registry",
    why="a tag can move under the same name (upstream rebuilds, image updaters such as Keel "
    "and diun); only a digest says what runs",
)
def image_digest(ix: Index) -> Iterator[Finding]:
    if ix.settings.protected is None:
        return  # `lint --path`: no environment says how strict to be
    severity: Severity = "error" if ix.settings.protected else "warning"
    for w, c in ix.containers():
        if c.image is not None and "@" not in str(c.image):
            found = at(
                w, RULE, c.image_path, f"container {c.name} image {c.image} has no @sha256 digest"
            )
            yield replace(found, severity=severity)
    for p in ix.patches:
        ops = p.data.get("kubernetes_json_patches")
        ops = ops.get("deployment") if isinstance(ops, dict) else None
        for i, op in enumerate(ops if isinstance(ops, list) else []):
            if not isinstance(op, dict) or op.get("path") != OUTPOST_IMAGE:
                continue
            image = op.get("value")
            if op.get("op") in ("add", "replace") and "@" not in str(image):
                found = located(
                    p,
                    RULE,
                    ("kubernetes_json_patches", "deployment", i, "value"),
                    f"outpost image {image} has no @sha256 digest",
                    p.ref,
                )
                yield replace(found, severity=severity)
        for c in from_patches(p).sidecars:
            if c.image is not None and "@" not in str(c.image):
                found = located(
                    p,
                    RULE,
                    c.image_path,
                    f"container {c.name} image {c.image} has no @sha256 digest",
                    p.ref,
                )
                yield replace(found, severity=severity)
