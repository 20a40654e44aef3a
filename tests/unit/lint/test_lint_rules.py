"""Every lint rule, failing and passing, on the prod stack broken one field at a time.

The prod stack lints clean (the passing fixture of every rule); each test changes the
smallest thing that should trip one rule and checks the finding, its line and its
numbers, then the nearest value that should pass.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from akops.environment import LintWaiver
from akops.lint.findings import Finding
from akops.lint.registry import catalogue, checks

if TYPE_CHECKING:
    from conftest import StackFiles  # the fixture's type, from this directory's conftest


def exercises(rule: str) -> str:
    """Marks the rule a test trips; ``test_every_rule_has_a_test`` reads these marks."""
    return rule


def exercised() -> set[str]:
    """The rules this module's tests mark with ``exercises("...")``, read from its source, so
    the coverage test does not depend on the other tests having run first (``-k`` alone)."""
    tree = ast.parse(Path(__file__).read_text(encoding="utf-8"))
    return {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "exercises"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    }


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    first: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
    return first


def set_env(values: dict[str, Any], component: str, name: str, value: str) -> None:
    env: list[dict[str, Any]] = values[component]["env"]
    for item in env:
        if item["name"] == name:
            item["value"] = value
            return
    env.append({"name": name, "value": value})


def only(findings: list[Finding]) -> Finding:
    assert len(findings) == 1, [f.message for f in findings]
    return findings[0]


def test_the_prod_stack_is_the_passing_fixture(stack: StackFiles) -> None:
    report = stack.lint()
    assert report.ok
    # Only what prod accepts, each with its reason (docs/guides/security.md).
    assert all(f.waived for f in report.findings)
    assert {f.rule for f in report.findings} == {
        "security.network-policy",
        "security.read-only-root",
    }


# --- YAML and schema ----------------------------------------------------------------


def test_yaml_style(stack: StackFiles) -> None:
    rule = exercises("yaml.style")
    text = stack.texts["pgbouncer-service.yaml"]
    stack.texts["pgbouncer-service.yaml"] = text.replace("type: ClusterIP", "type: ClusterIP   ")
    f = only(stack.findings(rule))
    assert f.severity == "warning" and "trailing spaces" in f.message
    assert (
        f.file == "stack/pgbouncer-service.yaml"
        and f.line == text.splitlines().index("  type: ClusterIP") + 1
    )
    assert stack.lint().ok  # style never fails the run
    stack.texts["pgbouncer-service.yaml"] = text
    assert stack.findings(rule) == []


def test_schema_is_strict_and_reports_every_error(stack: StackFiles) -> None:
    rule = exercises("schema.invalid")

    def break_it(d: dict[str, Any]) -> None:
        d["spec"]["replica"] = 3
        container(d)["ports"][0]["containerPort"] = "6432"
        container(d).pop("name")

    stack.deployment(break_it)
    found = {f.path: f for f in stack.findings(rule)}
    assert set(found) == {
        "spec.replica",
        "spec.template.spec.containers[0].ports[0].containerPort",
        "spec.template.spec.containers[0]",
    }
    assert "unknown field 'replica' (did you mean 'replicas'?)" in found["spec.replica"].message
    assert (
        "expected integer, got a string"
        in found["spec.template.spec.containers[0].ports[0].containerPort"].message
    )
    assert "'name' is a required property" in found["spec.template.spec.containers[0]"].message
    assert all(f.object == "Deployment/pgbouncer" and f.severity == "error" for f in found.values())
    text = stack.texts["pgbouncer-deployment.yaml"].splitlines()
    assert text[found["spec.replica"].line - 1].strip() == "replica: 3"  # type: ignore[operator]


def test_schema_error_messages_never_echo_values(stack: StackFiles) -> None:
    stack.edit_one(
        "pgbouncer-secret.yaml",
        lambda s: s.__setitem__("stringData", {"userlist.txt": ["canary-Zq8vX3pL0w9"]}),
    )
    report = stack.lint()
    assert [f.rule for f in report.findings if not f.waived] == ["schema.invalid"]
    assert "canary-Zq8vX3pL0w9" not in report.to_text() + report.to_json()


# --- chart values ---------------------------------------------------------------------


def test_values_unknown_key_with_did_you_mean(stack: StackFiles) -> None:
    rule = exercises("values.unknown-key")

    def change(v: dict[str, Any]) -> None:
        v["server"]["strategy"] = v["server"].pop("deploymentStrategy")
        v["worker"]["replicaz"] = 3
        v["authentik"]["existingSecret"]["secretNme"] = "x"

    stack.values(change)
    found = {f.path: f.message for f in stack.findings(rule)}
    assert set(found) == {
        "server.strategy",
        "worker.replicaz",
        "authentik.existingSecret.secretNme",
    }
    assert "did you mean server.deploymentStrategy?" in found["server.strategy"]
    assert "did you mean worker.replicas?" in found["worker.replicaz"]
    assert (
        "did you mean authentik.existingSecret.secretName?"
        in found["authentik.existingSecret.secretNme"]
    )


def test_values_free_form_maps_and_lists_accept_any_key(stack: StackFiles) -> None:
    def change(v: dict[str, Any]) -> None:
        v["server"]["podAnnotations"]["anything.example/goes"] = "yes"
        v["server"]["nodeSelector"] = {"kubernetes.io/os": "linux"}
        v["authentik"]["postgresql"] = {"conn_max_age": 0}  # any Authentik setting
        v["server"]["livenessProbe"]["tcpSocket"] = {"port": 9000}
        v["postgresql"]["primary"] = {"whatever": {"deep": 1}}
        v["global"]["imageRegistry"] = "mirror.example"  # subcharts read global.*

    stack.values(change)
    assert stack.findings("values.unknown-key") == []


def test_inert_authentik_settings_name_each_setting(stack: StackFiles) -> None:
    rule = exercises("values.inert-authentik")

    def change(v: dict[str, Any]) -> None:
        v["authentik"]["postgresql"] = {"conn_max_age": 60, "password": ""}
        v["authentik"]["web"] = {"workers": 3}

    stack.values(change)
    found = {f.path: f.message for f in stack.findings(rule)}
    assert set(found) == {
        "authentik.postgresql.conn_max_age",
        "authentik.web.workers",
    }  # "" is no setting
    assert (
        "AUTHENTIK_POSTGRESQL__CONN_MAX_AGE in server.env and worker.env"
        in found["authentik.postgresql.conn_max_age"]
    )
    # Without an existing secret the chart renders them: not inert.
    stack.values(lambda v: v["authentik"].pop("existingSecret"))
    assert stack.findings(rule) == []


def test_authentik_enabled_false_makes_authentik_settings_inert(stack: StackFiles) -> None:
    def change(v: dict[str, Any]) -> None:
        v["authentik"] = {"enabled": False, "web": {"workers": 3}}

    stack.values(change)
    f = only(stack.findings("values.inert-authentik"))
    assert f.path == "authentik.web.workers" and "authentik.enabled is false" in f.message
    stack.values(lambda v: v["authentik"].update(enabled=True))
    assert stack.findings("values.inert-authentik") == []


@pytest.mark.parametrize("where", ["global", "server"])
def test_version_split(stack: StackFiles, where: str) -> None:
    rule = exercises("values.version-split")
    assert stack.findings(rule) == []

    def split(v: dict[str, Any]) -> None:
        v.setdefault(where, {}).setdefault("image", {})["tag"] = "2026.2.1"

    stack.values(split)
    f = only(stack.findings(rule))
    assert f.path == f"{where}.image.tag" and f.severity == "error"
    assert "chart 2026.2.2 and image 2026.2.1 differ" in f.message and "2026-06-10" in f.message
    text = stack.texts["authentik-values.yaml"].splitlines()
    assert text[f.line - 1].strip().startswith("tag:")  # type: ignore[operator]
    # A digest after the version names the same version: no split.
    stack.values(lambda v: v[where]["image"].update(tag="2026.2.2@sha256:" + "a" * 64))
    assert stack.findings(rule) == []


def test_an_unknown_chart_version_is_said_once_instead_of_a_split(stack: StackFiles) -> None:
    rule = exercises("values.chart-unknown")
    stack.settings["chart_version_given"] = False  # `--path` on values without a header
    for where in ("global", "server", "worker"):
        stack.values(
            lambda v, w=where: v.setdefault(w, {}).setdefault("image", {}).update(tag="2025.8.1")
        )
    assert stack.findings("values.version-split") == []
    f = only(stack.findings(rule))
    assert f.severity == "note" and "1 values file(s) were not checked" in f.message
    assert f.path == "global.image.tag"
    # Named, the chart is compared again: the note is gone and every split is an error.
    stack.settings["chart_version_given"] = True
    assert stack.findings(rule) == []
    assert len(stack.findings("values.version-split")) == 3


def test_renamed_settings(stack: StackFiles) -> None:
    rule = exercises("env.renamed")
    assert stack.findings(rule) == []
    stack.values(lambda v: set_env(v, "worker", "AUTHENTIK_WORKER__CONCURRENCY", "4"))
    f = only(stack.findings(rule))
    assert f.severity == "warning" and "AUTHENTIK_WORKER__THREADS" in f.message
    assert f.path == "worker.env[9]"


# --- replicas, budgets, rollouts, spread --------------------------------------------------


@pytest.mark.parametrize(("replicas", "fails"), [(2, True), (3, False), (5, False)])
def test_replicas_minimum(stack: StackFiles, replicas: int, fails: bool) -> None:
    rule = exercises("replicas.minimum")
    stack.values(lambda v: v["worker"].__setitem__("replicas", replicas))
    found = stack.findings(rule)
    assert bool(found) == fails
    if fails:
        assert (
            found[0].object == "Deployment/goauthentik-worker"
            and "runs 2 replica(s)" in found[0].message
        )


def test_replicas_minimum_on_manifests(stack: StackFiles) -> None:
    stack.deployment(lambda d: d["spec"].__setitem__("replicas", 1))
    assert only(stack.findings("replicas.minimum")).path == "spec.replicas"


def test_pdb_missing(stack: StackFiles) -> None:
    rule = exercises("pdb.missing")
    del stack.texts["pgbouncer-pdb.yaml"]
    stack.values(lambda v: v["server"]["pdb"].__setitem__("enabled", False))
    assert {f.object for f in stack.findings(rule)} == {
        "Deployment/pgbouncer",
        "Deployment/goauthentik-server",
    }


def test_pdb_missing_of_chart_values_points_at_each_components_pdb_key(
    stack: StackFiles,
) -> None:
    def no_pdbs(v: dict[str, Any]) -> None:
        v["server"]["pdb"]["enabled"] = False
        v["worker"]["pdb"] = {"enabled": False}

    stack.values(no_pdbs)
    found = {f.object: f.path for f in stack.findings("pdb.missing")}
    assert found == {
        "Deployment/goauthentik-server": "server.pdb",
        "Deployment/goauthentik-worker": "worker.pdb",
    }


def test_pdb_must_select_the_workload(stack: StackFiles) -> None:
    stack.edit_one(
        "pgbouncer-pdb.yaml", lambda p: p["spec"]["selector"]["matchLabels"].update(app="other")
    )
    assert only(stack.findings("pdb.missing")).object == "Deployment/pgbouncer"


@pytest.mark.parametrize(
    ("budget", "problem"),
    [
        ({"minAvailable": 1}, "keeps fewer than 2"),
        ({"minAvailable": 3}, "blocks every node drain"),
        ({"minAvailable": "67%"}, "blocks every node drain"),  # 2.01 rounds up to 3
        ({"maxUnavailable": 0}, "blocks every node drain"),
        ({"maxUnavailable": 3}, "lets all 3 pods go at once"),
        ({"minAvailable": 2}, None),
        ({"minAvailable": "50%"}, None),
        ({"maxUnavailable": 1}, None),
    ],
)
def test_pdb_budget(stack: StackFiles, budget: dict[str, Any], problem: str | None) -> None:
    rule = exercises("pdb.budget")

    def change(p: dict[str, Any]) -> None:
        p["spec"].pop("minAvailable")
        p["spec"].update(budget)

    stack.edit_one("pgbouncer-pdb.yaml", change)
    found = stack.findings(rule)
    if problem is None:
        assert found == []
    else:
        assert (
            problem in only(found).message and only(found).object == "PodDisruptionBudget/pgbouncer"
        )


def test_pdb_budget_of_chart_values(stack: StackFiles) -> None:
    stack.values(lambda v: v["server"]["pdb"].update(minAvailable=1))
    f = only(stack.findings("pdb.budget"))
    assert (
        f.path == "server.pdb.minAvailable" and f.object == "PodDisruptionBudget/goauthentik-server"
    )


@pytest.mark.parametrize(
    ("strategy", "problem"),
    [
        ({"type": "Recreate"}, "every pod stops"),
        (
            {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}},
            "cannot progress",
        ),
        (
            {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 2}},
            "leaving 1 while",
        ),
        ({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}, None),
        ({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}, None),
    ],
)
def test_pdb_rollout(stack: StackFiles, strategy: dict[str, Any], problem: str | None) -> None:
    rule = exercises("pdb.rollout")
    stack.deployment(lambda d: d["spec"].__setitem__("strategy", strategy))
    found = stack.findings(rule)
    if problem is None:
        assert found == []
    else:
        assert problem in only(found).message


def test_spread_other_pods_does_not_count(stack: StackFiles) -> None:
    rule = exercises("spread.nodes")

    def repel_server(d: dict[str, Any]) -> None:
        term = d["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"][
            "requiredDuringSchedulingIgnoredDuringExecution"
        ][0]
        term["labelSelector"] = {
            "matchExpressions": [{"key": "component", "operator": "In", "values": ["server"]}]
        }

    stack.deployment(repel_server)
    f = only(stack.findings(rule))
    assert "selects other pods" in f.message and f.path == "spec.template.spec.affinity"


def test_spread_by_topology_constraint_counts(stack: StackFiles) -> None:
    def spread(d: dict[str, Any]) -> None:
        spec = d["spec"]["template"]["spec"]
        del spec["affinity"]
        spec["topologySpreadConstraints"] = [
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "DoNotSchedule",
                "labelSelector": {"matchLabels": {"app": "pgbouncer"}},
            }
        ]

    stack.deployment(spread)
    assert stack.findings("spread.nodes") == []
    stack.deployment(lambda d: d["spec"]["template"]["spec"].pop("topologySpreadConstraints"))
    assert "no pod anti-affinity" in only(stack.findings("spread.nodes")).message


def test_spread_of_chart_values_uses_the_chart_preset(stack: StackFiles) -> None:
    # Without topologySpreadConstraints the chart's soft anti-affinity preset still spreads.
    stack.values(lambda v: v["server"].pop("topologySpreadConstraints"))
    assert stack.findings("spread.nodes") == []
    stack.values(lambda v: v["global"].update(affinity={"podAntiAffinity": "none"}))
    assert only(stack.findings("spread.nodes")).object == "Deployment/goauthentik-server"


# --- containers ---------------------------------------------------------------------------


def test_resources_requests(stack: StackFiles) -> None:
    rule = exercises("resources.requests")
    stack.deployment(lambda d: container(d)["resources"]["requests"].pop("cpu"))
    f = only(stack.findings(rule))
    assert "no cpu request" in f.message and f.path == "spec.template.spec.containers[0].resources"
    stack.values(lambda v: v["worker"].pop("resources"))
    assert len(stack.findings(rule)) == 2


def test_resources_memory_limit(stack: StackFiles) -> None:
    rule = exercises("resources.memory-limit")
    stack.deployment(lambda d: container(d)["resources"].pop("limits"))
    assert "gives it 256Mi" in only(stack.findings(rule)).message


def test_outpost_patch_without_resources_has_no_memory_limit(stack: StackFiles) -> None:
    def drop_resources(p: dict[str, Any]) -> None:
        ops = p["kubernetes_json_patches"]["deployment"]
        ops[:] = [op for op in ops if not op["path"].endswith("/resources")]

    stack.edit_one("outpost-patches.yaml", drop_resources)
    report = stack.lint()
    rules = {f.rule for f in report.findings}
    assert {"resources.memory-limit", "resources.requests", "outpost.shm"} <= rules
    assert all(
        f.object == "Deployment/ak-outpost-authentik-embedded-outpost"
        for f in report.findings
        if not f.waived
    )


def test_probes_missing(stack: StackFiles) -> None:
    rule = exercises("probes.missing")
    stack.deployment(lambda d: container(d).pop("readinessProbe"))
    assert "no readiness probe" in only(stack.findings(rule)).message
    stack.values(lambda v: v["worker"].__setitem__("livenessProbe", None))
    assert {f.object for f in stack.findings(rule)} == {
        "Deployment/pgbouncer",
        "Deployment/goauthentik-worker",
    }


@pytest.mark.parametrize(("failures", "fails"), [(None, True), (5, True), (6, False)])
def test_liveness_budget(stack: StackFiles, failures: int | None, fails: bool) -> None:
    rule = exercises("probes.liveness-budget")
    if failures is None:
        stack.values(lambda v: v["server"].pop("livenessProbe"))  # the chart default: 3 x 10 s
    else:
        stack.values(lambda v: v["server"]["livenessProbe"].update(failureThreshold=failures))
    found = stack.findings(rule)
    assert bool(found) == fails
    if fails:
        expected = f"{failures or 3} x 10 s = {(failures or 3) * 10} s"
        assert expected in found[0].message


@pytest.mark.parametrize(
    ("image", "fails"),
    [
        ("edoburu/pgbouncer:latest", True),
        ("edoburu/pgbouncer", True),
        ("registry.local:5000/pgbouncer", True),
        ("registry.local:5000/pgbouncer:1.24.1", False),
        ("edoburu/pgbouncer@sha256:" + "a" * 64, False),
    ],
)
def test_image_pinned(stack: StackFiles, image: str, fails: bool) -> None:
    rule = exercises("image.pinned")
    stack.deployment(lambda d: container(d).__setitem__("image", image))
    assert bool(stack.findings(rule)) == fails


def test_image_pinned_in_chart_values(stack: StackFiles) -> None:
    stack.values(lambda v: v["global"]["image"].pop("digest"))  # a digest pins even `latest`
    stack.values(lambda v: v["global"]["image"].update(tag="latest"))
    assert {f.path for f in stack.findings("image.pinned")} == {"global.image.tag"}
    stack.values(
        lambda v: v["global"]["image"].pop("tag")
    )  # the chart's appVersion: pinned by the chart
    assert stack.findings("image.pinned") == []


# --- secrets ---------------------------------------------------------------------------------

CANARY = "canary-Zq8vX3pL0w9"


def test_secret_in_configmap(stack: StackFiles) -> None:
    rule = exercises("secrets.configmap")
    stack.ini(
        lambda ini: ini.replace("dbname=authentik\n", f"dbname=authentik password={CANARY}\n")
    )
    f = only(stack.findings(rule))
    text = stack.texts["pgbouncer-configmap.yaml"].splitlines()
    assert "password=" in text[f.line - 1]  # type: ignore[operator]
    assert CANARY not in stack.lint().to_text() + stack.lint().to_json()


def test_secret_placeholder_in_configmap(stack: StackFiles) -> None:
    stack.ini(lambda ini: ini + "auth_query = <<akops-secret:postgres_password>>\n")
    assert "placeholder" in only(stack.findings("secrets.configmap")).message


def test_secret_in_plain_env(stack: StackFiles) -> None:
    rule = exercises("secrets.env")
    stack.deployment(
        lambda d: container(d).__setitem__("env", [{"name": "DB_PASSWORD", "value": CANARY}])
    )
    assert only(stack.findings(rule)).path == "spec.template.spec.containers[0].env[0]"
    ref = {"secretKeyRef": {"name": "pgbouncer-auth", "key": "password"}}
    stack.deployment(
        lambda d: container(d).__setitem__("env", [{"name": "DB_PASSWORD", "valueFrom": ref}])
    )
    assert stack.findings(rule) == []
    stack.values(lambda v: set_env(v, "server", "AUTHENTIK_SECRET_KEY", CANARY))
    assert only(stack.findings(rule)).object == "Deployment/goauthentik-server"
    assert CANARY not in stack.lint().to_text()


def test_secret_in_annotation(stack: StackFiles) -> None:
    rule = exercises("secrets.annotation")
    stack.deployment(
        lambda d: d["metadata"].__setitem__("annotations", {"example.com/api-token": CANARY})
    )
    assert only(stack.findings(rule)).path == "metadata.annotations.example.com/api-token"
    stack.deployment(
        lambda d: d["metadata"].__setitem__("annotations", {"note": "rotated, see the runbook"})
    )
    assert stack.findings(rule) == []
    stack.values(
        lambda v: v["server"]["podAnnotations"].update(dsn=f"postgres://x?password={CANARY}")
    )
    assert only(stack.findings(rule)).object == "Deployment/goauthentik-server"


def test_secret_in_a_bare_pgbouncer_ini_beside_the_configmap(stack: StackFiles) -> None:
    # The rendered ConfigMap's ini is scanned as the ConfigMap; a bare ini on its own.
    stack.texts["pgbouncer.ini"] = f"[databases]\nauthentik = host=db password={CANARY}\n"
    f = only(stack.findings("secrets.configmap"))
    assert (f.message, f.file, f.line) == (
        "pgbouncer.ini holds a value for `password`; "
        "this file is what the pgbouncer-config ConfigMap carries",
        "stack/pgbouncer.ini",
        2,
    )
    assert CANARY not in f.message


def test_a_config_checksum_annotation_is_not_a_secret(stack: StackFiles) -> None:
    """The Authentik chart's own `checksum/secret` (a sha256 of its Secret) is a restart trigger."""
    rule = exercises("secrets.annotation")
    digest = "01ba4719c80b6fe911b091a7c05124b64eeece964e09c058ef8f9805daca546b"
    stack.deployment(
        lambda d: d["metadata"].__setitem__("annotations", {"checksum/secret": digest})
    )
    assert stack.findings(rule) == []
    stack.deployment(
        lambda d: d["metadata"].__setitem__("annotations", {"checksum/secret": CANARY})
    )
    assert only(stack.findings(rule)).path == "metadata.annotations.checksum/secret"


