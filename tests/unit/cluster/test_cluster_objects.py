"""The stack's objects: parsing rendered files, apply order, Secret bodies, ownership (pure)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from akops import names
from akops.cluster.objects import (
    Ref,
    chart_manifests,
    destroy_order,
    labels_match,
    manifests,
    ours,
    to_apply,
)
from akops.environment import load_environment
from akops.errors import InputError, SecretError
from akops.layout import Layout
from akops.secrets import Secrets
from akops.stack import RenderedFile, RenderedStack, render_stack


@pytest.fixture(scope="module")
def prod_stack(layout: Layout) -> RenderedStack:
    return render_stack(load_environment("prod", layout.environments), layout.templates)


def test_rendered_prod_objects_in_dependency_order(prod_stack: RenderedStack) -> None:
    found = manifests(prod_stack, "authentik", ("monitoring",))
    assert [str(m.ref) for m in found] == [
        "Namespace/authentik",
        "ConfigMap/authentik-alerts",
        "ConfigMap/pgbouncer-config",
        "Secret/pgbouncer-auth",
        "ServiceAccount/goauthentik-server",
        "Deployment/pgbouncer",
        "NetworkPolicy/pgbouncer",
        "PodDisruptionBudget/pgbouncer",
        "Service/pgbouncer",
    ]
    assert {m.source for m in found} == {
        "namespace.yaml",
        "alerts-rules.yaml",
        "authentik-serviceaccount.yaml",
        "pgbouncer-configmap.yaml",
        "pgbouncer-secret.yaml",
        "pgbouncer-deployment.yaml",
        "pgbouncer-networkpolicy.yaml",
        "pgbouncer-pdb.yaml",
        "pgbouncer-service.yaml",
    }  # Helm values and outpost patches are not Kubernetes objects
    assert all(labels_match(m.body) for m in found)
    # Cluster-scoped: no namespace in its identity or path, and never one set on its body.
    assert found[0].ref == Ref("Namespace", "", "authentik")
    assert found[0].ref.path == "/api/v1/namespaces/authentik"
    assert "namespace" not in found[0].body["metadata"]
    found = found[1:]
    assert found[3].ref.path == "/api/v1/namespaces/authentik/serviceaccounts/goauthentik-server"
    assert found[4].ref.path == "/apis/apps/v1/namespaces/authentik/deployments/pgbouncer"
    assert (
        found[5].ref.path
        == "/apis/networking.k8s.io/v1/namespaces/authentik/networkpolicies/pgbouncer"
    )
    assert (
        found[6].ref.path == "/apis/policy/v1/namespaces/authentik/poddisruptionbudgets/pgbouncer"
    )
    assert found[1].ref.path == "/api/v1/namespaces/authentik/configmaps/pgbouncer-config"
    # The Prometheus server mounts the rule ConfigMap: it lives in Prometheus's namespace.
    assert found[0].ref.path == "/api/v1/namespaces/monitoring/configmaps/authentik-alerts"


def test_the_namespace_rendered_must_be_the_environments(prod_stack: RenderedStack) -> None:
    ns = next(f for f in prod_stack.files if f.name == "namespace.yaml")
    other = RenderedStack("prod", (ns,))
    with pytest.raises(InputError, match="Namespace 'authentik' is not the environment's"):
        manifests(other, "elsewhere")


def test_an_object_in_a_namespace_not_allowed_is_an_error(prod_stack: RenderedStack) -> None:
    with pytest.raises(InputError, match="'monitoring' is not the environment's namespace"):
        manifests(prod_stack, "authentik")


def test_secret_is_sent_as_base64_data_with_the_value_injected(prod_stack: RenderedStack) -> None:
    secret = next(
        m for m in manifests(prod_stack, "authentik", ("monitoring",)) if m.ref.kind == "Secret"
    )
    body = to_apply(
        secret, Secrets({"postgres_password": "pa$$-canary", "stats_password": 'st"ats-canary'})
    )
    assert "stringData" not in body
    assert base64.b64decode(body["data"]["userlist.txt"]).decode() == (
        '"authentik" "pa$$-canary"\n"pgbouncer_stats" "st""ats-canary"\n'
    )
    assert base64.b64decode(body["data"]["stats-password"]).decode() == 'st"ats-canary'
    assert "<<akops-secret" in str(secret.body)  # the rendered manifest keeps its placeholder


def test_an_unresolved_secret_is_an_error(prod_stack: RenderedStack) -> None:
    secret = next(
        m for m in manifests(prod_stack, "authentik", ("monitoring",)) if m.ref.kind == "Secret"
    )
    with pytest.raises(SecretError, match="'postgres_password' is used but was not resolved"):
        to_apply(secret, Secrets())


def stack_of(text: str) -> RenderedStack:
    return RenderedStack("t", (RenderedFile("x.yaml", "x.yaml.j2", text),))


def test_unknown_kind_names_file_and_line() -> None:
    text = "# header\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: p}\n"
    with pytest.raises(InputError, match=r"^x.yaml:6: kind 'Pod' is not managed by akops"):
        manifests(stack_of(text), "authentik")


def test_foreign_namespace_and_duplicates_are_refused() -> None:
    other = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: kube-system}\n"
    with pytest.raises(
        InputError, match=r"metadata\.namespace 'kube-system' is not the environment's namespace"
    ):
        manifests(stack_of(other), "authentik")
    twice = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"
    with pytest.raises(InputError, match="ConfigMap/a is rendered twice"):
        manifests(stack_of(twice), "authentik")


def test_wrong_api_version_is_refused() -> None:
    text = "apiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata: {name: a}\n"
    with pytest.raises(InputError, match="PodDisruptionBudget must use apiVersion policy/v1"):
        manifests(stack_of(text), "authentik")


def test_ours_needs_both_labels_and_our_field_manager() -> None:
    labels = {"app.kubernetes.io/managed-by": "akops", "akops.io/stack": "authentik"}
    mine = {"metadata": {"labels": labels, "managedFields": [{"manager": "akops"}]}}
    assert ours(mine)
    assert not ours({"metadata": {"labels": labels, "managedFields": [{"manager": "helm"}]}})
    assert not ours(
        {
            "metadata": {
                "labels": {"akops.io/stack": "authentik"},
                "managedFields": [{"manager": "akops"}],
            }
        }
    )
    assert names.PRUNE_SELECTOR == "app.kubernetes.io/managed-by=akops,akops.io/stack=authentik"


def test_destroy_order_is_the_reverse_of_apply_order() -> None:
    refs = [
        Ref("ConfigMap", "ns", "c"),
        Ref("Service", "ns", "s"),
        Ref("Deployment", "ns", "d"),
    ]
    assert [str(r) for r in destroy_order(refs)] == ["Service/s", "Deployment/d", "ConfigMap/c"]


def test_layout_fixture_is_the_repository(layout: Layout) -> None:
    assert (Path(layout.root) / "templates" / "pgbouncer").is_dir()


def test_chart_objects_carry_what_helm_stamps_on_a_release() -> None:
    text = (
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: goauthentik-server\n"
        "  labels: {app.kubernetes.io/name: authentik}\n"
        "  annotations: {keep: me}\nspec: {ports: [{port: 80}]}\n"
    )
    (templated,), _ = chart_manifests(text, "authentik", "chart")
    assert "annotations" in templated.body["metadata"]
    assert templated.body["metadata"]["annotations"] == {"keep": "me"}
    (released,), _ = chart_manifests(text, "authentik", "chart", release="goauthentik")
    meta = released.body["metadata"]
    assert meta["labels"] == {
        "app.kubernetes.io/name": "authentik",
        "app.kubernetes.io/managed-by": "Helm",
    }
    assert meta["annotations"] == {
        "keep": "me",
        "meta.helm.sh/release-name": "goauthentik",
        "meta.helm.sh/release-namespace": "authentik",
    }
