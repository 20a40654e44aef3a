"""`invoke plan` shows image drift: pods running another digest than the environment pins."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from akops.layout import Layout
from akops.ops import operations as ops
from akops.requests import PlanRequest

from .conftest import ENV, local_environment
from .plane import Plane

PINNED = "sha256:" + "7" * 64
UPDATED = "sha256:" + "8" * 64
IMAGE = "edoburu/pgbouncer:v1.24.1-p1"


def pgbouncer_pod(cluster: Plane, name: str, digest: str) -> None:
    """A PgBouncer pod whose kubelet reports it runs ``digest`` (the pod is bound to a node no
    kwok manages, so the status the test posts as its kubelet is the one that stays)."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "pgbouncer"}},
        "spec": {
            "nodeName": "k8s-node-gone",
            "containers": [{"name": "pgbouncer", "image": f"{IMAGE}@{PINNED}"}],
        },
    }
    created = cluster.create(pod, "pods")
    status = {
        "phase": "Running",
        "containerStatuses": [
            {
                "name": "pgbouncer",
                "image": f"docker.io/{IMAGE}",
                "imageID": f"docker.io/edoburu/pgbouncer@{digest}",
                "ready": True,
                "restartCount": 0,
                "state": {"running": {"startedAt": "2026-12-07T00:00:00Z"}},
            }
        ],
    }
    cluster.pod_status(created, status)


@pytest.fixture
def pinned(repo: Layout, kubeconfig: Path, canary: str, cluster: Plane) -> Layout:
    local_environment(repo, cluster.namespace, pgbouncer__image=f"{IMAGE}@{PINNED}")
    cluster.make_namespace()
    return repo


def test_plan_names_a_pod_that_runs_another_digest(pinned: Layout, cluster: Plane) -> None:
    pgbouncer_pod(cluster, "pgbouncer-0", PINNED)
    pgbouncer_pod(cluster, "pgbouncer-1", UPDATED)
    plan = ops.plan_env(pinned, PlanRequest(env=ENV, skip_helm=True))
    assert len(plan.image_drift) == 1
    (line,) = plan.image_drift
    for part in ("pod pgbouncer-1 container pgbouncer", f"runs {UPDATED}",
                 f"pgbouncer.image pins {PINNED}", "image updater"):  # fmt: skip
        assert part in line
    text = plan.to_text()
    assert "Image drift: 1 container(s) run another image than the environment pins" in text
    assert f"  ! {line}" in text
    # Drift is shown, not planned: it adds nothing to the plan's own changes.
    assert plan.summary() == replace(plan, image_drift=()).summary()
    assert plan.has_changes == replace(plan, image_drift=()).has_changes


def test_no_drift_when_pods_run_the_pins(pinned: Layout, cluster: Plane) -> None:
    pgbouncer_pod(cluster, "pgbouncer-0", PINNED)
    plan = ops.plan_env(pinned, PlanRequest(env=ENV, skip_helm=True))
    assert plan.image_drift == ()
    assert "Image drift" not in plan.to_text()