# --- database ---------------------------------------------------------------------------------


def test_persistent_connections_need_session_mode(stack: StackFiles) -> None:
    rule = exercises("db.persistent-connections")
    stack.ini(lambda ini: ini.replace("pool_mode = session", "pool_mode = transaction"))
    f = only(stack.findings(rule))
    assert (
        "pool_mode is transaction" in f.message
        and "AUTHENTIK_POSTGRESQL__CONN_MAX_AGE" in f.message
    )
    assert f.file == "stack/authentik-values.yaml"
    for component in ("server", "worker"):
        stack.values(
            lambda v, c=component: set_env(v, c, "AUTHENTIK_POSTGRESQL__CONN_MAX_AGE", "0")
        )
    assert stack.findings(rule) == []


@pytest.mark.parametrize("idle", ["600", "60", "59", "1"])
def test_persistent_connections_are_not_held_to_server_idle_timeout(
    stack: StackFiles, idle: str
) -> None:
    """The rule's old premise: PgBouncer never applies server_idle_timeout to a session-mode
    client linked to a server (tests/integration/verify/test_session_mode_idle_clients.py)."""
    stack.ini(lambda ini: ini.replace("server_idle_timeout = 600", f"server_idle_timeout = {idle}"))
    stack.ini(lambda ini: ini + "client_idle_timeout = 30\n")
    assert stack.findings("db.persistent-connections") == []


