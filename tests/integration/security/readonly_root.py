"""Run a command the way a restricted pod runs it: read-only root, tmpfs only at emptyDirs.

Rule: I/O (mounts, exec). Run as ``unshare --mount -- python3 readonly_root.py SPEC``
(root), where SPEC is JSON::

    {"binds": [[source, target, mode, uid, gid]], "tmpfs": [target, ...], "dirs": [dir, ...],
     "scratch": dir, "user": uid, "group": gid, "groups": [gid, ...], "argv": [...]}

In its own mount namespace (nothing propagates back to the host) it bind-mounts each
source file read-only at its target (a ConfigMap or Secret ``subPath`` mount), mounts a
fresh tmpfs at each emptyDir target, remounts every other filesystem read-only (the
kernel's /proc, /sys and /dev aside, as a container runtime provides them), then execs
``argv`` as ``user``:``group`` with supplementary ``groups`` (the pod's fsGroup) and no
capabilities. ``dirs`` are directories the container image has (they exist, read-only,
whether or not an emptyDir covers them). A mount point or directory missing on this machine is created in a read-only overlay
of its parent whose writable layer lives in ``scratch``, so the host is never written.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

KERNEL = ("/proc", "/sys", "/dev")


def run(*argv: str) -> None:
    subprocess.run(argv, check=True, timeout=30)


def mount_points() -> list[str]:
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point not in points:
            points.append(point)
    return points


def ensure(target: Path, is_dir: bool, scratch: Path, overlays: list[str]) -> None:
    """Make ``target`` exist inside this namespace only (an overlay over its parent)."""
    if target.exists():
        return
    parent = target.parent
    ensure(parent, True, scratch, overlays)
    if str(parent) not in overlays:
        layer = scratch / f"layer{len(overlays)}"
        (layer / "upper").mkdir(parents=True)
        (layer / "work").mkdir()
        run(
            "mount", "-t", "overlay", "overlay", "-o",
            f"lowerdir={parent},upperdir={layer / 'upper'},workdir={layer / 'work'}", str(parent),
        )  # fmt: skip
        overlays.append(str(parent))
    if is_dir:
        target.mkdir()
    else:
        target.touch()


def main(spec: dict[str, object]) -> None:
    scratch = Path(str(spec["scratch"]))
    run("mount", "--make-rprivate", "/")
    run("mount", "-t", "tmpfs", "-o", "size=16m,mode=700", "scratch", str(scratch))
    overlays: list[str] = []
    binds = [tuple(b) for b in spec["binds"]]  # type: ignore[attr-defined]
    tmpfs = [os.path.realpath(str(t)) for t in spec["tmpfs"]]  # type: ignore[attr-defined]
    staged = scratch / "files"
    staged.mkdir()
    for d in spec["dirs"]:  # type: ignore[attr-defined]
        ensure(Path(os.path.realpath(str(d))), True, scratch, overlays)
    for i, (source, target, mode, uid, gid) in enumerate(binds):
        # A copy on the scratch tmpfs with the Secret/ConfigMap volume's owner and mode.
        copy = staged / str(i)
        copy.write_bytes(Path(source).read_bytes())
        os.chown(copy, uid, gid)
        copy.chmod(mode)
        real = Path(os.path.realpath(target))
        ensure(real, False, scratch, overlays)
        run("mount", "--bind", str(copy), str(real))
    for target in tmpfs:
        ensure(Path(target), True, scratch, overlays)
        # An emptyDir: world-writable like the kubelet's, owned by the fsGroup.
        run("mount", "-t", "tmpfs", "-o", f"size=1m,mode=2777,gid={spec['groups'][0]}",  # type: ignore[index]
            "emptydir", target)  # fmt: skip
    for point in reversed(mount_points()):
        if point in tmpfs or any(point == k or point.startswith(k + "/") for k in KERNEL):
            continue
        run("mount", "-o", "remount,bind,ro", point)
    groups = ",".join(str(g) for g in spec["groups"])  # type: ignore[attr-defined]
    argv = [str(a) for a in spec["argv"]]  # type: ignore[attr-defined]
    os.execvp(
        "setpriv",
        [
            "setpriv",
            f"--reuid={spec['user']}",
            f"--regid={spec['group']}",
            f"--groups={groups}",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--no-new-privs",
            *argv,
        ],
    )


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
