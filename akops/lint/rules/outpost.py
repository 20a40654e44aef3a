"""The embedded outpost's /dev/shm (the 2026-04-18 P0).

Rule: pure. File rule over the outpost's JSON patches and any outpost Deployment.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from akops.lint.findings import INCIDENT_SHM, Finding
from akops.lint.index import Index, at, located
from akops.lint.registry import rule
from akops.lint.workloads import OUTPOST, Container, from_patches
from akops.quantities import parse_quantity


def _shm_problem(volumes: list[dict[str, Any]], c: Container) -> str | None:
    mount = next((m for m in c.mounts if m.get("mountPath") == "/dev/shm"), None)
    if mount is None:
        return "nothing is mounted at /dev/shm (the 64 MB default fills with session files)"
    volume = next((v for v in volumes if v.get("name") == mount.get("name")), None)
    empty = volume.get("emptyDir") if volume else None
    if not isinstance(empty, dict) or empty.get("medium") != "Memory":
        return f"volume {mount.get('name')} at /dev/shm is not an emptyDir with medium Memory"
    size = parse_quantity(empty.get("sizeLimit"))
    if size is None:
        return f"emptyDir {mount.get('name')} at /dev/shm has no sizeLimit"
    limit = parse_quantity(c.limit("memory"))
    if limit is None or limit <= size:
        shown = c.limit("memory") or "none (the tier default 256Mi)"
        return (
            f"memory limit {shown} does not exceed the /dev/shm sizeLimit {empty.get('sizeLimit')}"
        )
    return None


@rule(
    "outpost.shm",
    "error",
    "outpost /dev/shm is not a sized Memory emptyDir below the memory limit",
    hint="mount an emptyDir {medium: Memory, sizeLimit} at /dev/shm and set a memory limit above it",
    why=INCIDENT_SHM,
)
def outpost_shm(ix: Index) -> Iterator[Finding]:
    for p in ix.patches:
        patched = from_patches(p)
        problem = _shm_problem([v for v, _ in patched.volumes], patched.container)
        if problem:
            yield located(
                p, "outpost.shm", ("kubernetes_json_patches",), f"{p.ref}: {problem}", p.ref
            )
    for w in ix.workloads:
        if w.role != OUTPOST or not w.containers:
            continue
        problem = _shm_problem(list(w.volumes), w.containers[0])
        if problem:
            yield at(w, "outpost.shm", w.volumes_path, f"{w.ref}: {problem}")
