"""Pod Security: the real admission plugin, in a namespace labelled as the stack renders it.

Every pod the stack would run in prod and lab (PgBouncer's, the chart's server and worker as
``helm template`` renders them with our values, and the embedded outpost as Authentik builds it
with our JSON patches applied) is admitted under ``restricted``; the seed's PgBouncer pod is
refused, and admitted again where the label is missing: the label is what refuses it.
Pods are created with ``dryRun=All``: admission runs in full, nothing is stored.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonpatch
import pytest
import yaml

from akops import chart as charts
from akops import names
from akops.cluster.call import call
from akops.cluster.objects import manifests
from akops.environment import Environment
from akops.errors import ClusterError
from akops.layout import Layout, third_party_data
from akops.render import render_env
from akops.secrets import Secrets
from akops.yamldoc import parse_all
from tests.integration.controlplane import new_namespace_name

pytestmark = pytest.mark.integration

SEED_FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "seed" / "pgbouncer.yaml"
SEED_CHANGE = "000_3d87b261c199e396.txt"


def pod_of(deployment: dict[str, Any], name: str) -> dict[str, Any]:
    """The pod a Deployment's template makes (what the ReplicaSet controller would create)."""
    template = deployment["spec"]["template"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": template["metadata"].get("labels", {})},
        "spec": template["spec"],
    }


def admit(api: Any, namespace: str, pod: dict[str, Any]) -> str | None:
    """None when admission accepts ``pod``; else the API's refusal."""
    try:
        call(
            api,
            "POST",
            f"/api/v1/namespaces/{namespace}/pods",
            what=f"Pod/{pod['metadata']['name']}",
            query=[("dryRun", "All")],
            body=pod,
        )
    except ClusterError as e:
        return str(e)
    return None


def namespace_labels(layout: Layout, env: str) -> dict[str, str]:
    """The labels of the stack's Namespace as ``invoke render`` writes them."""
    _, stack = render_env(layout, env)
    (ns,) = [d.data for d in parse_all(stack.by_name()["namespace.yaml"], "namespace.yaml")]
    labels: dict[str, str] = ns["metadata"]["labels"]
    return labels


def make_namespace(api: Any, labels: dict[str, str]) -> str:
    name = new_namespace_name("psa")
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}
    call(api, "POST", "/api/v1/namespaces", what=f"namespace {name}", body=body)
    return name


def outpost_deployment(env: Environment) -> dict[str, Any]:
    """The embedded outpost's Deployment as Authentik's Kubernetes controller builds it: one
    ``proxy`` container with its ports, and no security context (why the patches set one)."""
    outpost = env.authentik.outpost
    labels = names.outpost_pod(outpost.name)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": outpost.deployment, "labels": labels},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": outpost.container,
                            "image": f"ghcr.io/goauthentik/proxy:{env.authentik.image_tag}",
                            "ports": [
                                {"name": "http", "containerPort": 9000},
                                {"name": "https", "containerPort": 9443},
                            ],
                        }
                    ]
                },
            },
        },
    }


def rendered_pods(layout: Layout, env_name: str, helm: Path, chart: Path) -> list[dict[str, Any]]:
    env, stack = render_env(layout, env_name)
    files = stack.by_name()
    secrets = Secrets({name: f"canary-{name}" for name in env.secrets})
    ours = [
        m.body
        for m in manifests(stack, env.kube.namespace, env.other_namespaces)
        if m.ref.kind == "Deployment"
    ]
    stream = charts.template(
        str(helm),
        chart,
        release=env.authentik.chart.release,
        namespace=env.kube.namespace,
        values_text=secrets.inject(files["authentik-values.yaml"]),
        kube_version=env.kube.version,
    )
    theirs = [
        d.data for d in parse_all(stream, "chart") if (d.data or {}).get("kind") == "Deployment"
    ]
    patches = yaml.safe_load(files["outpost-patches.yaml"])["kubernetes_json_patches"]["deployment"]
    outpost = jsonpatch.apply_patch(outpost_deployment(env), patches)
    return [pod_of(d, d["metadata"]["name"]) for d in [*ours, *theirs, outpost]]


@pytest.mark.parametrize("env", ["prod", "lab"])
def test_every_rendered_pod_is_admitted_as_restricted(
    env: str, layout: Layout, kube_api: Any, real_helm: Path, pinned_chart: Path
) -> None:
    labels = namespace_labels(layout, env)
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    namespace = make_namespace(kube_api, labels)
    pods = rendered_pods(layout, env, real_helm, pinned_chart)
    assert sorted(p["metadata"]["name"] for p in pods) == sorted(
        [
            "pgbouncer",
            "goauthentik-server",
            "goauthentik-worker",
            "ak-outpost-authentik-embedded-outpost",
        ]
    )
    # The ServiceAccount admission wants the accounts the pods name (ours and the chart's).
    for account in {p["spec"].get("serviceAccountName") for p in pods} - {None, "default"}:
        body = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": account}}
        call(
            kube_api,
            "POST",
            f"/api/v1/namespaces/{namespace}/serviceaccounts",
            what=account,
            body=body,
        )
    refused = {p["metadata"]["name"]: admit(kube_api, namespace, p) for p in pods}
    assert {k: v for k, v in refused.items() if v} == {}


def seed_pod() -> dict[str, Any]:
    (deployment,) = [
        d.data for d in parse_all(SEED_FIXTURE.read_text(encoding="utf-8"), str(SEED_FIXTURE))
        if d.data.get("kind") == "Deployment"
    ]  # fmt: skip
    return pod_of(deployment, "seed-pgbouncer")


def test_the_seed_fixture_is_the_seeds_pgbouncer() -> None:
    """The fixture transcribes the seed change's pgbouncer.tf: no security context at all."""
    change = third_party_data("seed", SEED_CHANGE)
    if not change.is_file():
        pytest.skip(f"{change} not found: set AKOPS_TEST_DATA to the folder holding seed/")
    text = change.read_text(encoding="utf-8")
    tf = text[text.index('resource "kubernetes_deployment" "pgbouncer"') :]
    tf = tf[: tf.index("# --- 3b")]
    assert "security_context" not in tf
    assert 'image = "edoburu/pgbouncer:latest"' in tf
    spec = seed_pod()["spec"]
    assert "securityContext" not in spec
    assert all("securityContext" not in c for c in spec["containers"])
    assert spec["containers"][0]["image"] == "edoburu/pgbouncer:latest"


def test_the_seeds_pgbouncer_pod_is_refused(layout: Layout, kube_api: Any) -> None:
    namespace = make_namespace(kube_api, namespace_labels(layout, "prod"))
    refusal = admit(kube_api, namespace, seed_pod())
    assert refusal is not None
    assert 'violates PodSecurity "restricted:v1.33"' in refusal
    for reason in (
        "allowPrivilegeEscalation != false",
        "unrestricted capabilities",
        "runAsNonRoot != true",
        "seccompProfile",
    ):
        assert reason in refusal, reason
    # The same pod in a namespace without the label is admitted: the label is the defence.
    assert admit(kube_api, make_namespace(kube_api, {}), seed_pod()) is None


def test_the_labels_pin_the_policy_to_the_clusters_minor(layout: Layout) -> None:
    for env in ("prod", "lab"):
        labels = namespace_labels(layout, env)
        assert labels["pod-security.kubernetes.io/enforce-version"] == "v1.33"
        assert json.dumps(labels).count("restricted") == 3  # enforce, warn, audit
