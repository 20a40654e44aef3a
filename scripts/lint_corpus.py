#!/usr/bin/env python3
"""Generate the lint benchmark corpus: distinct apps, 50 documents a file.

Each app is a Deployment, a Service, a ConfigMap and a PodDisruptionBudget with its
own name, pod labels, selector and PDB (so no lookup can get lucky by matching the
first PDB), written as realistic manifests: requests and limits, probes, a pinned
image, anti-affinity on its own pods, env and a config file. Deterministic: the same
arguments give the same bytes.

    python scripts/lint_corpus.py OUT_DIR --docs 10000
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

PER_FILE = 50
KINDS_PER_APP = 4


def app(i: int) -> Iterator[dict[str, Any]]:
    name = f"app-{i:05d}"
    team = f"team-{i % 17}"
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": team}
    selector = {"app.kubernetes.io/name": name}
    yield {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": team, "labels": labels},
        "spec": {
            "replicas": 2 + i % 3,
            "selector": {"matchLabels": selector},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
            },
            "template": {
                "metadata": {
                    "labels": labels,
                    "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "8080"},
                },
                "spec": {
                    "affinity": {
                        "podAntiAffinity": {
                            "preferredDuringSchedulingIgnoredDuringExecution": [
                                {
                                    "weight": 100,
                                    "podAffinityTerm": {
                                        "labelSelector": {"matchLabels": selector},
                                        "topologyKey": "kubernetes.io/hostname",
                                    },
                                }
                            ]
                        }
                    },
                    "containers": [
                        {
                            "name": "app",
                            "image": f"registry.example.com/{team}/{name}:1.{i % 40}.{i % 7}",
                            "ports": [{"name": "http", "containerPort": 8080}],
                            "env": [
                                {"name": "LOG_LEVEL", "value": "info"},
                                {"name": "APP_NAME", "value": name},
                                {
                                    "name": "DB_PASSWORD",
                                    "valueFrom": {
                                        "secretKeyRef": {"name": f"{name}-db", "key": "password"}
                                    },
                                },
                            ],
                            "resources": {
                                "requests": {"cpu": "100m", "memory": f"{128 + 64 * (i % 4)}Mi"},
                                "limits": {"memory": f"{128 + 64 * (i % 4)}Mi"},
                            },
                            "readinessProbe": {
                                "httpGet": {"path": "/ready", "port": "http"},
                                "periodSeconds": 10,
                            },
                            "livenessProbe": {
                                "httpGet": {"path": "/live", "port": "http"},
                                "periodSeconds": 10,
                                "failureThreshold": 6,
                            },
                            "volumeMounts": [{"name": "config", "mountPath": "/etc/app"}],
                        }
                    ],
                    "volumes": [{"name": "config", "configMap": {"name": f"{name}-config"}}],
                },
            },
        },
    }
    yield {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": team, "labels": labels},
        "spec": {
            "type": "ClusterIP",
            "selector": selector,
            "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
        },
    }
    yield {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"{name}-config", "namespace": team, "labels": labels},
        "data": {
            "app.conf": f"listen = 0.0.0.0:8080\nworkers = {1 + i % 4}\nname = {name}\n",
            "feature-flags": "search,export",
        },
    }
    yield {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "namespace": team, "labels": labels},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": selector}},
    }


def documents(n: int) -> Iterator[dict[str, Any]]:
    i = 0
    made = 0
    while made < n:
        for doc in app(i):
            if made == n:
                return
            yield doc
            made += 1
        i += 1


def write(out: Path, n: int) -> int:
    """Write ``n`` documents under ``out`` in files of 50; returns the number of files."""
    out.mkdir(parents=True, exist_ok=True)
    batch: list[dict[str, Any]] = []
    files = 0
    for doc in documents(n):
        batch.append(doc)
        if len(batch) == PER_FILE:
            files += 1
            _dump(out / f"apps-{files:04d}.yaml", batch)
            batch = []
    if batch:
        files += 1
        _dump(out / f"apps-{files:04d}.yaml", batch)
    return files


def _dump(path: Path, docs: list[dict[str, Any]]) -> None:
    path.write_text(
        yaml.safe_dump_all(docs, sort_keys=False, explicit_start=True, width=120),
        encoding="utf-8",
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="directory to write (created)")
    parser.add_argument("--docs", type=int, default=1000, help="number of documents")
    args = parser.parse_args()
    files = write(args.out, args.docs)
    print(f"{args.out}: {args.docs} documents in {files} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
