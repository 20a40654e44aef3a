"""Rendering: golden files, determinism and the numbers of the prod stack, field by field."""

from __future__ import annotations

import configparser
from pathlib import Path
from typing import Any

import pytest
import yaml

from akops.environment import load_environment
from akops.layout import Layout
from akops.render import drift, render_env, write
from akops.secrets import placeholder
from akops.stack import checksum, render_stack

ENVS = ("prod", "lab")


def docs(layout: Layout, env: str) -> dict[str, Any]:
    _, stack = render_env(layout, env)
    return {f.name: yaml.safe_load(f.text) for f in stack.files}


@pytest.fixture(scope="module")
def prod(layout: Layout) -> dict[str, Any]:
    return docs(layout, "prod")


def ini(prod: dict[str, Any]) -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.read_string(prod["pgbouncer-configmap.yaml"]["data"]["pgbouncer.ini"])
    return parser


@pytest.mark.parametrize("env", ENVS)
def test_committed_manifests_are_the_golden_render(layout: Layout, env: str) -> None:
    _, stack = render_env(layout, env)
    result = drift(stack, layout.manifests_for(env), f"manifests/{env}")
    assert result.clean, result.diff


@pytest.mark.parametrize("env", ENVS)
def test_rendering_twice_gives_identical_bytes(layout: Layout, env: str, tmp_path: Path) -> None:
    _, first = render_env(layout, env)
    _, second = render_env(layout, env)
    assert first == second
    write(first, tmp_path / "a")
    write(second, tmp_path / "b")
    for path in sorted((tmp_path / "a").iterdir()):
        assert path.read_bytes() == (tmp_path / "b" / path.name).read_bytes()


@pytest.mark.parametrize("env", ENVS)
def test_every_file_is_headed_do_not_edit(layout: Layout, env: str) -> None:
    _, stack = render_env(layout, env)
    assert {f.name for f in stack.files} == {
        "namespace.yaml",
        "authentik-serviceaccount.yaml",
        "alerts-rules.yaml",
        "alerts-prometheus-values.yaml",
        "authentik-values.yaml",
        "outpost-patches.yaml",
        "pgbouncer-configmap.yaml",
        "pgbouncer-deployment.yaml",
        "pgbouncer-networkpolicy.yaml",
        "pgbouncer-pdb.yaml",
        "pgbouncer-secret.yaml",
        "pgbouncer-service.yaml",
    }
    for f in stack.files:
        first, _, rest = f.text.partition("\n")
        assert first.startswith(f"# generated from templates/{f.template} for environment {env}")
        assert first.endswith("do not edit")
        assert f.text.endswith("\n") and not f.text.endswith("\n\n")
        assert rest.strip()


def test_pgbouncer_deployment(prod: dict[str, Any]) -> None:
    d = prod["pgbouncer-deployment.yaml"]
    assert (d["kind"], d["metadata"]["name"], d["metadata"]["namespace"]) == (
        "Deployment",
        "pgbouncer",
        "authentik",
    )
    assert d["metadata"]["labels"]["tier"] == "1-cluster"
    spec = d["spec"]
    assert spec["replicas"] == 3
    assert spec["selector"] == {"matchLabels": {"app": "pgbouncer"}}
    pod = spec["template"]["spec"]
    c, _exporter = pod["containers"]  # the exporter sidecar: tests/unit/alerts/
    image, _, tag = c["image"].rpartition(":")
    assert image == "edoburu/pgbouncer" and tag and tag != "latest"
    assert c["resources"] == {
        "requests": {"cpu": "50m", "memory": "128Mi"},
        "limits": {"memory": "512Mi"},
    }
    assert c["ports"] == [{"name": "pgbouncer", "containerPort": 6432, "protocol": "TCP"}]
    assert c["readinessProbe"] == {
        "tcpSocket": {"port": 6432},
        "initialDelaySeconds": 5,
        "periodSeconds": 10,
        "timeoutSeconds": 3,
        "failureThreshold": 3,
    }
    assert c["livenessProbe"] == {
        "tcpSocket": {"port": 6432},
        "initialDelaySeconds": 30,
        "periodSeconds": 30,
        "timeoutSeconds": 5,
        "failureThreshold": 3,
    }
    # No password in a plain env var (the seed had DATABASES_AUTHENTIK=...password=...).
    assert "env" not in c and "envFrom" not in c
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    assert mounts["/etc/pgbouncer/pgbouncer.ini"]["subPath"] == "pgbouncer.ini"
    assert mounts["/etc/pgbouncer/userlist.txt"]["subPath"] == "userlist.txt"
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["config"]["configMap"]["name"] == "pgbouncer-config"
    assert volumes["auth"]["secret"]["secretName"] == "pgbouncer-auth"


def test_pgbouncer_replicas_repel_each_other(prod: dict[str, Any]) -> None:
    pod = prod["pgbouncer-deployment.yaml"]["spec"]["template"]["spec"]
    (term,) = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert term["labelSelector"] == {"matchLabels": {"app": "pgbouncer"}}


