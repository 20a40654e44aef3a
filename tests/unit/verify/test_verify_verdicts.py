"""Pure verdicts: df, /proc/net/tcp, TCP connect, HTTP answers, Kubernetes states, database rows."""

from __future__ import annotations

import pytest

from akops.cluster.convergence import PodFailure, progress
from akops.verify.check import Answer, pod_state
from akops.verify.checks import db, http, pdb, pgbouncer, rollout, shm, spread
from akops.verify.commands import ExecResult
from akops.verify.query import IdleTransaction
from akops.verify.results import Status

GNU_DF = """Filesystem     1024-blocks  Used Available Capacity Mounted on
shm                  65536 60416      5120      93% /dev/shm
"""
BUSYBOX_DF = """Filesystem           1024-blocks    Used Available Capacity Mounted on
tmpfs                  2097152     59392   2037760   3% /dev/shm
"""


def test_parse_df_gnu_and_busybox() -> None:
    gnu = shm.parse_df(GNU_DF)
    assert (gnu.size_kib, gnu.used_kib, gnu.percent, gnu.mount) == (65536, 60416, 93, "/dev/shm")
    assert shm.parse_df(BUSYBOX_DF).percent == 3


def test_parse_df_mount_with_spaces_and_garbage() -> None:
    assert shm.parse_df("tmpfs 10 5 5 50% /mnt/a b\n").mount == "/mnt/a b"
    with pytest.raises(ValueError):
        shm.parse_df("df: /dev/shm: No such file or directory\n")


def test_shm_usage_verdicts() -> None:
    over = shm.usage(ExecResult(0, GNU_DF), "/dev/shm", 80)
    assert over.status is Status.FAIL
    assert over.detail == "93% used (59.0 MiB of 64.0 MiB) >= threshold 80%"
    ok = shm.usage(ExecResult(0, BUSYBOX_DF), "/dev/shm", 80)
    assert (ok.status, ok.detail) == (Status.PASS, "3% used (58.0 MiB of 2.0 GiB) < 80%")
    at = shm.usage(ExecResult(0, "tmpfs 100 80 20 80% /dev/shm\n"), "/dev/shm", 80)
    assert at.status is Status.FAIL  # "under the threshold": 80 is not under 80
    missing = shm.usage(ExecResult(1, "df: /dev/shm: No such file or directory\n"), "/dev/shm", 80)
    assert missing.status is Status.ERROR and "No such file" in missing.detail


PROC_NET_TCP = """  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1920 00000000:0000 0A 00000000:00000000 00:00000000 00000000    70        0 1 1
   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 2 1
"""
PROC_NET_TCP6 = """  sl  local_address                         remote_address                        st
   0: 00000000000000000000000000000000:2382 00000000000000000000000000000000:0000 0A
"""


def test_listening_ports_ignores_established_sockets() -> None:
    assert pgbouncer.listening_ports(PROC_NET_TCP + PROC_NET_TCP6) == {6432, 9090}
    assert pgbouncer.listening(ExecResult(0, PROC_NET_TCP), 6432).status is Status.PASS
    missing = pgbouncer.listening(ExecResult(0, PROC_NET_TCP), 8000)
    assert missing.detail == "nothing listens on port 8000 (listening: 6432)"
    assert pgbouncer.listening(ExecResult(1, ""), 6432).status is Status.ERROR


def test_reachable_verdicts() -> None:
    assert (
        pgbouncer.reachable(ExecResult(0, ""), "pgbouncer:6432").detail
        == "TCP connect to pgbouncer:6432 succeeded"
    )
    refused = pgbouncer.reachable(
        ExecResult(1, "", "bash: connect: Connection refused\n"), "pgbouncer:6432"
    )
    assert refused.status is Status.FAIL and refused.detail.endswith("Connection refused")
    assert "timed out" in pgbouncer.reachable(ExecResult(124, ""), "x:1").detail
    assert (
        pgbouncer.reachable(ExecResult(127, "neither nc nor bash in this container"), "x:1").status
        is Status.ERROR
    )


def answer(
    status: int | None, location: str | None = None, body: str = "", error: str | None = None
) -> Answer:
    reason = {200: "OK", 204: "No Content", 302: "Found", 503: "Service Unavailable"}.get(
        status or 0, ""
    )
    return Answer("https://app.example.test/", status, reason, location, body, error)


def test_health_accepts_any_2xx_and_names_each_failure() -> None:
    assert http.health(answer(200), "ready").status is Status.PASS
    assert http.health(answer(204), "ready").detail == "204 No Content"
    assert "database or cache unreachable" in http.health(answer(503), "ready").detail
    assert http.health(answer(503), "live").detail == "503 Service Unavailable: expected 2xx"
    assert "redirected instead" in http.health(answer(302, "/x"), "ready").detail
    assert (
        http.health(answer(None, error="no answer within 5s"), "ready").detail
        == "no answer within 5s"
    )


