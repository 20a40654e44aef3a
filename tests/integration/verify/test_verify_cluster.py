"""verify --target cluster against the Kubernetes API emulator (tests/integration/cluster).

The API side is real wiring (pods by label, Deployments, PDBs through
``akops.cluster.connect``); ``kubectl exec`` cannot reach an emulator, so ``kubectl`` on
PATH is a stand-in that records where it was sent and runs the command on this machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from akops.layout import Layout
from akops.requests import VerifyRequest
from akops.verify import Status, VerifyReport, verify_environment

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the emulator's package
from harness.emulator import Cluster

pytestmark = pytest.mark.integration

NS = "authentik"
FAKE_KUBECTL = """#!/bin/sh
printf '%s\\n' "$*" >> "$KUBECTL_LOG"
while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do shift; done
shift
exec "$@"
"""
ROLES = {
    "goauthentik-server": {
        "app.kubernetes.io/name": "authentik",
        "app.kubernetes.io/component": "server",
    },
    "goauthentik-worker": {
        "app.kubernetes.io/name": "authentik",
        "app.kubernetes.io/component": "worker",
    },
    "pgbouncer": {"app": "pgbouncer"},
    "ak-outpost-authentik-embedded-outpost": {
        "goauthentik.io/outpost-name": "authentik-embedded-outpost"
    },
}


def deployment(name: str, replicas: int, ready: int | None = None) -> dict[str, Any]:
    ready = replicas if ready is None else ready
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS, "generation": 2},
        "spec": {"replicas": replicas},
        "status": {"observedGeneration": 2, "replicas": replicas, "updatedReplicas": ready,
                   "readyReplicas": ready, "availableReplicas": ready},
    }  # fmt: skip


def pod(name: str, labels: dict[str, str], node: str, waiting: str | None = None) -> dict[str, Any]:
    state = {"waiting": {"reason": waiting}} if waiting else {"running": {}}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, "labels": labels},
        "spec": {"nodeName": node},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "False" if waiting else "True"}],
            "containerStatuses": [{"name": "main", "state": state}],
        },
    }


def pdb(name: str, allowed: int = 1, **budget: int) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "namespace": NS},
        "spec": budget,
        "status": {"disruptionsAllowed": allowed},
    }


@pytest.fixture
def emulated(repo: Layout, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A healthy prod stack in the emulator, KUBECONFIG and a recording kubectl on PATH."""
    cluster = Cluster().start()
    try:
        env_file = repo.environments / "prod.yaml"
        doc = yaml.safe_load(env_file.read_text())
        doc["kube"].update(context="emulator", api_timeout=3)
        doc["verify"].update(protected_services=[])
        env_file.write_text(yaml.safe_dump(doc, sort_keys=False))
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(yaml.safe_dump(cluster.kubeconfig("emulator")))
        monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        (bin_dir / "kubectl").write_text(FAKE_KUBECTL)
        (bin_dir / "kubectl").chmod(0o755)
        monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
        monkeypatch.setenv("KUBECTL_LOG", str(tmp_path / "kubectl.log"))
        for name, labels in ROLES.items():
            replicas = 1 if name.startswith("ak-outpost") else 3
            cluster.put(deployment(name, replicas), "deployments")
            for i in range(replicas):
                cluster.put(pod(f"{name}-{i}", labels, f"node{i}"), "pods")
        cluster.put(pdb("goauthentik-server", minAvailable=2), "poddisruptionbudgets")
        cluster.put(pdb("goauthentik-worker", maxUnavailable=1), "poddisruptionbudgets")
        cluster.put(pdb("pgbouncer", minAvailable=2), "poddisruptionbudgets")
        cluster.layout = repo
        cluster.kubectl_log = tmp_path / "kubectl.log"
        yield cluster
    finally:
        cluster.stop()


API_CHECKS = ["rollout.*", "spread.replicas", "pdb.budget"]


def request(**kw: Any) -> VerifyRequest:
    return VerifyRequest(**{k: tuple(v) if isinstance(v, list) else v for k, v in kw.items()})


def verify(cluster: Any, **kw: Any) -> VerifyReport:
    kw.setdefault("deadline", 0)
    kw.setdefault("timeout", 5)
    return verify_environment(cluster.layout, request(env="prod", target="cluster", **kw))


