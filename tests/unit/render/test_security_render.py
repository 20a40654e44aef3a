"""The security baseline as rendered: PgBouncer, Authentik values, outpost patches, NetworkPolicy."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from akops.environment import Environment, load_environment
from akops.errors import EnvironmentConfigError
from akops.layout import Layout
from akops.stack import render_stack


def rendered(layout: Layout, env: Environment) -> dict[str, Any]:
    return {n: yaml.safe_load(t) for n, t in render_stack(env, layout.templates).by_name().items()}


@pytest.fixture(scope="module")
def prod_env(layout: Layout) -> Environment:
    return load_environment("prod", layout.environments)


@pytest.fixture(scope="module")
def prod(layout: Layout, prod_env: Environment) -> dict[str, Any]:
    return rendered(layout, prod_env)


def raw_prod(layout: Layout) -> dict[str, Any]:
    data = yaml.safe_load((layout.environments / "prod.yaml").read_text())
    assert isinstance(data, dict)
    return data


def test_pgbouncer_pod_is_restricted(prod: dict[str, Any]) -> None:
    pod = prod["pgbouncer-deployment.yaml"]["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 70,
        "runAsGroup": 70,
        "fsGroup": 70,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    for c in pod["containers"]:
        assert c["securityContext"]["allowPrivilegeEscalation"] is False
        assert c["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        assert c["securityContext"]["readOnlyRootFilesystem"] is True


def test_pgbouncer_writes_only_where_its_ini_says(prod: dict[str, Any]) -> None:
    ini = prod["pgbouncer-configmap.yaml"]["data"]["pgbouncer.ini"]
    socket_dir = next(
        line.split("=", 1)[1].strip()
        for line in ini.splitlines()
        if line.startswith("unix_socket_dir")
    )
    pod = prod["pgbouncer-deployment.yaml"]["spec"]["template"]["spec"]
    empty = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
    c, exporter = pod["containers"]
    assert [m["mountPath"] for m in c["volumeMounts"] if m["name"] in empty] == [socket_dir]
    assert "volumeMounts" not in exporter  # the metrics sidecar writes nowhere
    secret = next(v for v in pod["volumes"] if "secret" in v)
    assert secret["secret"]["defaultMode"] == 0o440


def test_network_policy_is_derived_from_the_environment(
    layout: Layout, prod_env: Environment, prod: dict[str, Any]
) -> None:
    policy = prod["pgbouncer-networkpolicy.yaml"]["spec"]
    assert policy["podSelector"] == {"matchLabels": {"app": "pgbouncer"}}
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    rule, scrape = policy["ingress"]
    assert rule["ports"] == [{"port": 6432, "protocol": "TCP"}]
    # Prometheus's namespace reaches the exporter sidecar's port, and nothing else.
    assert scrape == {
        "from": [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
        ],
        "ports": [{"port": 9127, "protocol": "TCP"}],
    }
    (peer,) = rule["from"]
    assert peer["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/name": "authentik",
        "app.kubernetes.io/instance": "goauthentik",
    }
    assert peer["podSelector"]["matchExpressions"][0]["values"] == ["server", "worker"]
    db, dns = policy["egress"]
    assert db["to"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "dbaas"}}}
    ]
    assert db["ports"] == [{"port": 5432, "protocol": "TCP"}]
    assert dns["to"][0]["podSelector"] == {"matchLabels": {"k8s-app": "kube-dns"}}
    assert {p["protocol"] for p in dns["ports"]} == {"UDP", "TCP"}

    moved = prod_env.model_copy(
        update={"upstream": prod_env.upstream.model_copy(update={"namespace": "db2", "port": 6543})}
    )
    db2 = rendered(layout, moved)["pgbouncer-networkpolicy.yaml"]["spec"]["egress"][0]
    assert db2["to"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] == "db2"
    assert db2["ports"] == [{"port": 6543, "protocol": "TCP"}]


def test_a_waived_network_policy_renders_no_policy(layout: Layout) -> None:
    data = raw_prod(layout)
    data["pgbouncer"]["network_policy"] = {
        "enabled": False,
        "waiver": "this CNI does not enforce NetworkPolicy",
    }
    files = rendered(layout, Environment.model_validate(data))
    assert "pgbouncer-networkpolicy.yaml" not in files
    assert "pgbouncer-deployment.yaml" in files


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["pgbouncer"].__setitem__("network_policy", {"enabled": False}),
            "needs 'waiver'",
        ),
        (lambda d: d["upstream"].pop("namespace"), "upstream.namespace is needed"),
        (
            lambda d: d["pgbouncer"].__setitem__(
                "network_policy", {"enabled": True, "waiver": "not disabled at all"}
            ),
            "only for a disabled",
        ),
    ],
)
def test_network_policy_settings_are_validated(layout: Layout, change: Any, message: str) -> None:
    data = copy.deepcopy(raw_prod(layout))
    change(data)
    with pytest.raises(ValidationError, match=message):
        Environment.model_validate(data)


def test_missing_upstream_namespace_is_one_line_naming_the_file(
    layout: Layout, tmp_path: Path
) -> None:
    data = raw_prod(layout)
    del data["upstream"]["namespace"]
    (tmp_path / "prod.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(EnvironmentConfigError) as e:
        load_environment("prod", tmp_path)
    assert "prod.yaml" in str(e.value) and "upstream.namespace" in str(e.value)
    assert "\n" not in str(e.value)


def test_authentik_values_are_restricted(prod: dict[str, Any]) -> None:
    values = prod["authentik-values.yaml"]
    assert values["global"]["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 1000,
        "runAsGroup": 1000,
        "fsGroup": 1000,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    for component in ("server", "worker"):
        sc = values[component]["containerSecurityContext"]
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"] == {"drop": ["ALL"]}
    # The server runs under our token-less ServiceAccount; the worker keeps the chart's.
    sa = prod["authentik-serviceaccount.yaml"]
    assert values["server"]["serviceAccountName"] == sa["metadata"]["name"] == "goauthentik-server"
    assert sa["automountServiceAccountToken"] is False
    assert "serviceAccountName" not in values["worker"]


def test_outpost_patches_carry_the_baseline(prod: dict[str, Any]) -> None:
    ops = {
        op["path"]: op["value"]
        for op in prod["outpost-patches.yaml"]["kubernetes_json_patches"]["deployment"]
    }
    assert ops["/spec/template/spec/automountServiceAccountToken"] is False
    pod = ops["/spec/template/spec/securityContext"]
    assert pod["runAsNonRoot"] is True and pod["runAsUser"] == 1000
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    c = ops["/spec/template/spec/containers/0/securityContext"]
    assert c["allowPrivilegeEscalation"] is False and c["capabilities"] == {"drop": ["ALL"]}
