"""Verdicts asserted whole, status and detail: the detail is what an operator reads in the
table, so a changed word, a dropped figure or a boundary moved by one is a changed verdict.
"""

from __future__ import annotations

import socket
import subprocess

import pytest

from akops.cluster.convergence import PodFailure, progress
from akops.verify.check import Answer, pod_state
from akops.verify.checks import db, http, pdb, pgbouncer, rollout, shm, spread
from akops.verify.commands import ExecResult
from akops.verify.query import IdleTransaction
from akops.verify.results import Outcome, Status

PASS, FAIL, ERROR = Status.PASS, Status.FAIL, Status.ERROR


def whole(outcome: Outcome) -> tuple[Status, str]:
    return outcome.status, outcome.detail


# --- db -------------------------------------------------------------------------------------


def idle(pid: int, application: str = "gunicorn") -> IdleTransaction:
    return IdleTransaction(pid, "authentik", application, 312.4, 3)


def test_idle_in_transaction_names_five_backends_and_the_threshold() -> None:
    assert whole(db.idle_in_transaction([], 60)) == (
        PASS,
        "no idle-in-transaction backend older than 60s holds locks",
    )
    rows = [idle(1, ""), idle(2), idle(3), idle(4), idle(5), idle(6)]
    assert whole(db.idle_in_transaction(rows, 30)) == (
        FAIL,
        "6 idle-in-transaction backend(s) older than 30s hold locks: "
        "pid 1 (authentik, 312s, 3 locks); pid 2 (authentik/gunicorn, 312s, 3 locks); "
        "pid 3 (authentik/gunicorn, 312s, 3 locks); pid 4 (authentik/gunicorn, 312s, 3 locks); "
        "pid 5 (authentik/gunicorn, 312s, 3 locks)",
    )


def test_pool_waiting_names_each_waiting_pool() -> None:
    pools = [
        {"database": "authentik", "user": "authentik", "cl_waiting": 2},
        {"database": "authentik", "user": "reader", "cl_waiting": 0},
        {"database": "other", "user": "app", "cl_waiting": "3"},
    ]
    assert whole(db.pool_waiting(pools)) == (
        FAIL,
        "5 client(s) waiting for a server connection (authentik/authentik: 2, other/app: 3)",
    )
    assert whole(db.pool_waiting([])) == (PASS, "0 clients waiting in 0 pool(s)")


# --- http -----------------------------------------------------------------------------------


def answer(
    status: int | None, location: str | None = None, body: str = "", error: str | None = None
) -> Answer:
    reason = {200: "OK", 204: "No Content", 299: "", 300: "", 302: "Found", 400: "Bad"}.get(
        status or 0, ""
    )
    return Answer("https://app.example.test/", status, reason, location, body, error)


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (199, (FAIL, "199: expected 2xx")),
        (200, (PASS, "200 OK")),
        (299, (PASS, "299")),
        (300, (FAIL, "300: redirected instead of answering 2xx")),
        (399, (FAIL, "399: redirected instead of answering 2xx")),
        (400, (FAIL, "400 Bad: expected 2xx")),
    ],
)
def test_health_at_each_boundary(status: int, verdict: tuple[Status, str]) -> None:
    assert whole(http.health(answer(status), "live")) == verdict


def test_config_flow_and_ping_verdicts_whole() -> None:
    assert whole(http.config(answer(204))) == (FAIL, "204 No Content: expected 200")
    assert whole(http.config(answer(200, body="<html>"))) == (
        FAIL,
        '200 but the answer has no "capabilities": not the Authentik API?',
    )
    assert whole(http.config(answer(200, body='{"capabilities": []}'))) == (
        PASS,
        '200 with "capabilities"',
    )
    assert whole(http.config(answer(None, error="refused"))) == (FAIL, "refused")
    assert whole(http.flow(answer(200))) == (PASS, "200 OK")
    assert whole(http.flow(answer(302, "/if/flow/"))) == (PASS, "302 Found -> /if/flow/")
    assert whole(http.flow(answer(204))) == (FAIL, "204 No Content: expected 200 or 302")
    assert whole(http.flow(answer(None))) == (FAIL, "no answer")
    assert whole(http.outpost_ping(answer(204))) == (PASS, "204 No Content")
    assert whole(http.outpost_ping(answer(None, error="timed out"))) == (FAIL, "timed out")


