"""Planned restarts: a changed Secret reaches running pods only through new pods (pure)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from akops.cluster.objects import Manifest, Ref
from akops.cluster.plan import FieldChange, ObjectPlan, Plan, Restart, restarts, secrets_used
from akops.layout import Layout
from akops.render import render_env

NS = "authentik"
DEPLOYMENT = Ref("Deployment", NS, "pgbouncer")
SECRET = Ref("Secret", NS, "pgbouncer-auth")
CONFIG = Ref("ConfigMap", NS, "pgbouncer-config")
DATA_CHANGED = ObjectPlan(
    SECRET, "change", (FieldChange(("data", "userlist.txt"), "~", "b2xk", "bmV3"),)
)


def pod(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "pgbouncer"},
        "spec": {"template": {"metadata": {}, "spec": {"containers": [], **spec}}},
    }


MOUNTS_SECRET = pod(
    volumes=[
        {"name": "config", "configMap": {"name": "pgbouncer-config"}},
        {"name": "auth", "secret": {"secretName": "pgbouncer-auth"}},
    ]
)


def manifests(body: dict[str, Any] = MOUNTS_SECRET) -> list[Manifest]:
    return [Manifest(DEPLOYMENT, body, "pgbouncer-deployment.yaml")]


def test_a_secret_data_change_restarts_the_deployment_that_mounts_it() -> None:
    plans = [DATA_CHANGED, ObjectPlan(DEPLOYMENT, "none")]
    assert restarts(manifests(), plans) == (Restart(DEPLOYMENT, (SECRET,)),)


def test_the_plan_text_says_which_deployment_restarts_and_why_without_counting_it() -> None:
    plan = Plan(
        (DATA_CHANGED, ObjectPlan(DEPLOYMENT, "none")), restarts=(Restart(DEPLOYMENT, (SECRET,)),)
    )
    text = plan.to_text()
    assert "~ Deployment/pgbouncer will be restarted: Secret/pgbouncer-auth changed\n" in text
    assert "~ data[userlist.txt]: (sensitive value) changed" in text
    assert "bmV3" not in text
    assert plan.summary() == "Plan: 0 to add, 1 to change, 0 to destroy."


def test_a_changed_pod_template_replaces_the_pods_anyway() -> None:
    template = ObjectPlan(
        DEPLOYMENT,
        "change",
        (FieldChange(("spec", "template", "spec", "containers"), "~", [], [{}]),),
    )
    assert restarts(manifests(), [DATA_CHANGED, template]) == ()


def test_a_change_elsewhere_in_the_deployment_still_needs_the_restart() -> None:
    scaled = ObjectPlan(DEPLOYMENT, "change", (FieldChange(("spec", "replicas"), "~", 2, 3),))
    assert restarts(manifests(), [DATA_CHANGED, scaled]) == (Restart(DEPLOYMENT, (SECRET,)),)


@pytest.mark.parametrize(
    "secret",
    [
        ObjectPlan(
            SECRET, "change", (FieldChange(("metadata", "labels", "team"), "+", None, "db"),)
        ),
        ObjectPlan(SECRET, "none"),
        ObjectPlan(SECRET, "add"),
    ],
    ids=["labels only", "unchanged", "new"],
)
def test_no_restart_without_a_data_change_of_an_existing_secret(secret: ObjectPlan) -> None:
    assert restarts(manifests(), [secret, ObjectPlan(DEPLOYMENT, "none")]) == ()


@pytest.mark.parametrize("action", ["add", "destroy"])
def test_no_restart_for_a_deployment_without_running_pods_of_ours(action: str) -> None:
    assert restarts(manifests(), [DATA_CHANGED, ObjectPlan(DEPLOYMENT, action)]) == ()  # type: ignore[arg-type]


def test_a_config_map_change_is_left_to_the_checksum_annotation() -> None:
    config = ObjectPlan(CONFIG, "change", (FieldChange(("data", "pgbouncer.ini"), "~", "a", "b"),))
    assert restarts(manifests(), [config, ObjectPlan(DEPLOYMENT, "none")]) == ()


def test_a_deployment_that_does_not_read_the_secret_keeps_its_pods() -> None:
    other = pod(volumes=[{"name": "config", "configMap": {"name": "pgbouncer-config"}}])
    assert restarts(manifests(other), [DATA_CHANGED, ObjectPlan(DEPLOYMENT, "none")]) == ()


def test_secrets_are_found_in_volumes_projections_env_and_env_from() -> None:
    body = pod(
        volumes=[
            {"name": "a", "secret": {"secretName": "vol"}},
            {"name": "b", "projected": {"sources": [{"secret": {"name": "projected"}}]}},
            {"name": "c", "emptyDir": {}},
        ],
        initContainers=[{"name": "init", "envFrom": [{"secretRef": {"name": "init-from"}}]}],
        containers=[
            {
                "name": "main",
                "env": [
                    {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "env", "key": "pw"}}},
                    {"name": "PLAIN", "value": "x"},
                ],
                "envFrom": [{"configMapRef": {"name": "not-a-secret"}}],
            }
        ],
    )
    assert secrets_used(body) == {"vol", "projected", "init-from", "env"}


def test_the_rendered_pgbouncer_deployment_reads_pgbouncer_auth() -> None:
    _, stack = render_env(Layout(Path(__file__).resolve().parents[3]), "prod")
    body = yaml.safe_load(stack.by_name()["pgbouncer-deployment.yaml"])
    assert secrets_used(body) == {"pgbouncer-auth"}
