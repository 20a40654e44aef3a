"""images.pinned on the real control plane: pods' image IDs, as their kubelet reports them,
against the pins.

The pods are bound to a node no kwok manages (so the status this test posts as their kubelet,
with the digest containerd resolved, is the one that stays), in a namespace of the test's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from akops import launch
from akops.cluster.call import call
from akops.layout import Layout
from akops.requests import VerifyRequest
from akops.verify import Status, VerifyReport, verify_environment

pytestmark = pytest.mark.integration

PINNED = "sha256:" + "5" * 64
UPDATED = "sha256:" + "6" * 64
PGB = "edoburu/pgbouncer:v1.24.1-p1"
AK = "ghcr.io/goauthentik/server:2026.2.2"
PODS = {  # name prefix: labels, container, image
    "goauthentik-server": ({"app.kubernetes.io/name": "authentik",
                            "app.kubernetes.io/component": "server"}, "server", AK),
    "goauthentik-worker": ({"app.kubernetes.io/name": "authentik",
                            "app.kubernetes.io/component": "worker"}, "worker", AK),
    "pgbouncer": ({"app": "pgbouncer"}, "pgbouncer", PGB),
}  # fmt: skip


def add_pod(
    api: Any, ns: str, name: str, labels: dict[str, str], container: str, image: str,
    digest: str,
) -> None:  # fmt: skip
    """A running pod whose kubelet reports ``digest`` for its image."""
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {"nodeName": "k8s-node-gone", "containers": [{"name": container, "image": image}]},
    }
    pods = f"/api/v1/namespaces/{ns}/pods"
    call(api, "POST", pods, what=f"Pod/{name}", body=body)
    repo = image.rpartition(":")[0]
    status = {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True"}],
        # What containerd reports: the image as asked for, the digest it resolved.
        "containerStatuses": [{"name": container, "image": f"docker.io/{image}",
                               "imageID": f"docker.io/{repo}@{digest}", "ready": True,
                               "restartCount": 0,
                               "state": {"running": {"startedAt": "2026-12-07T00:00:00Z"}}}],
    }  # fmt: skip
    call(
        api, "PATCH", f"{pods}/{name}/status", what=f"Pod/{name}", body={"status": status},
        content_type="application/strategic-merge-patch+json",
    )  # fmt: skip


def prod_on_the_plane(
    repo: Layout, ns: str, api: Any, differs: dict[str, str] | None = None
) -> Layout:
    """prod pinned by digest (test data in a scratch copy), aimed at ``ns`` on the plane, with
    three pods per workload running the pins (``differs``: pod name -> another digest)."""
    env_file = repo.environments / "prod.yaml"
    doc = yaml.safe_load(env_file.read_text())
    doc["kube"].update(context=launch.CONTEXT, namespace=ns, api_timeout=10)
    doc["pgbouncer"]["image"] = f"{PGB}@{PINNED}"
    doc["authentik"]["image_tag"] = f"2026.2.2@{PINNED}"
    env_file.write_text(yaml.safe_dump(doc, sort_keys=False))
    for prefix, (labels, container, image) in PODS.items():
        for i in range(3):
            name = f"{prefix}-{i}"
            digest = (differs or {}).get(name, PINNED)
            add_pod(api, ns, name, labels, container, image, digest)
    return repo


def verify(layout: Layout) -> VerifyReport:
    return verify_environment(
        layout,
        VerifyRequest(env="prod", target="cluster", timeout=5, deadline=0, only=("images.pinned",)),
    )


def test_pods_running_the_pinned_digests_pass(
    repo: Layout, fresh_namespace: str, kube_api: Any, plane_kubeconfig: Path
) -> None:
    report = verify(prod_on_the_plane(repo, fresh_namespace, kube_api))
    assert report.ok, report.to_text()
    rows = {r.target: r for r in report.results}
    assert set(rows) == {
        "server pods (authentik.image_tag)",
        "worker pods (authentik.image_tag)",
        "pgbouncer pods (pgbouncer.image)",
    }  # the outpost's image is Authentik's choice unless patched: not held to a pin
    assert rows["pgbouncer pods (pgbouncer.image)"].detail == (
        f"3 container(s) in 3 pod(s) run {PINNED}"
    )


def test_a_pod_running_another_digest_fails_naming_both(
    repo: Layout, fresh_namespace: str, kube_api: Any, plane_kubeconfig: Path
) -> None:
    layout = prod_on_the_plane(repo, fresh_namespace, kube_api, {"pgbouncer-1": UPDATED})
    report = verify(layout)
    assert not report.ok
    (bad,) = [r for r in report.results if r.status == Status.FAIL]
    assert bad.target == "pgbouncer pods (pgbouncer.image)"
    for part in ("1 of 3 container(s) differ", "pod pgbouncer-1 container pgbouncer",
                 f"runs {UPDATED}", f"pgbouncer.image pins {PINNED}",
                 "an image updater (Keel, diun) or a hand edit changed it"):  # fmt: skip
        assert part in bad.detail, (part, bad.detail)
    others = [r for r in report.results if r is not bad]
    assert all(r.status == Status.PASS for r in others)
