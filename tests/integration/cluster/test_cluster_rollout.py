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
from akops.errors import RolloutFailed
from akops.layout import Layout
from akops.secrets import Secrets

from .conftest import CANARY, ENV, emu_environment
from .emulator import Cluster

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
    assert (
        str(failed.value)
        == "rollout did not converge within 1.5s: pgbouncer (waiting for the controller)"
    )
    assert time.monotonic() - start < 4


def test_missing_deployment_is_named(env: Environment, cluster: Cluster) -> None:
    with (
        connect(env) as api,
        pytest.raises(RolloutFailed, match="Deployment/goauthentik-server not found"),
    ):
        wait_for(api, "authentik", ["goauthentik-server"], timeout=5, console=console()[0])