def test_capacity_against_pgbouncer_pool(stack: StackFiles) -> None:
    rule = exercises("db.capacity")
    stack.ini(lambda ini: ini.replace("default_pool_size = 20", "default_pool_size = 10"))
    f = only(stack.findings(rule))
    assert (
        "Authentik can hold 48 database connections (3 server x 3 web workers x 4 threads + "
        "3 worker x 4 threads = 48) but PgBouncer's pool is 3 x (10 + 5) = 45"
    ) in f.message
    assert f.object == "ConfigMap/pgbouncer-config"


def test_capacity_counts_surge_pods_during_a_rollout(stack: StackFiles) -> None:
    stack.ini(
        lambda ini: ini.replace("default_pool_size = 20", "default_pool_size = 13")
    )  # pool 54
    assert stack.findings("db.capacity") == []  # 48 steady
    stack.values(lambda v: v["server"]["deploymentStrategy"]["rollingUpdate"].update(maxSurge=1))
    assert (
        "60 during a rollout (+1 server, +0 worker surge pods)"
        in only(stack.findings("db.capacity")).message
    )


def test_capacity_hint_points_the_way_that_fixes_it(stack: StackFiles) -> None:
    stack.ini(lambda ini: ini.replace("default_pool_size = 20", "default_pool_size = 10"))
    stack.max_connections = 100  # 97 usable: room for 32 a replica
    f = only(stack.findings("db.capacity"))
    assert (
        "or raise default_pool_size (PostgreSQL has room for up to 27 a PgBouncer replica)"
        in f.message
    )
    stack.max_connections = 40  # the pool already exceeds PostgreSQL: never suggest a bigger one
    messages = [x.message for x in stack.findings("db.capacity")]
    assert len(messages) == 2
    assert "PostgreSQL has no room for a bigger pool" in messages[0] or "no room" in messages[1]
    assert not any("raise default_pool_size" in m for m in messages)
    assert any(
        "lower default_pool_size, reserve_pool_size or PgBouncer replicas" in m for m in messages
    )


