"""images.pinned against the Kubernetes API emulator: pods' image IDs against the pins."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from akops.layout import Layout
from akops.requests import VerifyRequest
from akops.verify import Status, VerifyReport, verify_environment
from harness.emulator import Cluster

pytestmark = pytest.mark.integration

NS = "authentik"
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


def pod(
    name: str, labels: dict[str, str], container: str, image: str, digest: str
) -> dict[str, Any]:
    repo = image.rpartition(":")[0]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, "labels": labels},
        "spec": {"nodeName": "node0", "containers": [{"name": container, "image": image}]},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}],
            # What containerd reports: the image as asked for, the digest it resolved.
            "containerStatuses": [{"name": container, "image": f"docker.io/{image}",
                                   "imageID": f"docker.io/{repo}@{digest}",
                                   "state": {"running": {}}}],
        },
    }  # fmt: skip


@pytest.fixture
def cluster(repo: Layout, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    """prod pinned by digest (test data in a scratch copy) and its pods in the emulator."""
    emulator = Cluster().start()
    try:
        env_file = repo.environments / "prod.yaml"
        doc = yaml.safe_load(env_file.read_text())
        doc["kube"].update(context="emulator", api_timeout=3)
        doc["pgbouncer"]["image"] = f"{PGB}@{PINNED}"
        doc["authentik"]["image_tag"] = f"2026.2.2@{PINNED}"
        env_file.write_text(yaml.safe_dump(doc, sort_keys=False))
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(yaml.safe_dump(emulator.kubeconfig("emulator")))
        monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
        for prefix, (labels, container, image) in PODS.items():
            for i in range(3):
                emulator.put(pod(f"{prefix}-{i}", labels, container, image, PINNED), "pods")
        emulator.layout = repo  # type: ignore[attr-defined]
        yield emulator
    finally:
        emulator.stop()


def verify(cluster: Cluster) -> VerifyReport:
    return verify_environment(
        cluster.layout,  # type: ignore[attr-defined]
        VerifyRequest(env="prod", target="cluster", timeout=5, deadline=0, only=("images.pinned",)),
    )


def test_pods_running_the_pinned_digests_pass(cluster: Cluster) -> None:
    report = verify(cluster)
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


def test_a_pod_running_another_digest_fails_naming_both(cluster: Cluster) -> None:
    labels, container, image = PODS["pgbouncer"]
    cluster.put(pod("pgbouncer-1", labels, container, image, UPDATED), "pods")
    report = verify(cluster)
    assert not report.ok
    (bad,) = [r for r in report.results if r.status == Status.FAIL]
    assert bad.target == "pgbouncer pods (pgbouncer.image)"
    for part in ("1 of 3 container(s) differ", "pod pgbouncer-1 container pgbouncer",
                 f"runs {UPDATED}", f"pgbouncer.image pins {PINNED}",
                 "an image updater (Keel, diun) or a hand edit changed it"):  # fmt: skip
        assert part in bad.detail, (part, bad.detail)
    others = [r for r in report.results if r is not bad]
    assert all(r.status == Status.PASS for r in others)
