"""Pin the libraries each Go tool set shares with the control plane to the plane's versions.

Usage: ``python scripts/align_go_sets.py`` (needs ``go``); run it after changing any
``tools/go/*/go.mod``. Why and which modules keep their own version: ``akops/tools/gosets.py``;
``tests/unit/tooling/test_go_programs.py`` holds the sets to it.
"""

from __future__ import annotations

import os
import subprocess
import sys

from akops.tools.gosets import PLANE_SET, compiled_versions, pins_needed, shares_the_plane
from akops.tools.programs import PROGRAMS, SETS_DIR

TIMEOUT = 600.0


def main() -> int:
    plane = compiled_versions((SETS_DIR / PLANE_SET / "go.mod").read_text(encoding="utf-8"))
    env = dict(os.environ, GOFLAGS="-mod=mod", CGO_ENABLED="0")
    for folder in sorted(p for p in SETS_DIR.iterdir() if (p / "go.mod").is_file()):
        go_mod = folder / "go.mod"
        if folder.name == PLANE_SET or not shares_the_plane(go_mod.read_text(encoding="utf-8")):
            continue
        packages = [p.package for p in PROGRAMS.values() if p.module_set == folder.name]
        # Until nothing moves: a replacement's own go.mod can raise another shared module.
        while pins := pins_needed(
            folder.name, compiled_versions(go_mod.read_text(encoding="utf-8")), plane
        ):
            edits = [f"-replace={m}={m}@{v}" for m, v in pins.items()]
            subprocess.run(["go", "mod", "edit", *edits], cwd=folder, check=True, timeout=TIMEOUT)
            # Records the checksums the replacements need (a build is -mod=readonly).
            subprocess.run(
                ["go", "list", "-deps", *packages],
                cwd=folder,
                env=env,
                check=True,
                timeout=TIMEOUT,
                stdout=subprocess.DEVNULL,
            )
            print(f"{folder.name}: pinned {len(pins)} module(s)")
        print(f"{folder.name}: aligned with {PLANE_SET}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except FileNotFoundError as e:
        sys.exit(f"error: {e.filename}: not found (the pins are written with Go's `go mod edit`)")
    except subprocess.CalledProcessError as e:
        sys.exit(f"error: {' '.join(map(str, e.cmd[:3]))} failed with exit status {e.returncode}")
    except subprocess.TimeoutExpired as e:
        sys.exit(f"error: {' '.join(map(str, e.cmd[:3]))}: no answer within {e.timeout:g}s")
