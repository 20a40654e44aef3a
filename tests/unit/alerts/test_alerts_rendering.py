"""The exporter sidecar, scrape wiring and alert rules as rendered per environment (pure)."""

from __future__ import annotations

import configparser
from pathlib import Path
from typing import Any

import pytest
import yaml

from akops.alerts.rules import Alert, alerts_of, rule_files, runbook_of
from akops.environment import Environment, load_environment, seconds
from akops.layout import Layout
from akops.secrets import placeholder
from akops.stack import render_stack
from akops.yamldoc import parse_one


def rendered(env: Environment, layout: Layout) -> dict[str, Any]:
    stack = render_stack(env, layout.templates)
    return {f.name: yaml.safe_load(f.text) for f in stack.files}


def alerts(env: Environment, layout: Layout) -> dict[str, Alert]:
    text = render_stack(env, layout.templates).by_name()["alerts-rules.yaml"]
    doc = parse_one(text, "alerts-rules.yaml")
    return {a.name: a for rf in rule_files(doc.data, "x", doc.line_of) for a in alerts_of(rf)}


@pytest.fixture(scope="module")
def prod_env(layout: Layout) -> Environment:
    return load_environment("prod", layout.environments)


@pytest.fixture(scope="module")
def prod(prod_env: Environment, layout: Layout) -> dict[str, Any]:
    return rendered(prod_env, layout)


def without_monitoring(env: Environment) -> Environment:
    return env.model_copy(update={"monitoring": None})


def tuned(env: Environment, **changes: Any) -> Environment:
    assert env.monitoring is not None
    return env.model_copy(update={"monitoring": env.monitoring.model_copy(update=changes)})


def test_exporter_sidecar_reads_the_admin_console_as_the_stats_user(
    prod: dict[str, Any],
) -> None:
    pod = prod["pgbouncer-deployment.yaml"]["spec"]["template"]["spec"]
    names = [c["name"] for c in pod["containers"]]
    assert names == ["pgbouncer", "exporter"]
    x = pod["containers"][1]
    assert x["image"] == "prometheuscommunity/pgbouncer-exporter:v0.12.1"
    assert x["ports"] == [{"name": "metrics", "containerPort": 9127, "protocol": "TCP"}]
    env = {e["name"]: e for e in x["env"]}
    ini = configparser.ConfigParser()
    ini.read_string(prod["pgbouncer-configmap.yaml"]["data"]["pgbouncer.ini"])
    # Its own stats-only user, listed in stats_users: not the application's (authentik).
    stats_users = [u.strip() for u in ini["pgbouncer"]["stats_users"].split(",")]
    assert stats_users == ["authentik", "pgbouncer_stats"]
    assert env["PGBOUNCER_EXPORTER_CONNECTION_STRING"]["value"] == (
        "postgres://pgbouncer_stats@127.0.0.1:6432/pgbouncer?sslmode=disable"
    )
    # The password comes from the Secret, never from a plain value.
    assert env["PGPASSWORD"] == {
        "name": "PGPASSWORD",
        "valueFrom": {"secretKeyRef": {"name": "pgbouncer-auth", "key": "stats-password"}},
    }
    secret = prod["pgbouncer-secret.yaml"]["stringData"]
    assert secret["stats-password"] == placeholder("stats_password")
    assert secret["userlist.txt"].splitlines() == [
        f'"authentik" "{placeholder("postgres_password", "userlist")}"',
        f'"pgbouncer_stats" "{placeholder("stats_password", "userlist")}"',
    ]
    assert x["resources"] == {
        "requests": {"cpu": "10m", "memory": "32Mi"},
        "limits": {"memory": "32Mi"},
    }
    for probe in ("readinessProbe", "livenessProbe"):
        assert x[probe]["httpGet"] == {"path": "/", "port": "metrics"}
    # The restricted baseline of the pod and of PgBouncer's own container, unchanged.
    assert x["securityContext"] == pod["containers"][0]["securityContext"]
    assert x["securityContext"]["readOnlyRootFilesystem"]
    assert x["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert pod["securityContext"]["runAsNonRoot"]
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}


def test_scrape_annotations_name_the_exporter_port(prod: dict[str, Any]) -> None:
    template = prod["pgbouncer-deployment.yaml"]["spec"]["template"]
    notes = template["metadata"]["annotations"]
    assert notes["prometheus.io/scrape"] == "true"
    assert notes["prometheus.io/port"] == "9127"
    assert notes["prometheus.io/path"] == "/metrics"


