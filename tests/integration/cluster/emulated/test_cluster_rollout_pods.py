"""Rollout wait on pod states the plane's kwok nodes do not produce (harness/__init__.py).

A container in CrashLoopBackOff with its logs, a running pod that never becomes ready with
its logs (kwok's nodes serve no kubelet API for logs, and report every container running
and ready), and a Deployment status the real controller would overwrite at once (a
ProgressDeadlineExceeded left from an older spec). Everything else about the wait runs on
the real control plane: ../test_cluster_rollout.py.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from rich.console import Console

from akops.cluster.connect import connect
from akops.cluster.rollout import wait_for
from akops.environment import Environment, load_environment
from akops.errors import RolloutFailed
from akops.layout import Layout
from akops.secrets import Secrets
from harness.emulator import Cluster

from .conftest import CANARY, ENV, emu_environment

pytestmark = pytest.mark.integration


@pytest.fixture
def env(repo: Layout, kubeconfig: Path) -> Environment:
    emu_environment(repo)
    return load_environment(ENV, repo.environments)


def deployment(generation: int = 2, observed: int = 1, ready: int = 0) -> dict[str, object]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "pgbouncer", "namespace": "authentik", "generation": generation},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "pgbouncer"}}},
        "status": {
            "observedGeneration": observed,
            "updatedReplicas": ready,
            "readyReplicas": ready,
            "availableReplicas": ready,
        },
    }


def console() -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, width=120, force_terminal=False), buf


def test_crash_loop_fails_fast_with_events_and_masked_logs(
    env: Environment, cluster: Cluster
) -> None:
    cluster.put(deployment(), "deployments")
    cluster.put(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "pgbouncer-7d9f-abcde",
                "namespace": "authentik",
                "labels": {"app": "pgbouncer"},
            },
            "status": {
                "containerStatuses": [
                    {
                        "name": "pgbouncer",
                        "state": {
                            "waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}
                        },
                    }
                ]
            },
        },
        "pods",
    )
    cluster.put(
        {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": "ev1", "namespace": "authentik"},
            "involvedObject": {"kind": "Pod", "name": "pgbouncer-7d9f-abcde"},
            "type": "Warning",
            "reason": "BackOff",
            "message": "Back-off restarting failed container",
        },
        "events",
    )
    cluster.api.logs["pgbouncer-7d9f-abcde"] = (
        f"starting\nFATAL password authentication failed: {CANARY}\n"
    )
    out, buf = console()
    start = time.monotonic()
    with connect(env) as api, pytest.raises(RolloutFailed) as failed:
        wait_for(
            api, "authentik", ["pgbouncer"], timeout=30, console=out, secrets=Secrets({"p": CANARY})
        )
    assert time.monotonic() - start < 3
    assert str(failed.value) == (
        "Deployment/pgbouncer: pod pgbouncer-7d9f-abcde container pgbouncer is in CrashLoopBackOff; "
        "rollout stopped (events and logs above)"
    )
    text = buf.getvalue()
    assert "Warning BackOff: Back-off restarting failed container" in text
    assert "FATAL password authentication failed: ***" in text
    assert CANARY not in text
    logs = cluster.requests("GET", "/pods/pgbouncer-7d9f-abcde/log$")
    assert logs and logs[0].params == {
        "container": "pgbouncer",
        "tailLines": "20",
        "previous": "true",
    }


def unready_pod(name: str, reason: str = "") -> dict[str, object]:
    running = {"running": {"startedAt": "2026-11-30T09:00:00Z"}}
    waiting = {"waiting": {"reason": reason, "message": "back-off"}}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "authentik", "labels": {"app": "pgbouncer"}},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "False"}],
            "containerStatuses": [
                {"name": "pgbouncer", "ready": False, "state": waiting if reason else running}
            ],
        },
    }


def event(name: str, pod: str, reason: str, message: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": "authentik"},
        "involvedObject": {"kind": "Pod", "name": pod},
        "type": "Warning",
        "reason": reason,
        "message": message,
    }


def test_pods_never_ready_show_their_events_and_logs_at_the_deadline(
    env: Environment, cluster: Cluster
) -> None:
    cluster.put(deployment(observed=2, ready=0), "deployments")
    cluster.put(unready_pod("pgbouncer-aaa-1"), "pods")
    cluster.put(
        event("ev-r", "pgbouncer-aaa-1", "Unhealthy", "Readiness probe failed: dial tcp :6432"),
        "events",
    )
    cluster.api.logs["pgbouncer-aaa-1"] = f"listening\nauth failed for {CANARY}\n"
    out, buf = console()
    with connect(env) as api, pytest.raises(RolloutFailed) as failed:
        wait_for(
            api,
            "authentik",
            ["pgbouncer"],
            timeout=2,
            console=out,
            secrets=Secrets({"p": CANARY}),
            slice_seconds=1,
        )
    assert "did not converge within 2s" in str(failed.value)
    text = buf.getvalue()
    assert "pod pgbouncer-aaa-1, container pgbouncer: running, not ready" in text
    assert "Warning Unhealthy: Readiness probe failed: dial tcp :6432" in text
    assert "auth failed for ***" in text and CANARY not in text


def test_a_stale_progress_deadline_of_an_older_spec_does_not_stop_the_wait(
    env: Environment, cluster: Cluster
) -> None:
    old = deployment(generation=4, observed=3, ready=2)
    old["status"]["conditions"] = [  # type: ignore[index]
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
    ]
    cluster.put(old, "deployments")
    out, _ = console()
    with connect(env) as api, pytest.raises(RolloutFailed, match=r"did not converge within 1\.5s"):
        wait_for(api, "authentik", ["pgbouncer"], timeout=1.5, console=out, slice_seconds=1)
