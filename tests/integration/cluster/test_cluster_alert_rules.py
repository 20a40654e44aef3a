"""The alert rules ConfigMap lives in Prometheus's namespace: planned, applied, clean after."""

from __future__ import annotations

import pytest
import yaml

from akops.layout import Layout
from akops.ops import operations as deploy
from akops.requests import ApplyRequest, PlanRequest

from .conftest import ENV, local_environment
from .plane import Plane

pytestmark = pytest.mark.integration


STATS_VAR = "AKOPS_LOCAL_STATS_PASSWORD"


@pytest.fixture
def monitored(local: Layout, cluster: Plane, monkeypatch: pytest.MonkeyPatch) -> Layout:
    """The local environment with the lab's monitoring block (rules as a ConfigMap, in a
    Prometheus namespace of this test's that exists, as Prometheus's does), and the exporter's
    stats-only password that monitoring needs (its own secret)."""
    lab = yaml.safe_load((local.environments / "lab.yaml").read_text())
    monitoring = {
        **lab["monitoring"],
        "namespace": cluster.make_namespace(f"{cluster.namespace}-mon"),
    }
    monkeypatch.setenv(STATS_VAR, "stats-canary-not-the-apps")
    local_environment(
        local, cluster.namespace, monitoring=monitoring, secrets__stats_password={"env": STATS_VAR}
    )
    return local


def test_rules_configmap_is_applied_in_prometheus_namespace(
    monitored: Layout, cluster: Plane
) -> None:
    mon = f"{cluster.namespace}-mon"
    first = deploy.plan_env(monitored, PlanRequest(env=ENV, skip_helm=True))
    planned = {(str(o.ref), o.ref.namespace, o.action) for o in first.objects}
    assert ("ConfigMap/authentik-alerts", mon, "add") in planned
    assert ("Deployment/pgbouncer", cluster.namespace, "add") in planned
    deploy.apply_env(monitored, ApplyRequest(env=ENV, skip_helm=True, yes=True), out=lambda _: None)
    live = cluster.get("configmaps", "authentik-alerts", namespace=mon)
    assert live is not None and "authentik.rules.yml" in live["data"]
    assert "PgBouncerClientsWaiting" in live["data"]["authentik.rules.yml"]
    assert cluster.get("configmaps", "authentik-alerts") is None  # not in the stack's namespace
    again = deploy.plan_env(monitored, PlanRequest(env=ENV, skip_helm=True))
    assert again.summary() == "Plan: 0 to add, 0 to change, 0 to destroy."
