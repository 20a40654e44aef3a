"""A real Prometheus (Debian's) for the alert tests, and what it says through its HTTP API.

Every judgement is made on Prometheus's own record, never on the test's clock: ``now()`` is
Prometheus's ``time()``, an alert's ``activeAt`` and the ``ALERTS`` series are what its rule
manager wrote, and ``evaluated_past(t)`` waits until the rule group has been evaluated at a
time after ``t``. So "fires within its for:" reads: pending from a time after the condition
was made real, firing at an evaluation at least ``for`` later; and "stays silent" reads: no
``ALERTS`` sample at all (neither pending nor firing) over a window longer than ``for``.

The scrape targets get the labels the prometheus-community chart's ``kubernetes-pods`` job
gives a pod (``namespace``, ``pod`` and the pod's labels) as static labels: there is no
Kubernetes service discovery here. Nothing else is rewritten: no metric relabelling.
"""

from __future__ import annotations

import contextlib
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from akops import process
from akops.alerts.rules import RuleFile, rule_files
from akops.layout import Layout
from akops.rehearse.start import free_port
from akops.render import render_env
from akops.yamldoc import parse_one

PROMETHEUS = Path("/usr/bin/prometheus")
HTTP_TIMEOUT = 5.0
#: Scrape and rule evaluation every second: a `for:` of a few seconds is a few evaluations.
INTERVAL = "1s"


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT) as answer:
        return json.loads(answer.read())


def wait_for(what: str, probe: Callable[[], Any], timeout: float, log: Path | None = None) -> Any:
    """Poll ``probe`` until it returns something true; fail naming ``what`` (a deadline, not a
    timing assertion: the judgement is made on what the probe returns)."""
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


def rendered_rule_file(repo: Layout, env: str) -> RuleFile:
    """The rule file of ``env``'s rendered ``alerts-rules.yaml``, as Prometheus reads it."""
    _, stack = render_env(repo, env)
    doc = parse_one(stack.by_name()["alerts-rules.yaml"], "alerts-rules.yaml")
    (rf,) = rule_files(doc.data, "alerts-rules.yaml", doc.line_of)
    return rf


def timestamp(rfc3339: str) -> float:
    """Prometheus's RFC 3339 times (nanoseconds, ``Z``) as Unix seconds."""
    head, _, frac = rfc3339.rstrip("Z").partition(".")
    moment = datetime.fromisoformat(f"{head}.{(frac or '0')[:6]:0<6}+00:00")
    return moment.timestamp()


@dataclass(frozen=True)
class Target:
    """One scrape target: an exporter on 127.0.0.1 and the labels its pod would give it."""

    job: str
    port: int
    labels: dict[str, str]