def test_capacity_against_postgres_max_connections(stack: StackFiles) -> None:
    stack.max_connections = 77
    f = only(stack.findings("db.capacity"))
    assert "3 x (20 + 5) = 75 server connections but PostgreSQL max_connections is 77" in f.message
    stack.max_connections = 78
    assert stack.findings("db.capacity") == []


def test_capacity_reads_env_when_an_existing_secret_is_set(stack: StackFiles) -> None:
    # authentik.* is inert with an existing secret: the env var is what takes effect.
    stack.values(lambda v: v["authentik"].update(web={"workers": 1}))
    stack.values(lambda v: set_env(v, "server", "AUTHENTIK_WEB__WORKERS", "6"))
    stack.values(lambda v: v["server"]["resources"]["limits"].update(memory="4Gi"))
    assert "3 server x 6 web workers x 4 threads" in only(stack.findings("db.capacity")).message


def test_capacity_uses_chart_defaults_when_nothing_is_set(stack: StackFiles) -> None:
    def strip(v: dict[str, Any]) -> None:
        for component in ("server", "worker"):
            v[component]["env"] = [
                e
                for e in v[component]["env"]
                if "WEB__" not in e["name"] and "THREADS" not in e["name"]
            ]
        v["server"]["replicas"] = 12

    stack.values(strip)
    assert (
        "12 server x 2 web workers x 4 threads + 3 worker x 2 threads = 102"
        in only(stack.findings("db.capacity")).message
    )