def test_config_flow_ping() -> None:
    assert http.config(answer(200, body='{"capabilities": []}')).status is Status.PASS
    assert http.config(answer(200, body="<html>")).status is Status.FAIL
    assert http.flow(answer(302, "/if/flow/")).status is Status.PASS
    assert http.flow(answer(503)).status is Status.FAIL
    assert http.outpost_ping(answer(204)).status is Status.PASS
    assert http.outpost_ping(answer(200)).detail == "200 OK: expected 204"


def test_forward_auth_compares_the_redirect_host() -> None:
    good = answer(302, "https://AUTH.example.test/outpost.goauthentik.io/start?rd=x")
    assert http.forward_auth(good, "auth.example.test").detail == "302 -> auth.example.test"
    relative = http.forward_auth(answer(302, "/outpost.goauthentik.io/start"), "auth.example.test")
    assert relative.detail == "302 redirects to app.example.test, not auth.example.test"
    assert "not behind forward auth" in http.forward_auth(answer(200), "auth.example.test").detail
    assert http.forward_auth(answer(503), "auth.example.test").status is Status.FAIL


def deployment(
    replicas: int, updated: int, ready: int, available: int, gen: int = 2, seen: int = 2
) -> dict:
    return {
        "metadata": {"name": "pgbouncer", "generation": gen},
        "spec": {"replicas": replicas},
        "status": {
            "observedGeneration": seen,
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": available,
        },
    }


def test_rollout_verdicts() -> None:
    assert rollout.converged(progress(deployment(3, 3, 3, 3))).detail == "3/3 ready, all updated"
    assert rollout.converged(progress(deployment(3, 2, 3, 3))).status is Status.FAIL
    assert rollout.converged(progress(deployment(3, 3, 3, 3, gen=3, seen=2))).status is Status.FAIL
    assert (
        rollout.converged(
            progress(
                {
                    "metadata": {"generation": 1},
                    "spec": {"replicas": 0},
                    "status": {"observedGeneration": 1},
                }
            )
        ).detail
        == "scaled to 0"
    )


def test_pods_healthy() -> None:
    assert (
        rollout.pods_healthy([], 9).detail
        == "9 pods, none crash-looping or failing to pull or configure"
    )
    bad = rollout.pods_healthy([PodFailure("pgbouncer-1", "pgbouncer", "CrashLoopBackOff", "")], 9)
    assert bad.detail == "1 container(s) will not heal: pgbouncer-1/pgbouncer: CrashLoopBackOff"


def pod(name: str, node: str, ready: bool = True, deleting: bool = False) -> dict:
    meta: dict = {"name": name}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {
        "metadata": meta,
        "spec": {"nodeName": node},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def test_spread_counts_ready_replicas_and_distinct_nodes() -> None:
    three = [pod_state(pod(f"p{i}", f"n{i}")) for i in range(3)]
    assert spread.spread(three, 3).detail == "3/3 ready on 3 node(s)"
    packed = [pod_state(pod(f"p{i}", "n1")) for i in range(3)]
    assert "expected >= 3 distinct nodes" in spread.spread(packed, 3).detail
    not_ready = [*three[:2], pod_state(pod("p2", "n2", ready=False))]
    assert spread.spread(not_ready, 3).detail == "2/3 ready on 2 node(s): expected 3 ready replicas"
    deleting = [*three[:2], pod_state(pod("p2", "n2", deleting=True))]
    assert spread.spread(deleting, 3).status is Status.FAIL
    assert spread.spread(three[:2], 2).status is Status.PASS  # 2 replicas need 2 nodes, not 3


def test_pdb_budget() -> None:
    want = pdb.PdbExpectation("pgbouncer", min_available=2)
    doc = {
        "metadata": {"name": "pgbouncer"},
        "spec": {"minAvailable": 2},
        "status": {"disruptionsAllowed": 1},
    }
    assert pdb.budget(pdb.pdb_state(doc), want).detail == "minAvailable 2, allows 1 disruption(s)"
    blocked = {**doc, "status": {"disruptionsAllowed": 0}}
    assert "a node drain would block" in pdb.budget(pdb.pdb_state(blocked), want).detail
    wrong = {**doc, "spec": {"maxUnavailable": 1}}
    assert (
        pdb.budget(pdb.pdb_state(wrong), want).detail == "maxUnavailable 1, expected minAvailable 2"
    )
    assert pdb.budget(None, want).detail == "PDB pgbouncer not found (expected minAvailable 2)"


def test_database_verdicts() -> None:
    assert db.idle_in_transaction([], 60).status is Status.PASS
    rows = [IdleTransaction(4242, "authentik", "gunicorn", 312.4, 3)]
    assert db.idle_in_transaction(rows, 60).detail == (
        "1 idle-in-transaction backend(s) older than 60s hold locks: pid 4242 (authentik/gunicorn, 312s, 3 locks)"
    )
    pools = [
        {"database": "pgbouncer", "user": "pgbouncer", "cl_waiting": 3},  # the console itself
        {"database": "authentik", "user": "authentik", "cl_waiting": 0},
    ]
    assert db.pool_waiting(pools).detail == "0 clients waiting in 1 pool(s)"
    pools[1]["cl_waiting"] = 5
    assert (
        db.pool_waiting(pools).detail
        == "5 client(s) waiting for a server connection (authentik/authentik: 5)"
    )
