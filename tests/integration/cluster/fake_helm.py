"""A stand-in ``helm`` program for tests: the subcommands akops uses, state in a JSON file.

It is a real executable run as a subprocess (PATH lookup, argv, exit status, stdout,
stderr), so the wiring of ``akops.cluster.helm`` is exercised end to end without a
cluster. State lives in ``$FAKE_HELM_STATE``; every invocation's argv is recorded.

With ``$FAKE_HELM_REAL`` (the real helm), what a real helm can do without a cluster
(``template``, ``pull``, ``package``, ``repo``, ``version``) is handed to it, and
``upgrade`` applies the real chart's objects (real ``helm template`` of the chart it was
given). Otherwise, like the chart, ``upgrade`` and ``rollback`` create or update the Deployments
``<release>-server`` and ``<release>-worker`` in the cluster ``$KUBECONFIG`` and
``--kube-context`` point at (server-side apply as field manager ``helm``), and return
without waiting for them, as helm does without ``--wait``.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml


def option(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args else None


def _cluster(argv: list[str]) -> tuple[str, str]:
    """(API server URL, bearer token) of the kube context helm was given."""
    config = yaml.safe_load(Path(os.environ["KUBECONFIG"].split(os.pathsep)[0]).read_text())
    name = option(argv, "--kube-context") or config["current-context"]
    context = next(c["context"] for c in config["contexts"] if c["name"] == name)
    server = next(
        c["cluster"]["server"] for c in config["clusters"] if c["name"] == context["cluster"]
    )
    user = next(u["user"] for u in config["users"] if u["name"] == context["user"])
    return server, str(user.get("token", ""))


def apply_chart(argv: list[str], release: str, version: str, values: dict[str, Any]) -> None:
    """The chart's Deployments, as the release's values make them."""
    server, token = _cluster(argv)
    namespace = option(argv, "--namespace") or "default"
    tag = ((values.get("global") or {}).get("image") or {}).get("tag") or version
    digest = hashlib.sha256(json.dumps([version, values], sort_keys=True).encode()).hexdigest()
    for component in ("server", "worker"):
        labels = {
            "app.kubernetes.io/name": "authentik",
            "app.kubernetes.io/instance": release,
            "app.kubernetes.io/component": component,
        }
        name = f"{release}-{component}"
        body = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": {**labels, "helm.sh/chart": f"authentik-{version}"},
            },
            "spec": {
                "replicas": (values.get(component) or {}).get("replicas", 1),
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels, "annotations": {"checksum/values": digest}},
                    "spec": {
                        "containers": [
                            {"name": component, "image": f"ghcr.io/goauthentik/server:{tag}"}
                        ]
                    },
                },
            },
        }
        request = urllib.request.Request(
            f"{server}/apis/apps/v1/namespaces/{namespace}/deployments/{name}"
            "?fieldManager=helm&force=true",
            data=json.dumps(body).encode(),
            method="PATCH",
            headers={
                "Content-Type": "application/apply-patch+yaml",
                "Authorization": f"Bearer {token}",
            },
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            response.read()


# Where the chart's namespaced kinds live (the real chart's objects, with $FAKE_HELM_REAL).
PATHS = {
    "Deployment": "apis/apps/v1/namespaces/{ns}/deployments/{name}",
    "Service": "api/v1/namespaces/{ns}/services/{name}",
    "PodDisruptionBudget": "apis/policy/v1/namespaces/{ns}/poddisruptionbudgets/{name}",
    "ConfigMap": "api/v1/namespaces/{ns}/configmaps/{name}",
    "Secret": "api/v1/namespaces/{ns}/secrets/{name}",
    "ServiceAccount": "api/v1/namespaces/{ns}/serviceaccounts/{name}",
}


def apply_real_chart(argv: list[str], real: str) -> None:
    """What `helm upgrade` sends: the real chart's objects (real `helm template`), as manager helm."""
    server, token = _cluster(argv)
    namespace = option(argv, "--namespace") or "default"
    keep = ("--repo", "--version", "--values", "--namespace")
    args = [a for k in keep if (v := option(argv, k)) for a in (k, v)]
    out = subprocess.run(
        [real, "template", argv[2], argv[3], *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    for body in yaml.safe_load_all(out):
        if not isinstance(body, dict) or body.get("kind") not in PATHS:
            continue
        body["metadata"]["namespace"] = namespace
        where = PATHS[body["kind"]].format(ns=namespace, name=body["metadata"]["name"])
        request = urllib.request.Request(
            f"{server}/{where}?fieldManager=helm&force=true",
            data=json.dumps(body).encode(),
            method="PATCH",
            headers={
                "Content-Type": "application/apply-patch+yaml",
                "Authorization": f"Bearer {token}",
            },
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            response.read()


def main(argv: list[str]) -> int:
    real = os.environ.get("FAKE_HELM_REAL")
    if real and argv and argv[0] in ("template", "pull", "package", "repo", "version"):
        # What a real helm can do without a cluster, the real helm does.
        os.execv(real, [real, *argv])
    path = Path(os.environ["FAKE_HELM_STATE"])
    state: dict[str, Any] = (
        json.loads(path.read_text()) if path.exists() else {"calls": [], "history": []}
    )
    state["calls"].append(argv)
    history: list[dict[str, Any]] = state["history"]
    try:
        cmd = argv[0]
        if cmd == "list":
            current = history[-1] if history else None
            out: Any = (
                [
                    {
                        "name": "goauthentik",
                        "chart": f"authentik-{current['version']}",
                        "revision": current["revision"],
                    }
                ]
                if current
                else []
            )
            print(json.dumps(out))
        elif cmd == "get" and argv[1] == "values":
            if not history:
                print("Error: release: not found", file=sys.stderr)
                return 1
            print(json.dumps(history[-1]["values"]))
        elif cmd == "upgrade":
            values = yaml.safe_load(Path(option(argv, "--values") or "").read_text())
            version = option(argv, "--version") or ""
            if real:
                apply_real_chart(argv, real)
            else:
                apply_chart(argv, argv[2], version, values)
            revision = len(history) + 1
            history.append({"revision": revision, "version": version, "values": values})
            print(f'Release "goauthentik" has been upgraded. REVISION: {revision}')
        elif cmd == "history":
            print(
                json.dumps(
                    [
                        {"revision": h["revision"], "chart": f"authentik-{h['version']}"}
                        for h in history
                    ]
                )
            )
        elif cmd == "rollback":
            if len(history) < 2:
                print("Error: no revision to roll back to", file=sys.stderr)
                return 1
            prev = history[-2]
            apply_chart(argv, argv[1], prev["version"], prev["values"])
            history.append({**prev, "revision": len(history) + 1})
            print("Rollback was a success! Happy Helming!")
        else:
            print(f"Error: unknown command {cmd!r}", file=sys.stderr)
            return 1
    except (OSError, urllib.error.URLError) as e:
        print(f"Error: Kubernetes cluster unreachable: {e}", file=sys.stderr)
        return 1
    finally:
        path.write_text(json.dumps(state))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