@pytest.mark.parametrize(("workers", "fails"), [("3", False), ("4", True)])
def test_gunicorn_memory(stack: StackFiles, workers: str, fails: bool) -> None:
    rule = exercises("gunicorn.memory")
    stack.ini(lambda ini: ini.replace("default_pool_size = 20", "default_pool_size = 30"))
    stack.values(lambda v: set_env(v, "server", "AUTHENTIK_WEB__WORKERS", workers))
    found = stack.findings(rule)
    assert bool(found) == fails
    if fails:
        assert (
            "4 web workers (from AUTHENTIK_WEB__WORKERS) x 500Mi + 256Mi base = 2256Mi"
            in found[0].message
            and "2Gi" in found[0].message
            and "memory model: the seed's figures" in found[0].message
        )


def test_gunicorn_memory_model_comes_from_the_environment(stack: StackFiles) -> None:
    # A real server ran six weeks at a 1 GiB limit with the default 2 workers.
    def one_gib(v: dict[str, Any]) -> None:
        v["server"]["env"] = [
            e for e in v["server"]["env"] if e["name"] != "AUTHENTIK_WEB__WORKERS"
        ]
        v["server"]["resources"]["limits"]["memory"] = "1Gi"
        v["server"]["resources"]["requests"]["memory"] = "1Gi"

    stack.values(one_gib)
    f = only(stack.findings("gunicorn.memory"))
    assert "2 web workers (from default) x 500Mi + 256Mi base = 1256Mi" in f.message
    stack.settings = {"web_worker_mib": 350, "memory_model_source": "lint.web_worker_mib 350Mi"}
    assert stack.findings("gunicorn.memory") == []
    stack.settings = {"web_worker_mib": 400, "memory_model_source": "lint.web_worker_mib 400Mi"}
    assert (
        "(memory model: lint.web_worker_mib 400Mi;"
        in only(stack.findings("gunicorn.memory")).message
    )


