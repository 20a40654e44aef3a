"""The pool alert end to end: a real PgBouncer (started from the rendered config), a real
PgBouncer exporter, a real Prometheus (Debian) loaded with the rendered rules of a test
environment (a short ``for:``), and real client connections exhausting the pool.

Which exporter runs here, honestly: the sidecar in the rendered Deployment is
prometheus-community's ``pgbouncer_exporter`` (Go, ``prometheuscommunity/pgbouncer-exporter``),
which is not packaged for Debian. Debian's ``prometheus-pgbouncer-exporter`` (Python) is
another exporter: it reads the same ``SHOW POOLS`` columns but names them differently.
The test runs Debian's (its pools and databases collectors: its entry point dies at start
against PgBouncer 1.18, see ``debian_exporter.py``) and maps its names to the sidecar's with
Prometheus's own ``metric_relabel_configs`` (``SIDECAR_NAME`` below), so the rules under test
are the rendered rules, unchanged, and a rule naming anything but the sidecar's metrics
finds nothing.
``test_rules_use_only_the_sidecar_exporter_names`` holds the rendered rules to the sidecar's
names (from its collector source, v0.12.1). The labels the cluster's ``kubernetes-pods``
scrape job adds (``namespace``, ``pod``, ``app``) are set on the static target.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from akops import process
from akops.alerts.rules import Alert, RuleFile, alerts_of, rule_files
from akops.layout import Layout
from akops.render import render_env
from akops.yamldoc import parse_one

if TYPE_CHECKING:
    from conftest import PgBouncer, Postgres  # the fixtures' types (tests/integration/conftest)

PROMETHEUS = Path("/usr/bin/prometheus")
DEBIAN_EXPORTER = Path("/usr/bin/prometheus-pgbouncer-exporter")
SYSTEM_PYTHON = Path("/usr/bin/python3")  # where Debian installs the exporter's package
LAUNCHER = Path(__file__).with_name("debian_exporter.py")

#: Debian's exporter (SHOW POOLS column -> its name) mapped to the sidecar's name.
SIDECAR_NAME = {
    "pgbouncer_waiting_clients": "pgbouncer_pools_client_waiting_connections",  # cl_waiting
    "pgbouncer_active_clients": "pgbouncer_pools_client_active_connections",  # cl_active
}
#: The metrics prometheus-community pgbouncer_exporter v0.12.1 exports (collector.go).
SIDECAR_METRICS = frozenset(
    {
        *(
            f"pgbouncer_pools_{m}"
            for m in (
                "client_active_connections",
                "client_active_cancel_connections",
                "client_waiting_connections",
                "client_waiting_cancel_connections",
                "server_active_connections",
                "server_active_cancel_connections",
                "server_being_canceled_connections",
                "server_idle_connections",
                "server_used_connections",
                "server_testing_connections",
                "server_login_connections",
                "client_maxwait_seconds",
            )
        ),
        *(
            f"pgbouncer_databases_{m}"
            for m in (
                "pool_size",
                "reserve_pool",
                "max_connections",
                "current_connections",
                "paused",
                "disabled",
            )
        ),
        "pgbouncer_up",
        "pgbouncer_config_max_client_connections",
        "pgbouncer_config_max_user_connections",
    }
)
POD_LABELS = {"namespace": "authentik", "pod": "pgbouncer-7d9f8b6c4-x2k8q", "app": "pgbouncer"}
POOL = 2  # default_pool_size of the test environment and of the PgBouncer it starts
HOLD_FOR = "5s"
HTTP_TIMEOUT = 5.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def require(path: Path, package: str) -> None:
    if not path.exists():
        pytest.fail(f"{path} not found: apt-get install {package}", pytrace=False)


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT) as answer:
        return json.loads(answer.read())


def wait_for(what: str, probe: Callable[[], Any], timeout: float, log: Path | None = None) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError):
            last = probe()
            if last:
                return last
        time.sleep(0.25)
    tail = log.read_text()[-2000:] if log and log.exists() else ""
    pytest.fail(f"{what} not seen within {timeout}s (last: {last!r}) {tail}", pytrace=False)


def alert_test_environment(repo: Layout) -> str:
    """``alerttest``: prod with a pool of 2 and the pool alert's ``for:`` at 5s."""
    data = yaml.safe_load((repo.environments / "prod.yaml").read_text())
    data["name"] = "alerttest"
    data["pgbouncer"]["settings"].update(default_pool_size=POOL, reserve_pool_size=0)
    data["monitoring"]["alerts"]["pool_clients_waiting"] = {"above": 0, "for": HOLD_FOR}
    (repo.environments / "alerttest.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return "alerttest"


def rendered_rule_file(repo: Layout, env: str) -> RuleFile:
    _, stack = render_env(repo, env)
    doc = parse_one(stack.by_name()["alerts-rules.yaml"], "alerts-rules.yaml")
    (rf,) = rule_files(doc.data, "alerts-rules.yaml", doc.line_of)
    return rf


def test_rules_use_only_the_sidecar_exporter_names(layout: Layout) -> None:
    text = " ".join(a.expr for a in alerts_of(rendered_rule_file(layout, "prod")))
    used = set(re.findall(r"\bpgbouncer_[a-z_]+", text))
    assert used, "the rules use no PgBouncer metric"
    assert used <= SIDECAR_METRICS, used - SIDECAR_METRICS


@dataclass
class Prometheus:
    url: str
    child: process.Child
    log: Path

    def alerts(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = get_json(f"{self.url}/api/v1/alerts")["data"]["alerts"]
        return found

    def query(self, expr: str) -> list[dict[str, Any]]:
        q = urllib.parse.quote(expr)
        result: list[dict[str, Any]] = get_json(f"{self.url}/api/v1/query?query={q}")["data"][
            "result"
        ]
        return result


@contextlib.contextmanager
def debian_exporter(bouncer: PgBouncer, postgres: Postgres, tmp: Path) -> Iterator[int]:
    require(DEBIAN_EXPORTER, "prometheus-pgbouncer-exporter")
    port = free_port()
    log = tmp / "exporter.log"
    # postgres.user is the rendered pgbouncer.ini's stats_users, as in the sidecar.
    argv = [str(SYSTEM_PYTHON), str(LAUNCHER), str(port), str(bouncer.port), postgres.user]
    env = {"PATH": "/usr/bin:/bin", "PGPASSWORD": postgres.password}
    with process.spawn(argv, env=env, log=log) as child:

        def serves() -> bool:
            if not child.alive():
                pytest.fail(f"exporter exited: {log.read_text()[-2000:]}", pytrace=False)
            with urllib.request.urlopen(
                f"http://127.0.0.1:{port}/metrics", timeout=HTTP_TIMEOUT
            ) as answer:
                return b"pgbouncer_waiting_clients" in answer.read()

        wait_for("the exporter's pool metrics", serves, 30, log)
        yield port


@contextlib.contextmanager
def prometheus(rules: str, exporter_port: int, tmp: Path) -> Iterator[Prometheus]:
    require(PROMETHEUS, "prometheus")
    (tmp / "authentik.rules.yml").write_text(rules)
    relabel = [
        {
            "source_labels": ["__name__"],
            "regex": re.escape(debian),
            "target_label": "__name__",
            "replacement": sidecar,
        }
        for debian, sidecar in SIDECAR_NAME.items()
    ]
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(tmp / "authentik.rules.yml")],
        "scrape_configs": [
            {
                "job_name": "kubernetes-pods",
                "static_configs": [
                    {"targets": [f"127.0.0.1:{exporter_port}"], "labels": POD_LABELS}
                ],
                "metric_relabel_configs": relabel,
            }
        ],
    }
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = tmp / "prometheus.log"
    argv = [
        str(PROMETHEUS),
        f"--config.file={tmp / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    with process.spawn(argv, log=log) as child:
        prom = Prometheus(f"http://127.0.0.1:{port}", child, log)

        def ready() -> bool:
            if not child.alive():
                pytest.fail(f"prometheus exited: {log.read_text()[-2000:]}", pytrace=False)
            with urllib.request.urlopen(f"{prom.url}/-/ready", timeout=HTTP_TIMEOUT) as answer:
                return answer.status == 200

        wait_for("Prometheus ready", ready, 30, log)
        yield prom


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
def exhausted_pool(bouncer: PgBouncer, postgres: Postgres) -> Iterator[None]:
    """``POOL`` clients hold every server connection (session mode); one more waits."""
    holders = [connect(bouncer, postgres) for _ in range(POOL)]
    for conn in holders:
        conn.execute("SELECT 1")
    waiting: list[Any] = []

    def wait_in_line() -> None:
        # PgBouncer links a server at the first query: this one queues for it (cl_waiting).
        with contextlib.suppress(Exception):  # the test fails on the alert, not here
            conn = connect(bouncer, postgres)
            waiting.append(conn)
            conn.execute("SELECT 1")

    thread = threading.Thread(target=wait_in_line, daemon=True)
    thread.start()
    try:
        yield
    finally:
        for conn in holders:
            conn.close()
        thread.join(30)
        for conn in waiting:
            conn.close()


def verify_alerts(cli: Callable[..., Any], url: str, report: Path) -> tuple[Any, dict[str, Any]]:
    """``invoke verify --target local --only alerts.firing --prometheus URL`` and its JSON row."""
    done = cli(
        "verify", "--env", "alerttest", "--target", "local", "--only", "alerts.firing",
        "--prometheus", url, "--timeout", "5", "--json", str(report),
    )  # fmt: skip
    assert "Traceback" not in done.stdout + done.stderr
    (row,) = [r for r in json.loads(report.read_text())["results"]]
    return done, row


def test_pool_exhaustion_fires_the_pool_alert_in_prometheus(
    repo: Layout,
    cli: Callable[..., Any],
    postgres: Postgres,
    pgbouncer_factory: Callable[..., PgBouncer],
    tmp_path: Path,
) -> None:
    rf = rendered_rule_file(repo, alert_test_environment(repo))
    rule: Alert = next(a for a in alerts_of(rf) if a.name == "PgBouncerClientsWaiting")
    assert rule.duration == HOLD_FOR  # from the test's environment
    bouncer = pgbouncer_factory(default_pool_size=str(POOL), reserve_pool_size="0")
    with (
        debian_exporter(bouncer, postgres, tmp_path) as exporter_port,
        prometheus(rf.text, exporter_port, tmp_path) as prom,
    ):
        series = (
            'pgbouncer_pools_client_waiting_connections{namespace="authentik",database="authentik"}'
        )
        # PgBouncer lists a pool once a client used it (Authentik always has, in a cluster).
        with connect(bouncer, postgres) as conn:
            conn.execute("SELECT 1")
        wait_for("the pool series under the sidecar's name", lambda: prom.query(series), 30)
        done, row = verify_alerts(cli, prom.url, tmp_path / "before.json")
        assert done.returncode == 0 and row["status"] == "PASS", row
        assert not [
            a for a in prom.alerts() if a["labels"]["alertname"] == "PgBouncerClientsWaiting"
        ]
        with exhausted_pool(bouncer, postgres):

            def firing() -> list[dict[str, Any]]:
                return [
                    a
                    for a in prom.alerts()
                    if a["labels"]["alertname"] == "PgBouncerClientsWaiting"
                    and a["state"] == "firing"
                ]

            (alert,) = wait_for("PgBouncerClientsWaiting firing", firing, 60, prom.log)
            # verify reads the same alert from the Prometheus HTTP API and fails on it.
            done, row = verify_alerts(cli, prom.url, tmp_path / "verify.json")
            assert done.returncode == 1, done.stdout + done.stderr
            assert row["check"] == "alerts.firing" and row["status"] == "FAIL"
            assert "PgBouncerClientsWaiting" in row["detail"] and "[critical]" in row["detail"]
            assert "invoke runbook.run db-boot-storm --env alerttest" in row["detail"]
        labels, notes = alert["labels"], alert["annotations"]
        assert labels["database"] == "authentik" and labels["pod"] == POD_LABELS["pod"]
        assert labels["severity"] == "critical" and labels["namespace"] == "authentik"
        assert float(alert["value"]) >= 1
        assert notes["runbook_url"].endswith("/runbooks/db-boot-storm.yaml")
        assert re.search(r": [1-9][0-9]* clients wait for a server connection", notes["summary"])
        assert "pool 2+0" in notes["summary"]
    # Prometheus gone: the check says so within its timeout instead of passing.
    done, row = verify_alerts(cli, prom.url, tmp_path / "gone.json")
    assert done.returncode == 1 and row["status"] == "FAIL"
    assert "connection refused" in row["detail"]