def test_prod_delivers_a_rule_file_configmap_in_prometheus_namespace(
    prod: dict[str, Any],
) -> None:
    cm = prod["alerts-rules.yaml"]
    assert (cm["kind"], cm["metadata"]["namespace"]) == ("ConfigMap", "monitoring")
    (key,) = cm["data"]
    assert key == "authentik.rules.yml"
    groups = yaml.safe_load(cm["data"][key])["groups"]
    assert [g["name"] for g in groups] == ["authentik-prod"]


def test_every_threshold_and_for_comes_from_the_environment(
    prod_env: Environment, layout: Layout
) -> None:
    before = alerts(prod_env, layout)
    assert prod_env.monitoring is not None
    a = prod_env.monitoring.alerts
    changed = a.model_copy(
        update={
            "pool_clients_waiting": a.pool_clients_waiting.model_copy(
                update={"above": 3, "for_": "30s"}
            ),
            "restarts": a.restarts.model_copy(update={"window": "1h"}),
        }
    )
    after = alerts(tuned(prod_env, alerts=changed), layout)
    waiting = after["PgBouncerClientsWaiting"]
    assert waiting.duration == "30s" and before["PgBouncerClientsWaiting"].duration == "2m"
    assert waiting.expr.rstrip().endswith("> 3")
    assert "[1h]" in after["AuthentikContainerRestarts"].expr
    # The /dev/shm alert fires at verify's threshold: one number for both.
    shm = prod_env.model_copy(
        update={"verify": prod_env.verify.model_copy(update={"shm_threshold": 65})}
    )
    assert alerts(shm, layout)["AuthentikOutpostDevShmFull"].expr.rstrip().endswith("> 0.65")


def test_pool_limit_follows_pgbouncer_settings(prod_env: Environment, layout: Layout) -> None:
    expr = alerts(prod_env, layout)["PgBouncerServerConnectionsNearLimit"].expr
    assert ") / 25 > 0.9" in expr  # default_pool_size 20 + reserve_pool_size 5


def test_every_alert_links_its_runbook_by_the_environment_url(
    prod_env: Environment, layout: Layout
) -> None:
    assert prod_env.monitoring is not None
    template = prod_env.monitoring.runbook_url
    found = alerts(prod_env, layout)
    assert len(found) >= 17
    for a in found.values():
        assert runbook_of(a.runbook_url, template) is not None, a.name
        assert (layout.runbooks / f"{runbook_of(a.runbook_url, template)}.yaml").is_file()
        assert a.severity in ("critical", "warning")
        assert a.labels["stack"] == "authentik"


def test_without_monitoring_nothing_is_rendered_for_it(
    prod_env: Environment, layout: Layout
) -> None:
    files = rendered(without_monitoring(prod_env), layout)
    assert "alerts-rules.yaml" not in files
    pod = files["pgbouncer-deployment.yaml"]["spec"]["template"]
    assert [c["name"] for c in pod["spec"]["containers"]] == ["pgbouncer"]
    assert not any(k.startswith("prometheus.io/") for k in pod["metadata"]["annotations"])
    assert "stats-password" not in files["pgbouncer-secret.yaml"]["stringData"]


def test_durations_in_seconds() -> None:
    assert seconds("24h") == 86400
    assert seconds("1h30m") == 5400
    assert seconds("0m") == 0


def test_runbook_urls_round_trip() -> None:
    template = "https://git.example/ops/src/branch/main/runbooks/{runbook}.yaml"
    assert (
        runbook_of("https://git.example/ops/src/branch/main/runbooks/db-boot-storm.yaml", template)
        == "db-boot-storm"
    )
    assert runbook_of("https://elsewhere.example/runbooks/db-boot-storm.yaml", template) is None


def test_bad_monitoring_settings_name_the_field(layout: Layout, tmp_path: Path) -> None:
    from akops.errors import EnvironmentConfigError

    text = (layout.environments / "prod.yaml").read_text()
    bad = text.replace(
        "pool_clients_waiting: {above: 0, for: 2m}", "pool_clients_waiting: {above: 0, for: soon}"
    )
    assert bad != text
    (tmp_path / "prod.yaml").write_text(bad)
    with pytest.raises(
        EnvironmentConfigError, match=r"monitoring\.alerts\.pool_clients_waiting\.for"
    ):
        load_environment("prod", tmp_path)