# --- outpost and PgBouncer -----------------------------------------------------------------


def _dshm(p: dict[str, Any]) -> dict[str, Any]:
    (volume,) = p["kubernetes_json_patches"]["deployment"][0]["value"]
    assert isinstance(volume, dict)
    return volume


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda p: _dshm(p)["emptyDir"].pop("sizeLimit"), "has no sizeLimit"),
        (lambda p: _dshm(p)["emptyDir"].pop("medium"), "not an emptyDir with medium Memory"),
        (
            lambda p: p["kubernetes_json_patches"]["deployment"].pop(1),
            "nothing is mounted at /dev/shm",
        ),
        (
            lambda p: p["kubernetes_json_patches"]["deployment"][2]["value"]["limits"].update(
                memory="2Gi"
            ),
            "memory limit 2Gi does not exceed the /dev/shm sizeLimit 2Gi",
        ),
    ],
)
def test_outpost_shm(stack: StackFiles, change: Any, problem: str) -> None:
    rule = exercises("outpost.shm")
    stack.edit_one("outpost-patches.yaml", change)
    assert problem in only(stack.findings(rule)).message


def test_outpost_shm_of_the_patches_is_found_at_the_patches_of_the_outposts_deployment(
    stack: StackFiles,
) -> None:
    stack.edit_one("outpost-patches.yaml", lambda p: _dshm(p)["emptyDir"].pop("sizeLimit"))
    f = only(stack.findings("outpost.shm"))
    assert (f.object, f.path) == (
        "Deployment/ak-outpost-authentik-embedded-outpost",
        "kubernetes_json_patches",
    )
    assert f.message == (
        "Deployment/ak-outpost-authentik-embedded-outpost: "
        "emptyDir dshm at /dev/shm has no sizeLimit"
    )


def test_outpost_shm_on_an_outpost_deployment(stack: StackFiles) -> None:
    outpost = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "ak-outpost-authentik-embedded-outpost"},
        "spec": {
            "replicas": 3,
            "selector": {
                "matchLabels": {"goauthentik.io/outpost-name": "authentik-embedded-outpost"}
            },
            "template": {
                "metadata": {
                    "labels": {"goauthentik.io/outpost-name": "authentik-embedded-outpost"}
                },
                "spec": {
                    "containers": [{"name": "proxy", "image": "ghcr.io/goauthentik/proxy:2026.2.2"}]
                },
            },
        },
    }
    import yaml

    stack.texts["outpost.yaml"] = yaml.safe_dump(outpost)
    report = stack.lint()
    shm = [f for f in report.findings if f.rule == "outpost.shm"]
    assert "nothing is mounted at /dev/shm" in only(shm).message
    assert {"pdb.missing", "probes.missing", "spread.nodes"} <= {f.rule for f in report.findings}