def test_config_checksum_annotation_tracks_pgbouncer_ini(prod: dict[str, Any]) -> None:
    text = prod["pgbouncer-configmap.yaml"]["data"]["pgbouncer.ini"]
    annotations = prod["pgbouncer-deployment.yaml"]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["checksum/config"] == checksum(text)


def test_config_change_changes_the_checksum(layout: Layout) -> None:
    env = load_environment("prod", layout.environments)
    settings = env.pgbouncer.settings.model_copy(update={"default_pool_size": 21})
    changed = env.model_copy(
        update={"pgbouncer": env.pgbouncer.model_copy(update={"settings": settings})}
    )

    def annotation(e: Any) -> str:
        d = yaml.safe_load(render_stack(e, layout.templates).by_name()["pgbouncer-deployment.yaml"])
        return str(d["spec"]["template"]["metadata"]["annotations"]["checksum/config"])

    assert annotation(env) != annotation(changed)


def test_pgbouncer_ini_has_every_setting(prod: dict[str, Any]) -> None:
    parsed = ini(prod)
    assert dict(parsed["pgbouncer"]) == {
        "listen_addr": "0.0.0.0",
        "listen_port": "6432",
        "auth_type": "md5",
        "auth_file": "/etc/pgbouncer/userlist.txt",
        "unix_socket_dir": "/var/run/pgbouncer",
        "pool_mode": "session",
        "max_client_conn": "200",
        "default_pool_size": "20",
        "reserve_pool_size": "5",
        "reserve_pool_timeout": "5",
        "server_idle_timeout": "600",
        "idle_transaction_timeout": "300",
        "ignore_startup_parameters": "extra_float_digits",
        "stats_users": "authentik, pgbouncer_stats",
    }
    # No forced user=: the exporter's stats-only user must not reach the database as authentik.
    assert parsed["databases"]["authentik"] == "host=postgresql.dbaas port=5432 dbname=authentik"


def _with_pgbouncer_settings(env: Any, **update: Any) -> Any:
    settings = env.pgbouncer.settings.model_validate(
        {**env.pgbouncer.settings.model_dump(), **update}
    )
    return env.model_copy(
        update={"pgbouncer": env.pgbouncer.model_copy(update={"settings": settings})}
    )


def test_extra_pgbouncer_settings_are_written_as_given(layout: Layout) -> None:
    env = load_environment("prod", layout.environments)
    extra = {"max_prepared_statements": 100, "track_extra_parameters": "IntervalStyle, search_path"}
    stack = render_stack(_with_pgbouncer_settings(env, extra=extra), layout.templates)
    text = yaml.safe_load(stack.by_name()["pgbouncer-configmap.yaml"])["data"]["pgbouncer.ini"]
    assert text.endswith(
        "max_prepared_statements = 100\ntrack_extra_parameters = IntervalStyle, search_path\n"
    )


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        ({"auth_file": "/tmp/x"}, "auth_file is set by the stack itself"),
        ({"pool_mode": "transaction"}, "pool_mode is set by the stack itself"),
        ({"server_reset_query_always": True}, "write 1 or 0"),
        ({"server_reset_query": "DISCARD ALL\nadmin_users = x"}, "one line of pgbouncer.ini"),
        ({"Max-Prepared": 1}, "pattern"),
    ],
)
def test_extra_pgbouncer_settings_refuse_what_is_not_extra(
    layout: Layout, extra: dict[str, Any], said: str
) -> None:
    env = load_environment("prod", layout.environments)
    with pytest.raises(ValueError, match=said):
        _with_pgbouncer_settings(env, extra=extra)


def test_no_password_in_the_configmap(prod: dict[str, Any]) -> None:
    text = prod["pgbouncer-configmap.yaml"]["data"]["pgbouncer.ini"]
    assert "password" not in text.replace(";;", "").split("[databases]", 1)[1]
    assert "akops-secret" not in text


def test_secret_holds_only_a_placeholder(prod: dict[str, Any]) -> None:
    s = prod["pgbouncer-secret.yaml"]
    assert (s["kind"], s["metadata"]["name"], s["type"]) == ("Secret", "pgbouncer-auth", "Opaque")
    assert s["stringData"]["userlist.txt"] == (
        f'"authentik" "{placeholder("postgres_password", "userlist")}"\n'
        f'"pgbouncer_stats" "{placeholder("stats_password", "userlist")}"\n'
    )
    assert "data" not in s


def test_pdb_and_service(prod: dict[str, Any]) -> None:
    pdb = prod["pgbouncer-pdb.yaml"]
    assert pdb["apiVersion"] == "policy/v1"
    assert pdb["spec"] == {"minAvailable": 2, "selector": {"matchLabels": {"app": "pgbouncer"}}}
    svc = prod["pgbouncer-service.yaml"]["spec"]
    assert svc["type"] == "ClusterIP"
    assert svc["selector"] == {"app": "pgbouncer"}
    assert svc["ports"] == [
        {"name": "pgbouncer", "port": 6432, "targetPort": 6432, "protocol": "TCP"}
    ]