def test_forward_auth_verdicts_whole() -> None:
    auth = "auth.example.test"
    # A 2xx answer (299 included) is an unprotected service; 300 is neither.
    assert whole(http.forward_auth(answer(299), auth)) == (
        FAIL,
        "299 to an anonymous request: not behind forward auth",
    )
    assert whole(http.forward_auth(answer(300), auth)) == (
        FAIL,
        "300: expected a redirect to auth.example.test",
    )
    # A redirect without a Location header goes nowhere.
    assert whole(http.forward_auth(answer(302), auth)) == (
        FAIL,
        "302 Found: expected a redirect to auth.example.test",
    )
    assert whole(http.forward_auth(answer(None), auth)) == (FAIL, "no answer")
    odd = http.forward_auth(answer(302, "mailto:x"), auth)
    assert whole(odd) == (FAIL, "302 redirects to mailto:x, not auth.example.test")


# --- pgbouncer ------------------------------------------------------------------------------

LISTEN = "   0: 00000000:1920 00000000:0000 0A 0\n   1: 0100007F:1F90 00000000:0000 0A 0\n"


def test_listening_ports_reads_the_port_after_the_last_colon_of_local_address() -> None:
    # IPv6 ::1 local address with a port: the port follows the last colon.
    assert pgbouncer.listening_ports("   0: 0:0:1:1920 0 0A\n") == {6432}
    assert pgbouncer.listening_ports("   0: 00000000:1920 00000000:0000\n") == set()


def test_listening_verdicts_whole() -> None:
    assert whole(pgbouncer.listening(ExecResult(0, LISTEN), 6432)) == (
        PASS,
        "port 6432 is listening",
    )
    ports = "".join(
        f"   {i}: 00000000:{p:04X} 00000000:0000 0A 0\n" for i, p in enumerate(range(1, 11))
    )
    assert whole(pgbouncer.listening(ExecResult(0, ports), 6432)) == (
        FAIL,
        "nothing listens on port 6432 (listening: 1, 2, 3, 4, 5, 6, 7, 8)",
    )
    assert whole(pgbouncer.listening(ExecResult(0, ""), 6432)) == (
        FAIL,
        "nothing listens on port 6432 (listening: none)",
    )
    # A failed read that still printed sockets is judged on them.
    assert whole(pgbouncer.listening(ExecResult(1, LISTEN), 6432)) == (
        PASS,
        "port 6432 is listening",
    )
    assert whole(pgbouncer.listening(ExecResult(2, "", "cat: denied"), 6432)) == (
        ERROR,
        "cannot read /proc/net/tcp (exit 2): cat: denied",
    )


def test_reachable_and_isolated_name_a_missing_tool() -> None:
    assert whole(pgbouncer.reachable(ExecResult(127, ""), "x:1")) == (
        ERROR,
        "cannot test x:1: no nc or bash",
    )
    assert whole(pgbouncer.reachable(ExecResult(127, "sh: nc: not found"), "x:1")) == (
        ERROR,
        "cannot test x:1: sh: nc: not found",
    )
    assert whole(pgbouncer.isolated(ExecResult(127, ""), "x:1")) == (
        ERROR,
        "cannot test x:1: no nc or bash",
    )
    assert whole(pgbouncer.isolated(ExecResult(127, "sh: nc: not found"), "x:1")) == (
        ERROR,
        "cannot test x:1: sh: nc: not found",
    )
    assert whole(pgbouncer.isolated(ExecResult(0, ""), "x:1")) == (
        FAIL,
        "TCP connect to x:1 succeeded: this pod can reach PgBouncer "
        "(is the NetworkPolicy applied, and does the CNI enforce it?)",
    )


# --- rollout, shm, spread -------------------------------------------------------------------


def test_converged_names_what_is_missing() -> None:
    p = progress(
        {
            "metadata": {"generation": 2},
            "spec": {"replicas": 3},
            "status": {"observedGeneration": 2, "updatedReplicas": 2, "readyReplicas": 3},
        }
    )
    assert whole(rollout.converged(p)) == (FAIL, f"not converged: {p.describe()}")


def test_pods_healthy_shows_five_failures_and_counts_the_rest() -> None:
    failures = [PodFailure(f"p{i}", "c", "CrashLoopBackOff", "") for i in range(7)]
    assert whole(rollout.pods_healthy(failures, 9)) == (
        FAIL,
        "7 container(s) will not heal: p0/c: CrashLoopBackOff; p1/c: CrashLoopBackOff; "
        "p2/c: CrashLoopBackOff; p3/c: CrashLoopBackOff; p4/c: CrashLoopBackOff (+2 more)",
    )
    five = rollout.pods_healthy(failures[:5], 9)
    assert not five.detail.endswith("more)")
    assert rollout.pods_healthy(failures[:6], 9).detail.endswith("p4/c: CrashLoopBackOff (+1 more)")


