"""A non-exec check declares its observation: what to read, and the pure verdict on what was
read. Here the verdicts judge what the readers return (the readers are I/O: the integration
tests read real services with them)."""

from __future__ import annotations

from typing import Any, get_args

from akops.verify import observe, registry
from akops.verify.check import Answer, Observation, Probe, Read
from akops.verify.checks import db, pdb
from akops.verify.results import Outcome, Status

PASS, FAIL = Status.PASS, Status.FAIL


def observation(cid: str) -> Observation:
    declared = registry.BY_ID[cid].observe
    assert declared is not None, cid
    return declared


def judged(cid: str, seen: Any, **args: Any) -> tuple[Status, str]:
    outcome: Outcome = observation(cid).judge(seen, Probe(cid, "t", "api", args=args))
    return outcome.status, outcome.detail


def test_every_read_has_its_reader_and_is_read_by_a_check() -> None:
    assert set(observe.READERS) == set(get_args(Read))
    declared = {c.observe.read for c in registry.REGISTRY if c.observe is not None}
    assert declared == set(get_args(Read))


def test_only_the_pool_count_settles() -> None:
    settling = {c.id: c.observe.settle for c in registry.REGISTRY if c.observe and c.observe.settle}
    assert settling == {"db.pool-waiting": db.SETTLE}


def test_a_missing_deployment_or_pdb_is_named() -> None:
    assert judged("rollout.converged", None, namespace="authentik", name="pgbouncer") == (
        FAIL,
        "Deployment pgbouncer not found in authentik",
    )
    want = pdb.PdbExpectation("pgbouncer", min_available=2)
    assert judged("pdb.budget", None, namespace="authentik", name="pgbouncer", want=want) == (
        FAIL,
        "PDB pgbouncer not found (expected minAvailable 2)",
    )


def test_a_read_deployment_is_judged_by_the_shared_convergence() -> None:
    doc = {
        "metadata": {"name": "pgbouncer", "generation": 3},
        "spec": {"replicas": 2},
        "status": {
            "observedGeneration": 3,
            "updatedReplicas": 2,
            "readyReplicas": 2,
            "availableReplicas": 2,
        },
    }
    assert judged("rollout.converged", doc, namespace="authentik", name="pgbouncer") == (
        PASS,
        "2/2 ready, all updated",
    )


def test_read_pods_are_judged_whole() -> None:
    pod = {
        "metadata": {"name": "a"},
        "spec": {"nodeName": "n1"},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
    }
    assert judged("spread.replicas", [pod], expected=2) == (
        FAIL,
        "1/2 ready on 1 node(s): expected 2 ready replicas",
    )
    assert judged("rollout.pods", [pod, pod]) == (
        PASS,
        "2 pods, none crash-looping or failing to pull or configure",
    )


def test_each_http_check_judges_its_answer() -> None:
    url = "https://app.example/"
    unready = Answer(url, 503, "Service Unavailable")
    assert judged("http.ready", unready) == (
        FAIL,
        "503 Service Unavailable: Authentik is not ready (database or cache unreachable)",
    )
    assert judged("http.live", unready) == (FAIL, "503 Service Unavailable: expected 2xx")
    assert judged("http.outpost-ping", Answer(url, 204, "No Content")) == (PASS, "204 No Content")
    assert judged("http.flow", Answer(url, 302, "Found")) == (PASS, "302 Found")
    assert judged("http.config", Answer(url, 200, "OK", body="{}")) == (
        FAIL,
        '200 but the answer has no "capabilities": not the Authentik API?',
    )
    away = Answer(url, 302, "Found", location="https://auth.example/flow")
    assert judged("http.forward-auth", away, auth_host="auth.example") == (
        PASS,
        "302 -> auth.example",
    )
    assert judged("http.forward-auth", away, auth_host="sso.example") == (
        FAIL,
        "302 redirects to auth.example, not sso.example",
    )


def test_the_queries_are_judged_with_the_probes_threshold() -> None:
    assert judged("db.idle-in-transaction", [], max_seconds=45) == (
        PASS,
        "no idle-in-transaction backend older than 45s holds locks",
    )
    pools = [{"database": "authentik", "user": "authentik", "cl_waiting": 2}]
    assert judged("db.pool-waiting", pools) == (
        FAIL,
        "2 client(s) waiting for a server connection (authentik/authentik: 2)",
    )
