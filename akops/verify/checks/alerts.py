"""``alerts.firing``: the stack's alerts firing in Prometheus, each with its runbook.

Rule: probes and verdict pure (``akops.alerts.firing``); observation is one GET of the
Prometheus HTTP API with the run's timeout (``akops.alerts.query``). Runs when
``--prometheus URL`` or the environment's ``monitoring.prometheus_url`` names a Prometheus;
skipped otherwise. A firing critical alert fails verify.
"""

from __future__ import annotations

from akops.verify.check import Check, Probe, Sources, Subject, skip
from akops.verify.results import Outcome, failed, passed

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


# I/O (the integration tests prove it), not mutated: no unit test can reach it.
def _observe(probe: Probe, src: Sources) -> Outcome:  # pragma: no mutate block
    from akops.alerts import firing, query

    fetched = query.active_alerts(probe.args["url"], src.timeout)
    if fetched.error is not None:
        return failed(f"cannot read alerts from {fetched.url}: {fetched.error}")
    v = firing.verdict(
        fetched.alerts, probe.args["namespace"], probe.args["runbook_url"], probe.args["env"]
    )
    return passed(v.detail) if v.ok else failed(v.detail)


CHECKS = (
    Check(
        "alerts.firing",
        "no critical alert of the stack firing in Prometheus (each alert with its runbook)",
        "any",
        probes=_probes,
        observe=_observe,
    ),
)
