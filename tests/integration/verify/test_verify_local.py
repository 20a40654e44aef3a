"""verify --target local against real services: PostgreSQL, PgBouncer, HTTP, tmpfs."""

from __future__ import annotations

import contextlib
import json
import threading
import time
import xml.etree.ElementTree as ET

import psycopg
import pytest

from akops.verify import Result, Status, VerifyReport

pytestmark = pytest.mark.integration

LOCAL_CHECKS = {
    "http.ready", "http.live", "http.config", "http.flow", "http.outpost-ping", "http.forward-auth",
    "pgbouncer.reachable", "pgbouncer.listening", "shm.usage", "db.idle-in-transaction", "db.pool-waiting",
}  # fmt: skip


def rows(report: VerifyReport, check: str) -> list[Result]:
    return [r for r in report.results if r.check == check]


def one(report: VerifyReport, check: str) -> Result:
    [r] = rows(report, check)
    return r


def test_healthy_stack_passes(stack) -> None:
    report = stack.verify()
    assert report.ok, report.to_text()
    assert {r.check for r in report.results} == LOCAL_CHECKS
    assert {r.status for r in report.results} == {Status.PASS}
    assert len(rows(report, "http.forward-auth")) == 2
    assert report.to_text().splitlines()[-1] == "VERIFY RESULT: PASS"


def test_pgbouncer_checks_fail_when_it_stops_while_the_others_report(stack) -> None:
    before = stack.verify(only=["pgbouncer.*", "db.*"])
    assert before.ok, before.to_text()

    stack.pgbouncer.stop()
    after = stack.verify()

    assert not after.ok
    assert one(after, "pgbouncer.reachable").status is Status.FAIL
    assert "Connection refused" in one(after, "pgbouncer.reachable").detail
    assert one(after, "pgbouncer.listening").status is Status.FAIL
    assert (
        f"nothing listens on port {stack.pgbouncer.port}"
        in one(after, "pgbouncer.listening").detail
    )
    for check in ("db.idle-in-transaction", "db.pool-waiting"):
        assert one(after, check).status is Status.FAIL
        assert "refused" in one(after, check).detail
    others = [r for r in after.results if not r.check.startswith(("pgbouncer.", "db."))]
    assert others and all(r.status is Status.PASS for r in others)
    assert after.to_text().splitlines()[-1] == "VERIFY RESULT: FAIL"


def test_frozen_pgbouncer_fails_within_the_timeout_while_the_others_report(stack) -> None:
    before = stack.verify(only=["db.*"])
    assert before.ok, before.to_text()

    stack.pgbouncer.freeze()  # accepts TCP (the kernel does) and never answers
    try:
        report = stack.verify()
    finally:
        stack.pgbouncer.thaw()
    for check in ("db.idle-in-transaction", "db.pool-waiting"):
        r = one(report, check)
        assert r.status is Status.FAIL, r
        assert f"no answer within {stack.timeout:g}s" in r.detail
        assert r.duration < stack.timeout + 1.0
    assert one(report, "pgbouncer.reachable").status is Status.PASS
    others = [r for r in report.results if not r.check.startswith("db.")]
    assert all(r.status is Status.PASS for r in others), report.to_text()


def test_pgbouncer_frozen_mid_run_fails_within_the_timeout(stack, pgbouncer_factory) -> None:
    """A pool of one with a second client queued: db.pool-waiting keeps sampling the console
    while the wait lasts, and PgBouncer freezes between two of its samples."""
    pg = stack.postgres
    small = pgbouncer_factory(default_pool_size="1", reserve_pool_size="0")
    host, port = small.address.split(":")

    def client() -> psycopg.Connection:
        return psycopg.connect(
            host=host,
            port=port,
            user=pg.user,
            dbname=pg.database,
            password=pg.password,
            connect_timeout=8,
        )

    holder = client()
    holder.execute("SELECT 1")  # session pooling: holds the one server connection from now on

    def queue_up() -> None:
        with contextlib.suppress(psycopg.Error), client() as conn:
            conn.execute("SELECT 1")  # waits for a server connection

    threading.Thread(target=queue_up, daemon=True).start()
    time.sleep(0.3)  # the second client is now waiting for the one server connection
    freeze = threading.Timer(0.15, small.freeze)
    try:
        freeze.start()
        report = stack.verify(only=["db.pool-waiting", "http.*"], pgbouncer=small.address)
    finally:
        freeze.cancel()
        small.thaw()
        holder.close()
    r = one(report, "db.pool-waiting")
    assert r.status is Status.FAIL, r
    assert f"no answer within {stack.timeout:g}s" in r.detail
    assert r.duration < stack.timeout + 1.5
    assert all(x.status is Status.PASS for x in report.results if x.check.startswith("http."))


@pytest.mark.parametrize(
    ("mode", "status", "detail"),
    [
        ("200", Status.PASS, "200 OK"),
        ("204", Status.PASS, "204 No Content"),
        ("503", Status.FAIL, "503 Service Unavailable: Authentik is not ready"),
        ("hang", Status.FAIL, "no answer within"),
        ("redirect", Status.FAIL, "302 Found -> http://localhost:"),
        ("404", Status.FAIL, "404 Not Found: expected 2xx"),
    ],
)
def test_health_ready_verdicts(stack, mode: str, status: Status, detail: str) -> None:
    stack.http.set("/-/health/ready/", mode)
    report = stack.verify(only=["http.*"])
    r = one(report, "http.ready")
    assert r.status is status
    assert detail in r.detail
    assert report.ok is (status is Status.PASS)
    if mode == "hang":
        assert r.duration < stack.timeout + 1.0
    # the other HTTP checks report regardless
    assert all(x.status is Status.PASS for x in report.results if x.check != "http.ready")