@pytest.mark.parametrize(("line", "fails"), [(None, True), ("0", True), ("300", False)])
def test_pgbouncer_idle_transaction_timeout(
    stack: StackFiles, line: str | None, fails: bool
) -> None:
    rule = exercises("pgbouncer.idle-transaction-timeout")
    old = "idle_transaction_timeout = 300\n"
    stack.ini(
        lambda ini: ini.replace(old, "" if line is None else f"idle_transaction_timeout = {line}\n")
    )
    found = stack.findings(rule)
    assert bool(found) == fails
    if fails:
        text = stack.texts["pgbouncer-configmap.yaml"].splitlines()
        expected = "[pgbouncer]" if line is None else "idle_transaction_timeout = 0"
        assert text[found[0].line - 1].strip() == expected  # type: ignore[operator]


def test_pgbouncer_invalid(stack: StackFiles) -> None:
    rule = exercises("pgbouncer.invalid")
    stack.ini(lambda ini: ini.replace("default_pool_size = 20", "default_pool_sise = 20"))
    f = only(stack.findings(rule))
    assert "unknown parameter default_pool_sise (did you mean default_pool_size?)" in f.message
    text = stack.texts["pgbouncer-configmap.yaml"].splitlines()
    assert text[f.line - 1].strip() == "default_pool_sise = 20"  # type: ignore[operator]
    stack.ini(lambda ini: ini.replace("default_pool_sise = 20", "default_pool_size = 20"))
    assert stack.findings(rule) == []


DIGEST = "sha256:" + "e" * 64


def _pgbouncer_image(stack: StackFiles, image: str) -> None:
    def change(d: dict[str, Any]) -> None:
        for c in d["spec"]["template"]["spec"]["containers"]:
            if c["name"] == "pgbouncer":
                c["image"] = image

    stack.deployment(change)


def test_pgbouncer_invalid_follows_the_images_release(stack: StackFiles) -> None:
    """1.24's parameters pass on prod's image and stop a 1.18 image, naming the version."""
    rule = exercises("pgbouncer.invalid")
    stack.ini(lambda ini: ini + "max_prepared_statements = 100\ntrack_extra_parameters = a\n")
    assert stack.findings(rule) == []
    assert stack.findings("pgbouncer.version") == []  # the tag names a version: nothing assumed
    _pgbouncer_image(stack, "edoburu/pgbouncer:1.18.0@" + DIGEST)
    found = stack.findings(rule)
    assert [f.message for f in found] == [
        "unknown parameter max_prepared_statements: PgBouncer 1.18.0 refuses to start"
        " (a PgBouncer 1.24 parameter)",
        "unknown parameter track_extra_parameters: PgBouncer 1.18.0 refuses to start"
        " (a PgBouncer 1.24 parameter)",
    ]
    text = stack.texts["pgbouncer-configmap.yaml"].splitlines()
    assert text[found[0].line - 1].strip() == "max_prepared_statements = 100"  # type: ignore[operator]
    # A patch release is the same table; a value of the wrong type is refused by both.
    _pgbouncer_image(stack, "edoburu/pgbouncer:v1.24.0-p0")
    assert stack.findings(rule) == []
    stack.ini(
        lambda ini: ini.replace("max_prepared_statements = 100", "max_prepared_statements = lots")
    )
    assert (
        "max_prepared_statements = 'lots' is not a whole number"
        in only(stack.findings(rule)).message
    )


def test_pgbouncer_version_says_once_what_it_assumed(stack: StackFiles) -> None:
    rule = exercises("pgbouncer.version")
    stack.ini(lambda ini: ini + "max_prepared_statements = 100\n")
    for image, said in (
        ("edoburu/pgbouncer:latest", "names no PgBouncer version"),
        ("edoburu/pgbouncer@" + DIGEST, "names no PgBouncer version"),
        (
            "edoburu/pgbouncer:v1.99.0",
            "runs PgBouncer 1.99.0, which lint has no parameter table for",
        ),
    ):
        _pgbouncer_image(stack, image)
        f = only(stack.findings(rule))
        assert said in f.message and "checked against PgBouncer 1.24.1" in f.message, f.message
        assert f.severity == "note" and f.object == "ConfigMap/pgbouncer-config"
        assert stack.findings("pgbouncer.invalid") == []  # production's table: accepted


def test_a_bare_ini_is_judged_by_the_image_it_is_given(stack: StackFiles) -> None:
    files = type(stack)  # the fixture's class: a stack of one bare ini
    ini = "[pgbouncer]\nmax_prepared_statements = 100\n"
    alone = files({"pgbouncer.ini": ini})
    assert {f.rule for f in alone.lint().findings} & {"pgbouncer.invalid", "pgbouncer.version"} == {
        "pgbouncer.version"
    }
    assert "no PgBouncer image in this input" in only(alone.findings("pgbouncer.version")).message
    old = files({"pgbouncer.ini": ini}, settings={"pgbouncer_image": "pgbouncer:1.18.0"})
    assert "PgBouncer 1.18.0 refuses to start" in only(old.findings("pgbouncer.invalid")).message
    assert old.findings("pgbouncer.version") == []


def _exporter_env(stack: StackFiles, name: str, change: Callable[[dict[str, Any]], None]) -> None:
    def edit(d: dict[str, Any]) -> None:
        for c in d["spec"]["template"]["spec"]["containers"]:
            if c["name"] == "exporter":
                change(next(e for e in c["env"] if e["name"] == name))

    stack.deployment(edit)