def test_healthy_cluster_passes_the_api_checks(emulated) -> None:
    report = verify(emulated, only=API_CHECKS)
    assert report.ok, report.to_text()
    targets = {(r.check, r.target) for r in report.results}
    assert ("rollout.converged", "Deployment/ak-outpost-authentik-embedded-outpost") in targets
    assert ("pdb.budget", "PDB/goauthentik-worker") in targets
    spread = [r.detail for r in report.results if r.check == "spread.replicas"]
    assert spread == ["3/3 ready on 3 node(s)"] * 3


def test_exec_checks_go_to_each_resolved_pod_and_container(emulated) -> None:
    with socket.socket() as listener:  # PgBouncer's port "inside the pod" (here)
        try:
            listener.bind(("127.0.0.1", 6432))
        except OSError:
            pytest.fail("port 6432 is taken on this machine; this test needs it free")
        listener.listen()
        report = verify(emulated, only=["shm.usage", "pgbouncer.listening"])
    assert report.ok, report.to_text()
    execs = emulated.kubectl_log.read_text().splitlines()
    # one exec per pod (its checks batched), each with the context, namespace and container
    assert len(execs) == 1 + 3 + 3  # outpost + server (shm) + pgbouncer (listening)
    assert any(
        "--context emulator -n authentik -c proxy exec ak-outpost-authentik-embedded-outpost-0 --"
        in e
        for e in execs
    )
    assert sum("-c server exec goauthentik-server-" in e for e in execs) == 3
    assert sum("-c pgbouncer exec pgbouncer-" in e for e in execs) == 3


def test_failures_name_the_object_at_fault(emulated) -> None:
    emulated.put(
        pod("pgbouncer-2", ROLES["pgbouncer"], "node2", waiting="CrashLoopBackOff"), "pods"
    )
    emulated.put(deployment("pgbouncer", 3, ready=2), "deployments")
    emulated.put(pdb("pgbouncer", allowed=0, minAvailable=2), "poddisruptionbudgets")
    for i in range(3):
        emulated.put(pod(f"goauthentik-server-{i}", ROLES["goauthentik-server"], "node0"), "pods")
    report = verify(emulated, only=API_CHECKS)
    got = {(r.check, r.target): (r.status, r.detail) for r in report.results}
    assert got[("rollout.converged", "Deployment/pgbouncer")] == (
        Status.FAIL,
        "not converged: 2/3 updated, 2 ready, 2 available",
    )
    assert got[("rollout.pods", "namespace/authentik")][1] == (
        "1 container(s) will not heal: pgbouncer-2/main: CrashLoopBackOff"
    )
    assert (
        got[("spread.replicas", "server")][1]
        == "3/3 ready on 1 node(s): expected >= 3 distinct nodes (node0)"
    )
    assert (
        got[("spread.replicas", "pgbouncer")][1]
        == "2/3 ready on 2 node(s): expected 3 ready replicas"
    )
    assert "allows 0 disruptions" in got[("pdb.budget", "PDB/pgbouncer")][1]
    assert got[("rollout.converged", "Deployment/goauthentik-server")][0] is Status.PASS
    assert json.loads(report.to_json())["result"] == "FAIL"


def test_convergence_checks_wait_for_the_rollout(emulated) -> None:
    emulated.put(deployment("pgbouncer", 3, ready=1), "deployments")
    later = threading.Timer(1.0, lambda: emulated.put(deployment("pgbouncer", 3), "deployments"))
    later.start()
    try:
        report = verify(emulated, only=["rollout.converged"], deadline=10)
    finally:
        later.cancel()
    [r] = [r for r in report.results if r.target == "Deployment/pgbouncer"]
    assert r.status is Status.PASS and r.attempts >= 2


def test_outpost_ping_goes_through_the_api_service_proxy(emulated) -> None:
    report = verify(emulated, only=["http.outpost-ping"])
    [r] = report.results
    assert r.target == "service/ak-outpost-authentik-embedded-outpost/outpost.goauthentik.io/ping"
    proxied = emulated.requests(
        "GET",
        r"/services/ak-outpost-authentik-embedded-outpost:http/proxy/outpost.goauthentik.io/ping",
    )
    assert proxied, "the ping did not go through the API server's service proxy"
    assert r.status is Status.FAIL and "expected 204" in r.detail  # the emulator has no outpost