def test_live_config_flow_and_ping_verdicts(stack) -> None:
    stack.http.set("/-/health/live/", "503")
    stack.http.set("/api/v3/root/config/", "200")
    stack.http.set("/api/v3/flows/executor/default-authentication-flow/", "404")
    stack.http.set("/outpost.goauthentik.io/ping", "200")
    report = stack.verify(only=["http.*"], skip=["http.forward-auth"])
    assert one(report, "http.live").detail == "503 Service Unavailable: expected 2xx"
    assert 'no "capabilities"' in one(report, "http.config").detail
    assert one(report, "http.flow").detail == "404 Not Found: expected 200 or 302"
    assert one(report, "http.outpost-ping").detail == "200 OK: expected 204"
    assert one(report, "http.ready").status is Status.PASS


def test_forward_auth_verdicts(stack) -> None:
    stack.http.set("/app/open/", "open")
    stack.http.set("/app/elsewhere/", "elsewhere")
    report = stack.verify(
        only=["http.forward-auth"],
        protected=[
            stack.http.app_url("ok"),
            stack.http.app_url("open"),
            stack.http.app_url("elsewhere"),
        ],
    )
    got = {r.target.rsplit("/", 2)[-2]: r for r in report.results}
    assert got["ok"].status is Status.PASS and got["ok"].detail == "302 -> localhost"
    assert got["open"].detail == "200 to an anonymous request: not behind forward auth"
    assert got["elsewhere"].detail == "302 redirects to elsewhere.invalid, not localhost"


def test_shm_over_threshold_fails_with_the_percentage(stack) -> None:
    stack.tmpfs.fill(90)
    report = stack.verify(only=["shm.usage"])
    r = one(report, "shm.usage")
    assert r.status is Status.FAIL
    percent = int(r.detail.split("%")[0])
    assert 90 <= percent <= 100
    assert f"{percent}% used" in r.detail and "of 1.0 MiB) >= threshold 80%" in r.detail
    assert report.to_text().splitlines()[-1] == "VERIFY RESULT: FAIL"


def test_idle_in_transaction_holding_a_lock_fails(stack) -> None:
    pg = stack.postgres
    with pg.connect(user=pg.user, dbname=pg.database) as ghost:
        ghost.execute("SELECT pg_advisory_xact_lock(4242)")  # psycopg opened a transaction
        ghost.execute("SET application_name = 'ghost'")
        time.sleep(1.5)  # the environment's threshold is 1 s
        report = stack.verify(only=["db.idle-in-transaction"])
        r = one(report, "db.idle-in-transaction")
        assert r.status is Status.FAIL, r
        assert "1 idle-in-transaction backend(s) older than 1s hold locks" in r.detail
        assert f"({pg.user}/ghost," in r.detail
    after = stack.verify(only=["db.idle-in-transaction"])
    assert after.ok, after.to_text()


def test_pool_waiting_passes_on_the_rendered_config(stack, pgbouncer_factory) -> None:
    # The rendered pgbouncer.ini names the Authentik user in stats_users, so SHOW POOLS works.
    as_rendered = pgbouncer_factory()
    report = stack.verify(only=["db.pool-waiting"], pgbouncer=as_rendered.address)
    r = one(report, "db.pool-waiting")
    assert r.status is Status.PASS, r


def test_pool_waiting_without_stats_users_says_what_to_add(stack, pgbouncer_factory) -> None:
    no_stats = pgbouncer_factory(stats_users="")
    report = stack.verify(only=["db.pool-waiting"], pgbouncer=no_stats.address)
    r = one(report, "db.pool-waiting")
    assert r.status is Status.ERROR
    assert "add it to stats_users in pgbouncer.ini" in r.detail


def test_the_password_never_shows(stack, monkeypatch) -> None:
    wrong = "canary-wrong-5f0c1e"
    monkeypatch.setenv("AKOPS_PROD_POSTGRES_PASSWORD", wrong)
    report = stack.verify(only=["db.*"])
    assert not report.ok
    assert "password authentication failed" in one(report, "db.idle-in-transaction").detail
    for text in (report.to_text(), report.to_json(), report.to_junit()):
        assert wrong not in text
        assert stack.postgres.password not in text


def test_json_and_junit_forms(stack) -> None:
    stack.http.set("/-/health/ready/", "503")
    report = stack.verify(only=["http.ready", "shm.usage", "http.forward-auth"], protected=[])
    doc = json.loads(report.to_json())
    assert doc["result"] == "FAIL" and doc["target"] == "local"
    assert doc["counts"] == {"PASS": 1, "FAIL": 1, "ERROR": 0, "SKIP": 1}
    ready = next(r for r in doc["results"] if r["check"] == "http.ready")
    assert ready["status"] == "FAIL" and ready["target"].endswith("/-/health/ready/")
    suite = ET.fromstring(report.to_junit()).find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "1", "1")
    failure = suite.find("testcase[@classname='http.ready']/failure")
    assert failure is not None and "503" in (failure.get("message") or "")
