"""The PgBouncer pool alerts end to end: a real PgBouncer (from the rendered config), the real
exporter the rendered sidecar runs (prometheus-community's pgbouncer_exporter at the image's
tag, built from its Go module, run with the rendered arguments and environment), a real
Prometheus (Debian's) loaded with the rendered rules of a test environment (a pool of 2, each
``for:`` a few seconds), and real clients holding and waiting for server connections.

No metric is renamed or relabelled: the rules under test read what the exporter exports. Every
alert that reads the exporter's metrics is shown to fire when its condition is made real and
to stay silent when it is not, judged on Prometheus's own record (``real_prometheus``):

- ``PgBouncerServerConnectionsNearLimit``: 1 of 2 server connections held, silent; 2 of 2,
  fires; while no client waits, ``PgBouncerClientsWaiting`` stays silent;
- ``PgBouncerClientsWaiting``: one more client queues for a server, fires;
- ``PgBouncerPoolMetricsMissing``: silent while the exporter reads PgBouncer; fires when the
  exporter is gone, and when it runs but cannot log in to the admin console.

The labels the cluster's ``kubernetes-pods`` job adds (``namespace``, ``pod``, ``app``) are
the static target's labels.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from akops.alerts.rules import alerts_of
from akops.layout import Layout
from akops.render import render_env
from tests.integration.alerts.exporters import pgbouncer_exporter
from tests.integration.alerts.real_prometheus import (
    Prometheus,
    Target,
    prometheus,
    rendered_rule_file,
    wait_for,
)

if TYPE_CHECKING:
    from conftest import PgBouncer, Postgres  # the fixtures' types (tests/integration/conftest)

POD_LABELS = {"namespace": "authentik", "pod": "pgbouncer-7d9f8b6c4-x2k8q", "app": "pgbouncer"}
POOL = 2  # default_pool_size of the test environment and of the PgBouncer it starts
HOLD_FOR = "5s"
WAITING = "PgBouncerClientsWaiting"
NEAR_LIMIT = "PgBouncerServerConnectionsNearLimit"
MISSING = "PgBouncerPoolMetricsMissing"
#: Every alert that reads the exporter's metrics; the test below holds this list complete.
EXPORTER_ALERTS = (WAITING, NEAR_LIMIT, MISSING)
POOL_SERIES = (
    'pgbouncer_pools_client_waiting_connections{namespace="authentik",database="authentik"}'
)


def alert_test_environment(repo: Layout) -> str:
    """``alerttest``: prod with a pool of 2 (no reserve) and the pool alerts' ``for:`` at 5s."""
    data = yaml.safe_load((repo.environments / "prod.yaml").read_text())
    data["name"] = "alerttest"
    data["pgbouncer"]["settings"].update(default_pool_size=POOL, reserve_pool_size=0)
    alerts = data["monitoring"]["alerts"]
    alerts["pool_clients_waiting"] = {"above": 0, "for": HOLD_FOR}
    alerts["pool_server_connections"] = {"above": 0.9, "for": HOLD_FOR}
    alerts["pool_metrics_missing"] = {"for": HOLD_FOR}
    (repo.environments / "alerttest.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return "alerttest"


def connect(bouncer: PgBouncer, postgres: Postgres) -> Any:
    """A real client of the authentik database through PgBouncer."""
    import psycopg

    return psycopg.connect(
        host="127.0.0.1",
        port=bouncer.port,
        user=postgres.user,
        dbname=postgres.database,
        password=postgres.password,
        connect_timeout=60,
        autocommit=True,
    )


@contextlib.contextmanager
def holding(bouncer: PgBouncer, postgres: Postgres, count: int) -> Iterator[None]:
    """``count`` clients each linked to a server connection (session mode: held until close)."""
    conns = [connect(bouncer, postgres) for _ in range(count)]
    try:
        for conn in conns:
            conn.execute("SELECT 1")
        yield
    finally:
        for conn in conns:
            conn.close()


@contextlib.contextmanager
def one_waiting(bouncer: PgBouncer, postgres: Postgres) -> Iterator[None]:
    """One more client, queued for a server connection (cl_waiting) while the pool is held."""
    waiting: list[Any] = []

    def wait_in_line() -> None:
        # PgBouncer links a server at the first query: this one queues for it.
        with contextlib.suppress(Exception):  # the test fails on the alert, not here
            conn = connect(bouncer, postgres)
            waiting.append(conn)
            conn.execute("SELECT 1")

    thread = threading.Thread(target=wait_in_line, daemon=True)
    thread.start()
    try:
        yield
    finally:
        for conn in waiting:
            conn.close()
        thread.join(30)


def verify_alerts(cli: Callable[..., Any], url: str, report: Path) -> tuple[Any, dict[str, Any]]:
    """``invoke verify --target local --only alerts.firing --prometheus URL`` and its JSON row."""
    done = cli(
        "verify", "--env", "alerttest", "--target", "local", "--only", "alerts.firing",
        "--prometheus", url, "--timeout", "5", "--json", str(report),
    )  # fmt: skip
    assert "Traceback" not in done.stdout + done.stderr
    (row,) = [r for r in json.loads(report.read_text())["results"]]
    return done, row


def started(repo: Layout, postgres: Postgres, factory: Callable[..., PgBouncer]) -> Any:
    """The test environment's rules and files, its PgBouncer, and the secret values of both
    (the application's password, and the exporter's stats-only user's)."""
    env = alert_test_environment(repo)
    rf = rendered_rule_file(repo, env)
    _, stack = render_env(repo, env)
    bouncer = factory(default_pool_size=str(POOL), reserve_pool_size="0")
    values = {"postgres_password": postgres.password, "stats_password": bouncer.stats_password}
    return rf, stack.by_name(), bouncer, values


def pool_series_seen(prom: Prometheus) -> None:
    wait_for("the exporter's pool series", lambda: prom.query(POOL_SERIES), 30, prom.log)


def test_every_alert_reading_the_exporter_is_proven_here(repo: Layout) -> None:
    rf = rendered_rule_file(repo, alert_test_environment(repo))
    reading = {a.name for a in alerts_of(rf) if re.search(r"\bpgbouncer_", a.expr)}
    assert reading == set(EXPORTER_ALERTS)


def test_pool_capacity_and_exhaustion_fire_the_pool_alerts(
    repo: Layout,
    cli: Callable[..., Any],
    postgres: Postgres,
    pgbouncer_factory: Callable[..., PgBouncer],
    tmp_path: Path,
) -> None:
    rf, files, bouncer, values = started(repo, postgres, pgbouncer_factory)
    assert {
        a.name: a.duration for a in alerts_of(rf) if a.name in EXPORTER_ALERTS
    } == dict.fromkeys(EXPORTER_ALERTS, HOLD_FOR)
    with (
        pgbouncer_exporter(files, bouncer.port, values, tmp_path) as exporter,
        prometheus(
            rf.text, [Target("kubernetes-pods", exporter.port, POD_LABELS)], tmp_path
        ) as prom,
    ):
        # Half the pool in use (PgBouncer lists a pool once a client used it; Authentik
        # always has, in a cluster): every exporter alert stays silent.
        with holding(bouncer, postgres, POOL - 1):
            pool_series_seen(prom)
            quiet = prom.now()
            for name in EXPORTER_ALERTS:
                prom.assert_silent(name, quiet)
            done, row = verify_alerts(cli, prom.url, tmp_path / "before.json")
            assert done.returncode == 0 and row["status"] == "PASS", row
        # The whole pool held, nobody waiting: the capacity alert fires, the waiting one not.
        since = prom.now()
        with holding(bouncer, postgres, POOL):
            alert = prom.firing(NEAR_LIMIT)
            prom.assert_fired_after_for(NEAR_LIMIT, alert, since)
            assert float(alert["value"]) == pytest.approx(1.0)
            assert alert["labels"]["pod"] == POD_LABELS["pod"]
            assert alert["labels"]["database"] == "authentik"
            assert "of its 2 server connections" in alert["annotations"]["summary"]
            assert prom.history(WAITING, since) == []
            # One more client queues for a server: the exhaustion alert fires.
            since = prom.now()
            with one_waiting(bouncer, postgres):
                alert = prom.firing(WAITING)
                prom.assert_fired_after_for(WAITING, alert, since)
                # verify reads the same alert from the Prometheus HTTP API and fails on it.
                done, row = verify_alerts(cli, prom.url, tmp_path / "verify.json")
                assert done.returncode == 1, done.stdout + done.stderr
                assert row["check"] == "alerts.firing" and row["status"] == "FAIL"
                assert WAITING in row["detail"] and "[critical]" in row["detail"]
                assert "invoke runbook.run db-boot-storm --env alerttest" in row["detail"]
        labels, notes = alert["labels"], alert["annotations"]
        assert labels["database"] == "authentik" and labels["pod"] == POD_LABELS["pod"]
        assert labels["severity"] == "critical" and labels["namespace"] == "authentik"
        assert float(alert["value"]) >= 1
        assert notes["runbook_url"].endswith("/runbooks/db-boot-storm.yaml")
        assert re.search(r": [1-9][0-9]* clients wait for a server connection", notes["summary"])
        assert "pool 2+0" in notes["summary"]
        assert prom.alerts(MISSING) == []
    # Prometheus gone: the check says so within its timeout instead of passing.
    done, row = verify_alerts(cli, prom.url, tmp_path / "gone.json")
    assert done.returncode == 1 and row["status"] == "FAIL"
    assert "connection refused" in row["detail"]


@pytest.mark.parametrize("fault", ["exporter gone", "exporter cannot log in"])
def test_lost_pool_metrics_fire_the_missing_alert(
    repo: Layout,
    postgres: Postgres,
    pgbouncer_factory: Callable[..., PgBouncer],
    tmp_path: Path,
    fault: str,
) -> None:
    rf, files, bouncer, values = started(repo, postgres, pgbouncer_factory)
    with contextlib.ExitStack() as stack:
        exporter = stack.enter_context(pgbouncer_exporter(files, bouncer.port, values, tmp_path))
        target = Target("kubernetes-pods", exporter.port, POD_LABELS)
        prom = stack.enter_context(prometheus(rf.text, [target], tmp_path))
        with holding(bouncer, postgres, 1):
            pool_series_seen(prom)
        # Read (Prometheus started before PgBouncer listed the pool): silent for its `for:`.
        prom.assert_silent(MISSING, prom.now())
        since = prom.now()
        exporter.stop()
        if fault == "exporter cannot log in":
            # Restarted with a credential PgBouncer refuses (a rotated secret): it serves,
            # but reads nothing: pgbouncer_up 0 and no pool series.
            locked_out = stack.enter_context(
                pgbouncer_exporter(
                    files,
                    bouncer.port,
                    values,
                    tmp_path,
                    password="not-the-stats-password",
                    port=exporter.port,
                )
            )
            assert "pgbouncer_up 0" in locked_out.metrics()
        alert = prom.firing(MISSING)
        prom.assert_fired_after_for(MISSING, alert, since)
        assert alert["labels"]["severity"] == "warning"
        assert alert["labels"]["namespace"] == "authentik"
        assert "the pool alerts are blind" in alert["annotations"]["summary"]
