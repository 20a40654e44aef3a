"""Rollout wait: watch requests, convergence, fail-fast with events and logs, deadline."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

import pytest
from rich.console import Console

from akops.cluster.connect import connect
from akops.cluster.rollout import wait_for
from akops.environment import Environment, load_environment
from akops.errors import ClusterError, RolloutFailed
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


def test_waits_by_watch_until_converged(env: Environment, cluster: Cluster) -> None:
    cluster.put(deployment(), "deployments")
    out, buf = console()

    def watching() -> bool:
        return any(
            r.params.get("watch") == "true" for r in cluster.requests("GET", "/deployments$")
        )

    def controller() -> None:
        while not watching():  # act like a controller once the wait is under way
            time.sleep(0.05)
        time.sleep(0.2)
        cluster.put(deployment(observed=2, ready=1), "deployments")
        time.sleep(0.3)
        cluster.put(deployment(observed=2, ready=2), "deployments")

    threading.Thread(target=controller, daemon=True).start()
    start = time.monotonic()
    with connect(env) as api:
        done = wait_for(api, "authentik", ["pgbouncer"], timeout=10, console=out)
    assert [(p.name, p.converged, p.ready) for p in done] == [("pgbouncer", True, 2)]
    assert time.monotonic() - start < 5  # woken by events, not by a poll interval
    assert watching(), "the wait must use a watch"
    text = buf.getvalue()
    assert "rollout: Deployment/pgbouncer: waiting for the controller" in text
    assert "rollout: Deployment/pgbouncer: 1/2 updated, 1 ready, 1 available" in text
    assert "rollout: Deployment/pgbouncer: converged" in text


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


def test_deadline_names_what_did_not_converge(env: Environment, cluster: Cluster) -> None:
    cluster.put(deployment(), "deployments")
    out, _ = console()
    start = time.monotonic()
    with connect(env) as api, pytest.raises(RolloutFailed) as failed:
        wait_for(api, "authentik", ["pgbouncer"], timeout=1.5, console=out, slice_seconds=1)
    assert str(failed.value) == (
        "rollout did not converge within 1.5s: pgbouncer (waiting for the controller) "
        "(pods not ready, their events and logs above)"
    )
    assert time.monotonic() - start < 4


def test_missing_deployment_is_named(env: Environment, cluster: Cluster) -> None:
    with (
        connect(env) as api,
        pytest.raises(RolloutFailed, match="Deployment/goauthentik-server not found"),
    ):
        wait_for(api, "authentik", ["goauthentik-server"], timeout=5, console=console()[0])


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


@pytest.mark.parametrize("fault", [0, 500, -1], ids=["dropped", "error-500", "stalled"])
def test_a_broken_watch_is_re_established_until_convergence(
    env: Environment, cluster: Cluster, fault: int
) -> None:
    cluster.put(deployment(), "deployments")
    # More broken watch requests than the client's own retries absorb (connect.ATTEMPTS):
    # the wait itself must re-list and watch again. The API answers lists all along.
    times = 3 if fault == -1 else 12
    cluster.fail("GET", "/deployments$", fault, times=times, watch=True)
    out, buf = console()

    def controller() -> None:
        while cluster.api.faults[0].times > 0:
            time.sleep(0.05)
        cluster.put(deployment(observed=2, ready=2), "deployments")

    threading.Thread(target=controller, daemon=True).start()
    with connect(env) as api:
        done = wait_for(api, "authentik", ["pgbouncer"], timeout=60, console=out, slice_seconds=1)
    assert [(p.name, p.converged) for p in done] == [("pgbouncer", True)]
    assert cluster.api.faults[0].times == 0  # every broken watch was tried, none ended the wait
    if fault != -1:  # a stall looks like a quiet window: re-listed without a word
        assert "watch interrupted" in buf.getvalue()


def test_an_api_that_stops_answering_does_not_end_the_wait_early(
    env: Environment, cluster: Cluster
) -> None:
    cluster.put(deployment(), "deployments")
    # Every request after the first GET fails for a while: lists, watches, pods.
    cluster.fail("GET", "/(deployments|pods)$", 503, times=15)
    out, buf = console()

    def controller() -> None:
        while cluster.api.faults[0].times > 0:
            time.sleep(0.05)
        cluster.put(deployment(observed=2, ready=2), "deployments")

    threading.Thread(target=controller, daemon=True).start()
    with connect(env) as api:
        done = wait_for(api, "authentik", ["pgbouncer"], timeout=60, console=out, slice_seconds=1)
    assert [(p.name, p.converged) for p in done] == [("pgbouncer", True)]
    text = buf.getvalue()
    assert "watch interrupted" in text and "the API answers again" in text


def test_an_api_gone_at_the_deadline_is_an_unknown_outcome(
    env: Environment, cluster: Cluster
) -> None:
    cluster.put(deployment(), "deployments")
    cluster.fail("GET", "/(deployments|pods)$", 503, times=10_000)
    out, _ = console()
    with connect(env) as api, pytest.raises(ClusterError, match="rollout outcome unknown after 2s"):
        wait_for(api, "authentik", ["pgbouncer"], timeout=2, console=out, slice_seconds=1)


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


def test_progress_deadline_exceeded_stops_the_wait_early(
    env: Environment, cluster: Cluster
) -> None:
    stuck = deployment(generation=3, observed=3, ready=1)
    stuck["status"]["conditions"] = [  # type: ignore[index]
        {
            "type": "Progressing",
            "status": "False",
            "reason": "ProgressDeadlineExceeded",
            "message": 'ReplicaSet "pgbouncer-7d9f" has timed out progressing.',
        }
    ]
    cluster.put(stuck, "deployments")
    cluster.put(unready_pod("pgbouncer-7d9f-x", reason="ContainerCreating"), "pods")
    out, buf = console()
    start = time.monotonic()
    with connect(env) as api, pytest.raises(RolloutFailed) as failed:
        wait_for(api, "authentik", ["pgbouncer"], timeout=600, console=out, slice_seconds=1)
    assert time.monotonic() - start < 10  # not the 600 s deadline
    assert str(failed.value).startswith(
        'Deployment/pgbouncer: ProgressDeadlineExceeded: ReplicaSet "pgbouncer-7d9f" has timed out'
    )
    assert "pod pgbouncer-7d9f-x, container pgbouncer: waiting, not ready (ContainerCreating)" in (
        buf.getvalue()
    )


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