def test_http_only_runs_need_no_cluster(repo, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    report = verify_environment(
        repo, request(env="prod", only=["http.ready"], url="http://127.0.0.1:9", timeout=1)
    )
    [r] = report.results
    assert (r.status, r.detail) == (Status.FAIL, "connection refused")


def test_exec_checks_without_kubectl_cannot_run(emulated, tmp_path, monkeypatch) -> None:
    from akops.errors import ToolMissingError

    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ToolMissingError, match="kubectl not found on PATH") as e:
        verify(emulated, only=["shm.usage"])
    assert e.value.exit_code == 2


# --- pgbouncer.isolated: a pod kept out by the NetworkPolicy cannot open 6432 -------------------

# The stand-in exec, with the pod's name resolution: the command runs in its own mount
# namespace where /etc/hosts maps the Service name `pgbouncer` to a loopback address the
# test controls (needs root, as CI has). Nothing on the host changes.
ISOLATED_KUBECTL = """#!/bin/sh
printf '%s\\n' "$*" >> "$KUBECTL_LOG"
while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do shift; done
shift
exec unshare --mount -- sh -c 'mount --bind "$AKOPS_TEST_HOSTS" /etc/hosts && exec "$@"' sh "$@"
"""


@pytest.fixture
def pgbouncer_at(emulated, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """``pgbouncer_at(ip)``: the outpost pod resolves `pgbouncer` to ``ip``."""
    if os.geteuid() != 0:
        pytest.fail("the stand-in exec needs a mount namespace: run as root, as CI does")
    (tmp_path / "bin" / "kubectl").write_text(ISOLATED_KUBECTL)
    hosts = tmp_path / "hosts"
    monkeypatch.setenv("AKOPS_TEST_HOSTS", str(hosts))

    def at(ip: str) -> None:
        hosts.write_text(f"127.0.0.1 localhost\n{ip} pgbouncer\n")

    return at


def isolated(cluster: Any) -> Any:
    report = verify(cluster, only=["pgbouncer.isolated"])
    [r] = report.results
    execs = cluster.kubectl_log.read_text().splitlines()
    assert any("-c proxy exec ak-outpost-authentik-embedded-outpost-0 --" in e for e in execs)
    return r


def test_isolated_fails_when_the_outpost_can_connect(emulated, pgbouncer_at) -> None:
    pgbouncer_at("127.0.0.2")
    with socket.socket() as listener:
        listener.bind(("127.0.0.2", 6432))
        listener.listen()
        r = isolated(emulated)
    assert r.target == "ak-outpost-authentik-embedded-outpost-0 -> pgbouncer:6432"
    assert r.status is Status.FAIL and "succeeded: this pod can reach PgBouncer" in r.detail


def test_isolated_passes_when_the_connection_is_refused(emulated, pgbouncer_at) -> None:
    pgbouncer_at("127.0.0.3")  # nothing listens there: refused, as a REJECT policy answers
    r = isolated(emulated)
    assert r.status is Status.PASS and "Connection refused" in r.detail


def test_isolated_passes_when_the_connection_times_out(emulated, pgbouncer_at) -> None:
    pgbouncer_at("127.0.0.4")
    # A listener whose accept queue is full drops every new SYN, as a DROP policy does.
    with socket.socket() as listener:
        listener.bind(("127.0.0.4", 6432))
        listener.listen(0)
        queued = [socket.socket() for _ in range(3)]
        try:
            for s in queued:
                s.setblocking(False)
                with contextlib.suppress(BlockingIOError):
                    s.connect(("127.0.0.4", 6432))
            r = isolated(emulated)
        finally:
            for s in queued:
                s.close()
    assert r.status is Status.PASS and "timed out: blocked" in r.detail


def test_isolated_cannot_judge_a_name_that_does_not_resolve(emulated, pgbouncer_at) -> None:
    (emulated.kubectl_log.parent / "hosts").write_text("127.0.0.1 localhost\n")
    r = isolated(emulated)
    assert r.status is Status.ERROR and "proves nothing" in r.detail
