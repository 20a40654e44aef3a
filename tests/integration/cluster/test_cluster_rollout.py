"""Rollout wait on the real control plane: watch requests, convergence by the real controller,
the deadline, ProgressDeadlineExceeded set by the real controller, and a watch broken by the
fault proxy (dropped, 500, stalled) or an API that stops answering for a while.

Each test's Deployment waits behind a node label of its own (``plane.gated_deployment``):
the rollout cannot progress until the test labels kwok's nodes, then the real scheduler and
controllers finish it. Crash loops and pod logs, which kwok's nodes do not produce, are in
``emulated/test_cluster_rollout_pods.py``.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from akops.cluster.connect import connect
from akops.cluster.rollout import wait_for
from akops.environment import Environment, load_environment
from akops.errors import ClusterError, RolloutFailed
from akops.layout import Layout

from .conftest import ENV, local_environment
from .plane import Plane, gated_deployment

pytestmark = pytest.mark.integration


@pytest.fixture
def env(repo: Layout, kubeconfig: Path, cluster: Plane) -> Iterator[Environment]:
    local_environment(repo, cluster.namespace)
    cluster.make_namespace()
    yield load_environment(ENV, repo.environments)
    cluster.label_nodes(cluster.gate(), None)


def console() -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, width=160, force_terminal=False), buf


def open_gate_when(cluster: Plane, ready: Any) -> threading.Thread:
    """Label the nodes (the rollout can finish) once ``ready()`` holds, from a thread."""

    def run() -> None:
        deadline = time.monotonic() + 120
        while not ready() and time.monotonic() < deadline:
            time.sleep(0.05)
        cluster.label_nodes(cluster.gate(), "go")

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_waits_by_watch_until_converged(env: Environment, cluster: Plane) -> None:
    cluster.create(gated_deployment(cluster.gate()), "deployments")
    out, buf = console()

    def watching() -> bool:
        return any(r.is_watch for r in cluster.requests("GET", "/deployments$"))

    open_gate_when(cluster, watching)
    with connect(env) as api:
        done = wait_for(api, cluster.namespace, ["pgbouncer"], timeout=120, console=out)
    assert [(p.name, p.converged, p.ready) for p in done] == [("pgbouncer", True, 2)]
    assert watching(), "the wait must use a watch"
    text = buf.getvalue()
    assert "rollout: Deployment/pgbouncer: converged" in text
    live = cluster.converged()
    assert live is not None and live["status"]["readyReplicas"] == 2


def test_deadline_names_what_did_not_converge(env: Environment, cluster: Plane) -> None:
    cluster.create(gated_deployment(cluster.gate()), "deployments")
    out, buf = console()
    with connect(env) as api, pytest.raises(RolloutFailed) as failed:
        # Long enough for the controller to make the pods and the scheduler to refuse them.
        wait_for(api, cluster.namespace, ["pgbouncer"], timeout=10, console=out, slice_seconds=1)
    message = str(failed.value)
    assert message.startswith("rollout did not converge within 10s: pgbouncer ("), message
    assert message.endswith("(pods not ready, their events and logs above)"), message
    # The real scheduler said why the pods wait, and the wait showed it.
    assert "FailedScheduling" in buf.getvalue(), buf.getvalue()


def test_missing_deployment_is_named(env: Environment, cluster: Plane) -> None:
    with (
        connect(env) as api,
        pytest.raises(RolloutFailed, match="Deployment/goauthentik-server not found"),
    ):
        wait_for(api, cluster.namespace, ["goauthentik-server"], timeout=5, console=console()[0])


@pytest.mark.parametrize("fault", [0, 500, -1], ids=["dropped", "error-500", "stalled"])
def test_a_broken_watch_is_re_established_until_convergence(
    env: Environment, cluster: Plane, fault: int
) -> None:
    cluster.create(gated_deployment(cluster.gate()), "deployments")
    # More broken watch requests than the client's own retries absorb (connect.ATTEMPTS):
    # the wait itself must re-list and watch again. The API answers lists all along.
    times = 3 if fault == -1 else 12
    broken = cluster.fail("GET", "/deployments$", fault, times=times, watch=True)
    out, buf = console()
    open_gate_when(cluster, lambda: broken.times == 0)
    with connect(env) as api:
        done = wait_for(
            api, cluster.namespace, ["pgbouncer"], timeout=180, console=out, slice_seconds=1
        )
    assert [(p.name, p.converged) for p in done] == [("pgbouncer", True)]
    assert broken.times == 0  # every broken watch was tried, none ended the wait
    if fault != -1:  # a stall looks like a quiet window: re-listed without a word
        assert "watch interrupted" in buf.getvalue()


def test_a_watch_cut_mid_stream_is_re_established(env: Environment, cluster: Plane) -> None:
    """The real answer starts (the first event goes out), then the connection breaks."""
    from harness.proxy import CUT

    cluster.create(gated_deployment(cluster.gate()), "deployments")
    cut = cluster.fail("GET", "/deployments$", CUT, times=4, watch=True)
    out, _ = console()
    open_gate_when(cluster, lambda: cut.times == 0)
    with connect(env) as api:
        done = wait_for(
            api, cluster.namespace, ["pgbouncer"], timeout=180, console=out, slice_seconds=1
        )
    assert [(p.name, p.converged) for p in done] == [("pgbouncer", True)]
    assert cut.times == 0


def test_an_api_that_stops_answering_does_not_end_the_wait_early(
    env: Environment, cluster: Plane
) -> None:
    cluster.create(gated_deployment(cluster.gate()), "deployments")
    # Every request after the first GET fails for a while: lists, watches, pods.
    failing = cluster.fail("GET", "/(deployments|pods)$", 503, times=15)
    out, buf = console()
    open_gate_when(cluster, lambda: failing.times == 0)
    with connect(env) as api:
        done = wait_for(
            api, cluster.namespace, ["pgbouncer"], timeout=180, console=out, slice_seconds=1
        )
    assert [(p.name, p.converged) for p in done] == [("pgbouncer", True)]
    text = buf.getvalue()
    assert "watch interrupted" in text and "the API answers again" in text


def test_an_api_gone_at_the_deadline_is_an_unknown_outcome(
    env: Environment, cluster: Plane
) -> None:
    cluster.create(gated_deployment(cluster.gate()), "deployments")
    cluster.fail("GET", "/(deployments|pods)$", 503, times=10_000)
    out, _ = console()
    with (
        connect(env) as api,
        pytest.raises(ClusterError, match="rollout outcome unknown after 2s"),
    ):
        wait_for(api, cluster.namespace, ["pgbouncer"], timeout=2, console=out, slice_seconds=1)


def test_progress_deadline_exceeded_set_by_the_controller_stops_the_wait_early(
    env: Environment, cluster: Plane
) -> None:
    # Pods that can never be placed, and a 2 s progress deadline: the real Deployment
    # controller marks it ProgressDeadlineExceeded long before the wait's own 600 s.
    cluster.create(gated_deployment(cluster.gate(), progressDeadlineSeconds=2), "deployments")
    out, _ = console()
    with connect(env) as api, pytest.raises(RolloutFailed) as failed:
        wait_for(api, cluster.namespace, ["pgbouncer"], timeout=600, console=out, slice_seconds=1)
    assert str(failed.value).startswith(
        'Deployment/pgbouncer: ProgressDeadlineExceeded: ReplicaSet "pgbouncer-'
    ), str(failed.value)
    assert "has timed out progressing" in str(failed.value)
    live = cluster.deployment()
    assert live is not None
    reasons = {c["type"]: c.get("reason") for c in live["status"]["conditions"]}
    assert reasons["Progressing"] == "ProgressDeadlineExceeded"