def test_shm_usage_errors_and_the_mount_it_measured() -> None:
    assert whole(shm.usage(ExecResult(1, "", "df: no such file"), "/dev/shm", 80)) == (
        ERROR,
        "df -P /dev/shm failed (exit 1): df: no such file",
    )
    assert whole(shm.usage(ExecResult(0, "garbage\n"), "/dev/shm", 80)) == (
        ERROR,
        "df -P /dev/shm: unreadable output: garbage",
    )
    # df reports the filesystem holding the path: a missing tmpfs shows as the root one.
    root = "overlay 1048576 943718 104858 90% /\n"
    assert whole(shm.usage(ExecResult(0, root), "/dev/shm", 80)) == (
        FAIL,
        "90% used (921.6 MiB of 1.0 GiB) >= threshold 80% on /",
    )
    assert whole(shm.usage(ExecResult(0, "tmpfs 100 79 21 79% /dev/shm\n"), "/dev/shm", 80)) == (
        PASS,
        "79% used (79 KiB of 100 KiB) < 80%",
    )


@pytest.mark.parametrize(
    ("kib", "shown"),
    [
        (0, "0 KiB"),
        (1023, "1023 KiB"),
        (1024, "1.0 MiB"),
        (1536, "1.5 MiB"),
        (1024**2, "1.0 GiB"),
        (1024**3, "1.0 TiB"),
        (1024**4 * 3, "3072.0 TiB"),
    ],
)
def test_human_sizes(kib: int, shown: str) -> None:
    assert shm.human(kib) == shown


def test_parse_df_needs_six_fields_a_percentage_and_a_size() -> None:
    assert shm.parse_df("a 1 2 3 4% /m\n").filesystem == "a"
    found = shm.parse_df("header line\nshm 65536 60416 5120 93% /dev/shm\n")
    assert (found.filesystem, found.available_kib) == ("shm", 5120)
    for bad in ("a 1 2 3 4% \n", "a 1 2 3 4 /m\n", "a x 2 3 4% /m\n"):
        with pytest.raises(ValueError) as err:
            shm.parse_df(bad)
        assert str(err.value) == "no data line in df -P output"


def test_spread_names_the_nodes_it_found() -> None:
    def pod(name: str, node: str | None) -> dict[str, object]:
        return {
            "metadata": {"name": name},
            "spec": {"nodeName": node} if node else {},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
        }

    packed = [pod_state(pod("a", "n2")), pod_state(pod("b", "n1")), pod_state(pod("c", "n1"))]
    assert whole(spread.spread(packed, 3)) == (
        FAIL,
        "3/3 ready on 2 node(s): expected >= 3 distinct nodes (n1, n2)",
    )
    unscheduled = [pod_state(pod("a", None)), pod_state(pod("b", "n1"))]
    assert whole(spread.spread(unscheduled, 2)) == (
        FAIL,
        "2/2 ready on 1 node(s): expected >= 2 distinct nodes (n1)",
    )
    four = [pod_state(pod(f"p{i}", f"n{i % 3}")) for i in range(4)]
    assert whole(spread.spread(four, 4)) == (PASS, "4/4 ready on 3 node(s)")


# --- pdb ------------------------------------------------------------------------------------


def test_pdb_state_reads_the_budget_as_text() -> None:
    doc = {
        "metadata": {"name": "pgbouncer"},
        "spec": {"minAvailable": 2},
        "status": {"disruptionsAllowed": 1},
    }
    assert pdb.pdb_state(doc) == pdb.PdbState("pgbouncer", "2", None, 1)
    assert pdb.pdb_state({"spec": {"maxUnavailable": "50%"}}) == pdb.PdbState(
        "None", None, "50%", 0
    )


def test_a_max_unavailable_budget_is_compared_as_one() -> None:
    want = pdb.PdbExpectation("goauthentik-worker", max_unavailable=1)
    doc = {"spec": {"maxUnavailable": 1}, "status": {"disruptionsAllowed": 1}}
    assert whole(pdb.budget(pdb.pdb_state(doc), want)) == (
        PASS,
        "maxUnavailable 1, allows 1 disruption(s)",
    )
    other = {"spec": {"maxUnavailable": 2}, "status": {"disruptionsAllowed": 2}}
    assert whole(pdb.budget(pdb.pdb_state(other), want)) == (
        FAIL,
        "maxUnavailable 2, expected maxUnavailable 1",
    )


def test_tcp_connect_waits_at_least_a_second() -> None:
    assert "nc -z -w 1 db 6432" in pgbouncer.tcp_connect("db", 6432, 0.2)
    assert "nc -z -w 3 db 6432" in pgbouncer.tcp_connect("db", 6432, 2.6)


def test_listening_sockets_reads_this_machines_listening_ports() -> None:
    # The command runs in the pods; here it runs on this machine against a port we hold.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        out = subprocess.run(
            ["sh", "-c", pgbouncer.listening_sockets()],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        assert port in pgbouncer.listening_ports(out.stdout)