@pytest.mark.parametrize(
    "name",
    [
        "pgbouncer-configmap.yaml",
        "pgbouncer-secret.yaml",
        "pgbouncer-deployment.yaml",
        "pgbouncer-pdb.yaml",
        "pgbouncer-service.yaml",
    ],
)
def test_objects_carry_our_labels(prod: dict[str, Any], name: str) -> None:
    labels = prod[name]["metadata"]["labels"]
    assert labels["app.kubernetes.io/managed-by"] == "akops"
    assert labels["akops.io/stack"] == "authentik"


def env_vars(section: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in section["env"]}


def test_authentik_values_take_effect_with_an_existing_secret(prod: dict[str, Any]) -> None:
    v = prod["authentik-values.yaml"]
    # authentik.* is inert once existingSecret is set: nothing but the secret name may be there.
    assert v["authentik"] == {"existingSecret": {"secretName": "goauthentik"}}
    common = {
        "AUTHENTIK_POSTGRESQL__HOST": "pgbouncer.authentik",
        "AUTHENTIK_POSTGRESQL__PORT": "6432",
        "AUTHENTIK_POSTGRESQL__CONN_MAX_AGE": "60",
        "AUTHENTIK_POSTGRESQL__CONN_HEALTH_CHECKS": "true",
        "AUTHENTIK_CACHE__TIMEOUT_FLOWS": "1800",
        "AUTHENTIK_CACHE__TIMEOUT_POLICIES": "900",
    }
    server, worker = env_vars(v["server"]), env_vars(v["worker"])
    assert common.items() <= server.items()
    assert common.items() <= worker.items()
    assert server["AUTHENTIK_WEB__WORKERS"] == "3"
    assert server["AUTHENTIK_WEB__THREADS"] == "4"
    assert worker["AUTHENTIK_WORKER__THREADS"] == "4"
    assert "AUTHENTIK_WORKER__CONCURRENCY" not in worker


def test_authentik_server_and_worker(prod: dict[str, Any]) -> None:
    v = prod["authentik-values.yaml"]
    resources = {"requests": {"cpu": "100m", "memory": "1.5Gi"}, "limits": {"memory": "2Gi"}}
    rolling = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}
    for role in ("server", "worker"):
        section = v[role]
        assert section["replicas"] == 3
        assert section["resources"] == resources
        assert section["deploymentStrategy"] == rolling
        assert "strategy" not in section  # the chart ignores it
        (spread,) = section["topologySpreadConstraints"]
        assert spread["maxSkew"] == 1
        assert spread["topologyKey"] == "kubernetes.io/hostname"
        assert spread["labelSelector"]["matchLabels"]["app.kubernetes.io/component"] == role
    assert v["server"]["pdb"] == {"enabled": True, "minAvailable": 2}
    assert v["worker"]["pdb"] == {"enabled": True, "maxUnavailable": 1}
    assert v["global"]["image"]["tag"] == "2026.2.2"
    live = v["server"]["livenessProbe"]
    assert live["failureThreshold"] * live["periodSeconds"] >= 60


def test_outpost_shm_patches(prod: dict[str, Any]) -> None:
    p = prod["outpost-patches.yaml"]
    assert p["outpost"] == "authentik-embedded-outpost"
    ops = p["kubernetes_json_patches"]["deployment"]
    # Whole arrays: the Deployment Authentik builds has neither, and "add .../-" needs them.
    volumes = next(op["value"] for op in ops if op["path"] == "/spec/template/spec/volumes")
    assert volumes == [{"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "2Gi"}}]
    mounts = next(op["value"] for op in ops if op["path"].endswith("/containers/0/volumeMounts"))
    assert mounts == [{"name": "dshm", "mountPath": "/dev/shm"}]
    resources = next(op["value"] for op in ops if op["path"].endswith("/resources"))
    assert resources == {
        "requests": {"cpu": "100m", "memory": "128Mi"},
        "limits": {"memory": "2560Mi"},
    }
    assert all(op["op"] in {"add", "replace"} for op in ops)


def test_lab_differs_in_replicas_and_hostnames(layout: Layout, prod: dict[str, Any]) -> None:
    lab = docs(layout, "lab")
    assert lab["pgbouncer-deployment.yaml"]["spec"]["replicas"] == 2
    assert lab["authentik-values.yaml"]["server"]["replicas"] == 2
    assert "host=postgresql.lab " in lab["pgbouncer-configmap.yaml"]["data"]["pgbouncer.ini"]
    prod_env = load_environment("prod", layout.environments)
    lab_env = load_environment("lab", layout.environments)
    assert lab_env.authentik.host != prod_env.authentik.host
    assert lab_env.kube.context != prod_env.kube.context