@dataclass
class Prometheus:
    url: str
    child: process.Child
    log: Path

    def _api(self, path: str, **params: str) -> Any:
        query = urllib.parse.urlencode(params)
        answer = get_json(f"{self.url}/api/v1/{path}" + (f"?{query}" if query else ""))
        if answer.get("status") != "success":
            raise ValueError(f"{path}: {answer}")
        return answer["data"]

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """An instant query, now or at Prometheus time ``at``."""
        params = {"query": expr} if at is None else {"query": expr, "time": f"{at:.3f}"}
        result: list[dict[str, Any]] = self._api("query", **params)["result"]
        return result

    def now(self) -> float:
        """Prometheus's own time (``time()``)."""
        return float(self._api("query", query="time()")["result"][1])

    def alerts(self, name: str, state: str | None = None) -> list[dict[str, Any]]:
        found = self._api("alerts")["alerts"]
        return [
            a
            for a in found
            if a["labels"]["alertname"] == name and (state is None or a["state"] == state)
        ]

    def rule(self, name: str) -> dict[str, Any]:
        for group in self._api("rules", type="alert")["groups"]:
            for rule in group["rules"]:
                if rule["name"] == name:
                    return dict(rule)
        raise ValueError(f"no alerting rule {name} loaded")

    def evaluated_past(self, moment: float, timeout: float = 60) -> None:
        """Wait until the rule group has been evaluated at a time after ``moment``."""

        def past() -> bool:
            groups = self._api("rules", type="alert")["groups"]
            return all(timestamp(g["lastEvaluation"]) > moment for g in groups)

        wait_for(f"a rule evaluation after {moment}", past, timeout, self.log)

    def history(self, name: str, since: float) -> list[tuple[float, str]]:
        """Every ``ALERTS`` sample of ``name`` from ``since`` to now: (time, alertstate)."""
        now = self.now()
        window = max(1, int(now - since) + 1)
        out: list[tuple[float, str]] = []
        for series in self.query(f'ALERTS{{alertname="{name}"}}[{window}s]'):
            state = series["metric"]["alertstate"]
            # Sample times are milliseconds; ``since`` may carry more.
            out.extend((float(t), state) for t, _ in series["values"] if float(t) > since - 0.001)
        return sorted(out)

    def firing(self, name: str, timeout: float = 90) -> dict[str, Any]:
        """The one firing alert ``name``, waited for."""
        alerts: list[dict[str, Any]] = wait_for(
            f"{name} firing", lambda: self.alerts(name, "firing"), timeout, self.log
        )
        assert len(alerts) == 1, alerts
        return alerts[0]

    def assert_fired_after_for(self, name: str, alert: dict[str, Any], since: float) -> None:
        """Pending from after ``since`` (taken before the condition was made real), and
        firing at the first evaluation ``for`` after it went pending: never earlier, and not
        left pending past it."""
        hold = self.rule(name)["duration"]
        active = timestamp(alert["activeAt"])
        assert active >= since, (name, alert["activeAt"], since)
        samples = self.history(name, since)
        pending = [t for t, state in samples if state == "pending"]
        fired = [t for t, state in samples if state == "firing"]
        assert fired, f"{name}: no firing sample in ALERTS"
        # Samples carry milliseconds, activeAt nanoseconds: one millisecond of rounding.
        assert fired[0] + 0.001 - active >= hold, (name, fired[0], active, hold)
        assert all(t < fired[0] for t in pending), (name, samples)
        assert all(t + 0.001 - active < hold for t in pending), (name, samples, active)

    def assert_silent(self, name: str, since: float) -> None:
        """Not pending nor firing at any evaluation from ``since`` until ``for`` (and two
        evaluations) after it."""
        hold = self.rule(name)["duration"]
        self.evaluated_past(since + hold + 2)
        assert self.history(name, since) == [], f"{name} was pending or firing"
        assert self.rule(name)["state"] == "inactive"


@contextlib.contextmanager
def prometheus(rules: str, targets: list[Target], tmp: Path) -> Iterator[Prometheus]:
    """A real Prometheus evaluating ``rules`` every second and scraping ``targets``."""
    if not PROMETHEUS.exists():
        pytest.fail(f"{PROMETHEUS} not found: apt-get install prometheus", pytrace=False)
    (tmp / "authentik.rules.yml").write_text(rules)
    jobs: dict[str, list[dict[str, Any]]] = {}
    for t in targets:
        jobs.setdefault(t.job, []).append(
            {"targets": [f"127.0.0.1:{t.port}"], "labels": dict(t.labels)}
        )
    config = {
        "global": {"scrape_interval": INTERVAL, "evaluation_interval": INTERVAL},
        "rule_files": [str(tmp / "authentik.rules.yml")],
        "scrape_configs": [
            {"job_name": job, "static_configs": statics} for job, statics in jobs.items()
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
            try:
                with urllib.request.urlopen(f"{prom.url}/-/ready", timeout=HTTP_TIMEOUT) as a:
                    return a.status == 200
            except urllib.error.HTTPError:
                return False

        wait_for("Prometheus ready", ready, 30, log)
        yield prom
