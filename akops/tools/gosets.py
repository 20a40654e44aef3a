"""The Go module sets in ``tools/go/``: which versions a set compiles, and how the tool sets
follow the control plane's.

Rule: pure (parses ``go.mod`` text; no I/O).

The control plane's set (``PLANE_SET``) is by far the biggest build. The tool sets that compile
the same Kubernetes libraries (kwok, the config-reloader, np-guard's analyser) pin every module
they share with it to the plane's version with ``replace`` (``scripts/align_go_sets.py`` writes
the pins), so that the Go build cache reuses the plane's compiled packages instead of compiling
them again. The plane keeps exactly the versions its release pins; ``OWN_VERSIONS`` names the
modules a tool cannot be built with at the plane's version, each with why.
"""

from __future__ import annotations

import re

#: The control plane's module set (tools/go/kube).
PLANE_SET = "kube"

#: set -> {module: why it keeps its own version}.
OWN_VERSIONS: dict[str, dict[str, str]] = {
    "prometheus-config-reloader": {
        "github.com/prometheus/common": "prometheus v0.305's util/logging needs promslog.NewFormat",
    },
}

_BLOCK = re.compile(r"^(require|replace)\s*\(\s*$")
_REQUIRE = re.compile(r"^(\S+)\s+(v\S+)")
_REPLACE = re.compile(r"^(\S+)(?:\s+v\S+)?\s+=>\s+(\S+)\s+(v\S+)")


def compiled_versions(go_mod: str) -> dict[str, str]:
    """module -> the version a build of this ``go.mod`` compiles: the required one, or the
    replacement's when a ``replace`` names a version (a local-folder replacement is left out)."""
    required: dict[str, str] = {}
    replaced: dict[str, str] = {}
    block = ""
    for raw in go_mod.splitlines():
        line = raw.split("//", 1)[0].strip()
        if not line:
            continue
        if block:
            if line == ")":
                block = ""
                continue
            kind, body = block, line
        elif m := _BLOCK.match(line):
            block = m.group(1)
            continue
        else:
            kind, _, body = line.partition(" ")
            body = body.strip()
        if kind == "require" and (r := _REQUIRE.match(body)):
            required[r.group(1)] = r.group(2)
        elif kind == "replace" and (r := _REPLACE.match(body)):
            replaced[r.group(1)] = r.group(3)
    required.update(replaced)
    return required


def shares_the_plane(go_mod: str) -> bool:
    """Whether a set compiles the Kubernetes libraries the plane does (and so must follow it)."""
    return "k8s.io/apimachinery" in compiled_versions(go_mod)


def pins_needed(set_name: str, own: dict[str, str], plane: dict[str, str]) -> dict[str, str]:
    """module -> the plane's version, for each module the set compiles at another version than
    the plane (its ``OWN_VERSIONS`` and the plane's unversioned staging requirements aside)."""
    keep = OWN_VERSIONS.get(set_name, {})
    return {
        m: plane[m]
        for m, v in sorted(own.items())
        if m in plane and plane[m] not in (v, "v0.0.0") and m not in keep
    }
