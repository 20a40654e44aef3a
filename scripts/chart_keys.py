#!/usr/bin/env python3
"""Derive the key list of an Authentik chart version from that chart's values.yaml.

Run once per chart version the repository pins; the output is committed under
``akops/data/`` and read by ``invoke lint`` (no network, no helm at lint time):

    python scripts/chart_keys.py /path/to/authentik-chart-2026.2.2-values.yaml 2026.2.2

Every key of the chart's values.yaml becomes a dotted path in ``keys``. Paths in
``open`` accept keys the chart does not list:

* maps and lists whose default is empty (``podAnnotations: {}``, ``env: []``,
  ``resources: {}``): the chart passes them to Kubernetes as they are;
* the subtrees in ``FREE_FORM`` below, which the chart hands on without knowing
  their keys (Authentik's own configuration, the PostgreSQL subchart, probes).

Known keys below an open path are still checked, so ``authentik.existingSecret``
stays strict while ``authentik.postgresql.conn_max_age`` is accepted.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

# Subtrees whose every mapping accepts unknown keys, and why.
FREE_FORM = {
    # Flattened into AUTHENTIK_* env vars; any Authentik setting is valid here.
    "authentik": True,
    # Values of the Bitnami PostgreSQL subchart (hundreds of keys, not this chart's).
    "postgresql": True,
    # Helm passes global.* to every subchart, which read their own keys from it.
    "global": False,
    # Probes are rendered with toYaml: any probe field (tcpSocket, grpc, …) works.
    "server.livenessProbe": True,
    "server.readinessProbe": True,
    "server.startupProbe": True,
    "worker.livenessProbe": True,
    "worker.readinessProbe": True,
    "worker.startupProbe": True,
    # Named routes: `main` is only the default one.
    "server.route": True,
}
# Below a free-form subtree, these stay strict (the chart itself reads them).
STRICT = {"authentik.existingSecret"}


def derive(values: Any) -> tuple[list[str], list[str]]:
    keys: set[str] = set()
    open_paths: set[str] = set()

    def visit(node: Any, path: str, free: bool) -> None:
        if path:
            keys.add(path)
            if path in FREE_FORM:
                free = FREE_FORM[path] or free
                open_paths.add(path)
            if path in STRICT:
                free = False
        if isinstance(node, dict):
            if not node or (free and path not in STRICT):
                open_paths.add(path)
            for key, value in node.items():
                visit(value, f"{path}.{key}" if path else str(key), free)
        elif isinstance(node, list):
            open_paths.add(path)

    visit(values, "", False)
    open_paths.discard("")
    return sorted(keys), sorted(open_paths)


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        print("usage: chart_keys.py VALUES_YAML CHART_VERSION", file=sys.stderr)
        return 2
    source, version = Path(argv[1]), argv[2]
    values = yaml.safe_load(source.read_text(encoding="utf-8"))
    keys, open_paths = derive(values)
    out = (
        Path(__file__).resolve().parent.parent
        / "akops"
        / "data"
        / f"authentik-chart-{version}-keys.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "chart": "authentik",
        "version": version,
        "derived_from": source.name,
        "keys": keys,
        "open": open_paths,
    }
    out.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    print(f"{out}: {len(keys)} keys, {len(open_paths)} open paths")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