def test_pgbouncer_exporter_credentials(stack: StackFiles) -> None:
    rule = exercises("pgbouncer.exporter-credentials")
    assert stack.findings(rule) == []  # its own user, its own secret, no forced user=
    # 1. The exporter's password is the application's (the seed's shape, before issue 21).
    stack.edit_one(
        "pgbouncer-secret.yaml",
        lambda s: s["stringData"].__setitem__(
            "stats-password", "<<akops-secret:postgres_password>>"
        ),
    )
    f = only(stack.findings(rule))
    assert f.message == (
        "container exporter's password (Secret/pgbouncer-auth key stats-password) is also the "
        "password of authentik in userlist.txt"
    )
    assert f.object == "Deployment/pgbouncer" and f.path is not None and "env" in f.path
    stack.edit_one(
        "pgbouncer-secret.yaml",
        lambda s: s["stringData"].__setitem__("stats-password", "<<akops-secret:stats_password>>"),
    )
    assert stack.findings(rule) == []
    # 2. It logs in as the application's user (known from the environment with --env).
    url = "postgres://authentik@127.0.0.1:6432/pgbouncer?sslmode=disable"
    _exporter_env(stack, "PGBOUNCER_EXPORTER_CONNECTION_STRING", lambda e: e.update(value=url))
    # --path: nothing names the application's user; the borrowed password still shows.
    assert [f.message for f in stack.findings(rule)] == [
        "container exporter's password (Secret/pgbouncer-auth key stats-password) is also the "
        "password of pgbouncer_stats in userlist.txt"
    ]
    stack.settings["database_user"] = "authentik"
    assert "container exporter logs in as authentik, the application's database user" in [
        f.message for f in stack.findings(rule)
    ]
    stack.settings.pop("database_user")
    # 3. A [databases] entry forcing user= hands every PgBouncer user the application's role.
    url = "postgres://pgbouncer_stats@127.0.0.1:6432/pgbouncer?sslmode=disable"
    _exporter_env(stack, "PGBOUNCER_EXPORTER_CONNECTION_STRING", lambda e: e.update(value=url))
    stack.ini(lambda ini: ini.replace("dbname=authentik\n", "dbname=authentik user=authentik\n"))
    f = only(stack.findings(rule))
    assert "[databases] authentik forces user=authentik" in f.message
    assert f.object == "ConfigMap/pgbouncer-config"
    text = stack.texts["pgbouncer-configmap.yaml"].splitlines()
    assert "user=authentik" in text[f.line - 1]  # type: ignore[operator]


def test_pgbouncer_duplicate_key(stack: StackFiles) -> None:
    rule = exercises("pgbouncer.duplicate-key")
    stack.ini(lambda ini: ini + "pool_mode = session\n")
    f = only(stack.findings(rule))
    assert f.severity == "warning" and "the later value wins" in f.message
    assert stack.lint().ok


def test_pgbouncer_config_rollout(stack: StackFiles) -> None:
    rule = exercises("pgbouncer.config-rollout")
    stack.deployment(lambda d: d["spec"]["template"]["metadata"].pop("annotations"))
    assert only(stack.findings(rule)).severity == "warning"


# --- waivers ----------------------------------------------------------------------------------


def test_waivers_show_and_do_not_fail(stack: StackFiles) -> None:
    stack.deployment(lambda d: d["spec"].__setitem__("replicas", 2))
    stack.edit_one("pgbouncer-pdb.yaml", lambda p: p["spec"].update(minAvailable=1))
    assert not stack.lint().ok
    accepted = stack.lint().waived
    stack.waivers = (
        LintWaiver(
            rule="replicas.minimum", object="Deployment/pgbouncer", reason="two-node lab cluster"
        ),
        LintWaiver(rule="pdb.budget", reason="two replicas leave no other budget"),
    )
    report = stack.lint()
    assert report.ok and report.waived == accepted + 2
    assert "waived: two-node lab cluster" in report.to_text(verbose=True)
    # Without verbose a passing run hides what it waived, and says how to see it.
    quiet = report.to_text(show_waived="--verbose")
    assert "two-node lab cluster" not in quiet
    assert quiet.splitlines()[-1].endswith("; --verbose lists the waived")


def test_waiver_limited_to_an_object(stack: StackFiles) -> None:
    stack.deployment(lambda d: d["spec"].__setitem__("replicas", 2))
    stack.waivers = (
        LintWaiver(
            rule="replicas.minimum", object="Deployment/other", reason="not this one at all"
        ),
    )
    report = stack.lint()
    assert not report.ok
    assert "lint.unused-waiver" in {f.rule for f in report.findings}


def test_unused_waiver(stack: StackFiles) -> None:
    rule = exercises("lint.unused-waiver")
    stack.waivers = (LintWaiver(rule="replicas.minimum", reason="two-node lab cluster"),)
    f = only(stack.findings(rule))
    assert f.severity == "warning" and f.path == "lint.waivers[0]"
    stack.deployment(lambda d: d["spec"].__setitem__("replicas", 2))
    assert stack.findings(rule) == []


# Rule modules tested here; a new rule module brings its own test file.
TESTED_HERE = {
    f"akops.lint.rules.{m}"
    for m in ("replicas", "containers", "secrets", "authentik", "database", "pgbouncer", "outpost")
}


def test_every_rule_has_a_test() -> None:
    tested = exercised()
    mine = {
        c.rule.id
        for scope in ("file", "stack")
        for c in checks(scope)  # type: ignore[arg-type]
        if c.function.__module__ in TESTED_HERE
    }
    assert (
        mine | {"yaml.style", "schema.invalid", "values.unknown-key", "lint.unused-waiver"}
        == tested
    )
    assert set(catalogue()) >= tested