def test_prometheus_operator_forms(prod_env: Environment, layout: Layout) -> None:
    """rules: prometheusrule and scrape: servicemonitor render the operator's objects."""
    env = tuned(
        prod_env,
        rules="prometheusrule",
        scrape="servicemonitor",
        operator_labels={"release": "kube-prometheus-stack"},
    )
    files = render_stack(env, layout.templates).by_name()
    rule = yaml.safe_load(files["alerts-rules.yaml"])
    assert (rule["apiVersion"], rule["kind"]) == ("monitoring.coreos.com/v1", "PrometheusRule")
    assert rule["metadata"]["namespace"] == "authentik"
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    configmap = yaml.safe_load(
        render_stack(prod_env, layout.templates).by_name()["alerts-rules.yaml"]
    )
    assert rule["spec"] == yaml.safe_load(configmap["data"]["authentik.rules.yml"])
    service, monitor = yaml.safe_load_all(files["pgbouncer-metrics.yaml"])
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"
    assert service["spec"]["clusterIP"] == "None"
    assert monitor["kind"] == "ServiceMonitor"
    assert monitor["spec"]["selector"]["matchLabels"] == {"akops.io/scrape": "pgbouncer"}
    assert service["metadata"]["labels"]["akops.io/scrape"] == "pgbouncer"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["endpoints"] == [
        {"port": "metrics", "path": "/metrics", "interval": "30s"}
    ]
    notes = yaml.safe_load(files["pgbouncer-deployment.yaml"])["spec"]["template"]["metadata"]
    assert not any(k.startswith("prometheus.io/") for k in notes["annotations"])
    # The alert rules inside are the same, and the cross-checks read them there too.
    from akops.cluster.objects import manifests

    refs = {str(m.ref) for m in manifests(render_stack(env, layout.templates), "authentik")}
    assert {"PrometheusRule/authentik-alerts", "ServiceMonitor/pgbouncer"} <= refs


def _shm_ops(files: dict[str, str]) -> dict[str, Any]:
    ops = yaml.safe_load(files["outpost-patches.yaml"])["kubernetes_json_patches"]["deployment"]
    return {op["path"]: op["value"] for op in ops}


def test_the_outposts_shm_sidecar_is_scraped_in_either_form(
    prod_env: Environment, layout: Layout
) -> None:
    """Annotations (prod): the patches annotate the pod for the kubernetes-pods job.
    ServiceMonitor: a headless Service over the sidecar's port and a ServiceMonitor instead."""
    files = render_stack(prod_env, layout.templates).by_name()
    ops = _shm_ops(files)
    sidecar = ops["/spec/template/spec/containers/-"]
    assert sidecar["name"] == "shm-exporter"
    assert sidecar["volumeMounts"] == [{"name": "dshm", "mountPath": "/dev/shm", "readOnly": True}]
    assert ops["/spec/template/metadata/annotations"] == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "9100",
        "prometheus.io/path": "/metrics",
    }
    assert "outpost-metrics.yaml" not in files
    env = tuned(prod_env, scrape="servicemonitor", operator_labels={"release": "kps"})
    files = render_stack(env, layout.templates).by_name()
    assert "/spec/template/metadata/annotations" not in _shm_ops(files)
    service, monitor = yaml.safe_load_all(files["outpost-metrics.yaml"])
    assert service["spec"]["selector"] == {
        "goauthentik.io/outpost-name": "authentik-embedded-outpost"
    }
    assert service["spec"]["ports"][0]["targetPort"] == "shm-metrics"
    assert monitor["spec"]["selector"]["matchLabels"] == {"akops.io/scrape": "outpost-shm"}
    assert service["metadata"]["labels"]["akops.io/scrape"] == "outpost-shm"
    assert monitor["metadata"]["labels"]["release"] == "kps"
    from akops.cluster.objects import manifests

    stack = render_stack(env, layout.templates)
    refs = {str(m.ref) for m in manifests(stack, "authentik", env.other_namespaces)}
    assert {"Service/outpost-shm-metrics", "ServiceMonitor/outpost-shm"} <= refs
    # Without monitoring there is no sidecar: nothing would scrape it.
    bare = render_stack(without_monitoring(prod_env), layout.templates).by_name()
    assert "/spec/template/spec/containers/-" not in _shm_ops(bare)
