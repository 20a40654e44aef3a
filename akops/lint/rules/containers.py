"""Containers: requests and limits, probes, pinned images.

Rule: pure. File rules: each looks at one workload's containers (and the outpost's
patched container) at a time.
"""

from __future__ import annotations

from collections.abc import Iterator

from akops.lint.findings import INCIDENT_BOOT, Finding
from akops.lint.index import Index, at, located
from akops.lint.registry import rule
from akops.lint.settings import as_int
from akops.lint.workloads import SERVER, from_patches

MIGRATION_SECONDS = 60


@rule(
    "resources.requests",
    "error",
    "container without cpu and memory requests",
    hint="set resources.requests.cpu and resources.requests.memory",
    why="the scheduler packs pods without requests onto full nodes",
)
def resources_requests(ix: Index) -> Iterator[Finding]:
    targets = [(w.source, w.ref, c) for w, c in ix.containers()]
    targets += [(p, p.ref, from_patches(p).container) for p in ix.patches]
    for src, ref, c in targets:
        missing = [r for r in ("cpu", "memory") if c.request(r) in (None, "")]
        if missing:
            yield located(
                src,
                "resources.requests",
                c.resources_path,
                f"container {c.name} has no {' or '.join(missing)} request",
                ref,
            )


@rule(
    "resources.memory-limit",
    "error",
    "container without an explicit memory limit",
    hint="set resources.limits.memory (house preference: equal to the memory request)",
    why="the tier LimitRange defaults the limit to 256Mi and OOM-kills the container",
)
def resources_memory_limit(ix: Index) -> Iterator[Finding]:
    targets = [(w.source, w.ref, c) for w, c in ix.containers()]
    targets += [(p, p.ref, from_patches(p).container) for p in ix.patches]
    for src, ref, c in targets:
        if c.limit("memory") in (None, ""):
            yield located(
                src,
                "resources.memory-limit",
                c.resources_path,
                f"container {c.name} has no memory limit; the tier LimitRange gives it 256Mi",
                ref,
            )


@rule(
    "probes.missing",
    "error",
    "long-running container without readiness and liveness probes",
    hint="add readinessProbe and livenessProbe",
    why="PgBouncer pool failures went undetected until connection timeouts",
)
def probes_missing(ix: Index) -> Iterator[Finding]:
    for w, c in ix.containers():
        if not w.long_running:
            continue
        missing = [
            k for k, probe in (("readiness", c.readiness), ("liveness", c.liveness)) if not probe
        ]
        if missing:
            yield at(
                w,
                "probes.missing",
                c.path,
                f"container {c.name} has no {' and no '.join(missing)} probe",
            )


@rule(
    "probes.liveness-budget",
    "error",
    "Authentik server liveness budget shorter than a database migration",
    hint="failureThreshold x periodSeconds >= 60 s (e.g. 6 x 10 s, timeout 5 s)",
    why=INCIDENT_BOOT + ": liveness killed pods waiting on the migration lock",
)
def probes_liveness_budget(ix: Index) -> Iterator[Finding]:
    for w, c in ix.containers():
        if w.role != SERVER or not isinstance(c.liveness, dict) or not c.liveness:
            continue
        # Kubernetes' defaults, for an unset, zero or unreadable field alike.
        failures = as_int(c.liveness.get("failureThreshold")) or 3
        period = as_int(c.liveness.get("periodSeconds")) or 10
        if failures * period < MIGRATION_SECONDS:
            yield at(
                w,
                "probes.liveness-budget",
                c.probe_paths["liveness"],
                f"{w.ref} liveness gives up after {failures} x {period} s = {failures * period} s; "
                f"a pod waiting on the migration lock needs >= {MIGRATION_SECONDS} s",
            )


def image_problem(image: str) -> str | None:
    """Why ``image`` is not pinned, or None when it is (a digest or a version tag)."""
    if "@" in image:
        return None  # a digest pins exactly
    name = image.rsplit("/", 1)[-1]
    if ":" not in name:
        return "has no tag (means latest)"
    tag = name.rsplit(":", 1)[1]
    if tag == "latest" or not tag:
        return "uses the tag latest"
    return None


@rule(
    "image.pinned",
    "error",
    "image not pinned to a version",
    hint="use an explicit version tag or a digest, never `latest` or no tag",
    why=INCIDENT_BOOT + ": a chart/image version split rolled pods back",
)
def image_pinned(ix: Index) -> Iterator[Finding]:
    for w, c in ix.containers():
        if c.image is None:
            if not w.from_values:
                yield at(w, "image.pinned", c.path, f"container {c.name} names no image")
            continue
        problem = image_problem(str(c.image))
        if problem:
            yield at(
                w, "image.pinned", c.image_path, f"container {c.name} image {c.image} {problem}"
            )
