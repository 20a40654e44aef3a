"""``alerts.firing``: the stack's alerts firing in Prometheus, each with its runbook.

Rule: pure (probes and verdict: ``akops.alerts.firing``); the observation is declared: one
GET of the Prometheus HTTP API with the run's timeout, read by ``akops.verify.observe``
(``akops.alerts.query``). Runs when ``--prometheus URL`` or the environment's
``monitoring.prometheus_url`` names a Prometheus; skipped otherwise. A firing critical alert fails verify.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from akops.verify.check import Check, Observation, Probe, Subject, skip
from akops.verify.results import Outcome, failed, passed

if TYPE_CHECKING:
    from akops.alerts.firing import ActiveAlert

NO_PROMETHEUS = "no Prometheus named: --prometheus URL or monitoring.prometheus_url"


def _probes(cid: str, s: Subject) -> list[Probe]:
    if not s.prometheus:
        return [skip(cid, "prometheus", NO_PROMETHEUS)]
    m = s.env.monitoring
    args = {
        "url": s.prometheus,
        "namespace": s.namespace,
        "runbook_url": m.runbook_url if m else None,
        "env": s.env.name,
    }
    return [Probe(cid, s.prometheus.split("://", 1)[-1], "http", args=args)]


def _judge(alerts: Sequence[ActiveAlert], probe: Probe) -> Outcome:
    from akops.alerts import firing

    a = probe.args
    v = firing.verdict(alerts, a["namespace"], a["runbook_url"], a["env"])
    return passed(v.detail) if v.ok else failed(v.detail)


CHECKS = (
    Check(
        "alerts.firing",
        "no critical alert of the stack firing in Prometheus (each alert with its runbook)",
        "any",
        probes=_probes,
        observe=Observation("alerts", _judge),
    ),
)
