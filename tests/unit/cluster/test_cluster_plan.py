"""Plans: normalisation, field diffs, masking, summary and exit codes (pure)."""

from __future__ import annotations

import copy
from typing import Any

from akops.cluster.objects import Ref
from akops.cluster.plan import (
    FieldChange,
    ObjectPlan,
    OutpostPlan,
    Plan,
    changes,
    normalize,
    object_plan,
    release_plan,
)
from akops.secrets import Secrets

DEPLOYMENT = Ref("Deployment", "authentik", "pgbouncer")
SECRET = Ref("Secret", "authentik", "pgbouncer-auth")


def live_deployment() -> dict[str, Any]:
    """A Deployment as the API returns it: server fields, Kyverno's dnsConfig, status."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "pgbouncer",
            "namespace": "authentik",
            "uid": "6f1c",
            "resourceVersion": "81234",
            "generation": 4,
            "creationTimestamp": "2026-06-10T08:00:00Z",
            "annotations": {"deployment.kubernetes.io/revision": "4"},
            "labels": {"app": "pgbouncer", "app.kubernetes.io/managed-by": "akops"},
            "managedFields": [{"manager": "akops", "operation": "Apply"}],
        },
        "spec": {
            "replicas": 3,
            "template": {
                "metadata": {"labels": {"app": "pgbouncer"}},
                "spec": {
                    "dnsConfig": {"options": [{"name": "ndots", "value": "2"}]},
                    "containers": [
                        {
                            "name": "pgbouncer",
                            "image": "edoburu/pgbouncer:v1.24.1-p1",
                            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                        }
                    ],
                },
            },
        },
        "status": {"observedGeneration": 4, "readyReplicas": 3},
    }


def test_normalize_drops_server_noise_and_the_injected_ndots_only() -> None:
    live = live_deployment()
    live["spec"]["template"]["spec"]["dnsConfig"]["options"].append({"name": "edns0"})
    out = normalize(live)
    assert "status" not in out
    assert set(out["metadata"]) == {"name", "namespace", "labels"}
    assert out["spec"]["template"]["spec"]["dnsConfig"] == {"options": [{"name": "edns0"}]}
    assert live["status"] and live["metadata"]["uid"]  # input untouched


def test_normalize_removes_a_dns_config_left_empty() -> None:
    assert "dnsConfig" not in normalize(live_deployment())["spec"]["template"]["spec"]


def test_identical_objects_up_to_noise_plan_no_change() -> None:
    planned = normalize(live_deployment())
    planned["metadata"]["resourceVersion"] = "1"
    assert object_plan(DEPLOYMENT, live_deployment(), planned) == ObjectPlan(DEPLOYMENT, "none")


def test_named_list_items_are_matched_by_name() -> None:
    old = live_deployment()
    new = copy.deepcopy(old)
    new["spec"]["template"]["spec"]["containers"][0]["env"].insert(0, {"name": "Z", "value": "0"})
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "edoburu/pgbouncer:v1.25.0"
    plan = object_plan(DEPLOYMENT, old, new)
    assert plan.action == "change"
    text = Plan((plan,)).to_text()
    assert '    + spec.template.spec.containers[pgbouncer].env[Z].name: "Z"' in text
    assert (
        '    ~ spec.template.spec.containers[pgbouncer].image: "edoburu/pgbouncer:v1.24.1-p1" → '
        '"edoburu/pgbouncer:v1.25.0"' in text
    )
    assert "env[A]" not in text and "env[B]" not in text


def test_unnamed_lists_diff_by_index() -> None:
    assert changes({"a": [1, 2]}, {"a": [1, 3, 4]}) == [
        FieldChange(("a", 1), "~", 2, 3),
        FieldChange(("a", 2), "+", None, 4),
    ]


def test_secret_values_and_last_applied_are_masked_but_still_compared() -> None:
    old: dict[str, Any] = {
        "kind": "Secret",
        "metadata": {
            "name": "pgbouncer-auth",
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": '{"stringData": "hunter2"}'
            },
        },
        "data": {"userlist.txt": "ImF1dGhlbnRpayIgImh1bnRlcjIi"},
    }
    new = copy.deepcopy(old)
    new["data"]["userlist.txt"] = "ImF1dGhlbnRpayIgIm5ldyI="
    new["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] = (
        '{"x": "hunter3"}'
    )
    plan = object_plan(SECRET, old, new)
    assert plan.action == "change"
    text = Plan((plan,)).to_text()
    assert "~ data[userlist.txt]: (sensitive value) changed" in text
    assert (
        "~ metadata.annotations[kubectl.kubernetes.io/last-applied-configuration]: (sensitive value) changed"
        in text
    )
    for leak in ("hunter", "ImF1dGhlbnRpayIg", "Im5ldyI"):
        assert leak not in text


def test_added_secret_shows_only_that_data_exists() -> None:
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s"},
        "data": {"k": "c2VjcmV0"},
    }
    text = Plan((object_plan(SECRET, None, body),)).to_text()
    assert "+ Secret/pgbouncer-auth will be created" in text
    assert "    + data.k: (sensitive value) added" in text
    assert "c2VjcmV0" not in text
    assert "apiVersion" not in text  # identity is in the header line


def test_resolved_secret_values_are_masked_anywhere_in_the_text() -> None:
    new = live_deployment()
    new["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] = "s3cr3t-canary"
    plan = Plan(
        (object_plan(DEPLOYMENT, live_deployment(), new),), secrets=Secrets({"pw": "s3cr3t-canary"})
    )
    text = plan.to_text()
    assert "s3cr3t-canary" not in text
    assert 'env[A].value: "1" → "***"' in text


def test_multiline_values_are_shown_as_a_line_diff() -> None:
    old = {"data": {"pgbouncer.ini": "[pgbouncer]\npool_mode = session\nmax_client_conn = 200\n"}}
    new = {"data": {"pgbouncer.ini": "[pgbouncer]\npool_mode = session\nmax_client_conn = 300\n"}}
    plan = object_plan(Ref("ConfigMap", "authentik", "pgbouncer-config"), old, new)
    lines = Plan((plan,)).to_text().splitlines()
    assert "    ~ data[pgbouncer.ini]:" in lines
    assert "        -max_client_conn = 200" in lines
    assert "        +max_client_conn = 300" in lines


def test_summary_counts() -> None:
    objects = (
        ObjectPlan(Ref("ConfigMap", "authentik", "a"), "add"),
        ObjectPlan(DEPLOYMENT, "change", (FieldChange(("spec", "replicas"), "~", 2, 3),)),
        ObjectPlan(Ref("Service", "authentik", "old"), "destroy"),
        ObjectPlan(SECRET, "none"),
    )
    release = release_plan(
        "goauthentik", "authentik", "authentik", "2026.2.2", {"a": 1}, {"a": 1}, "2026.2.1"
    )
    plan = Plan(objects, release, outpost=OutpostPlan("authentik-embedded-outpost", "change"))
    assert plan.summary() == "Plan: 1 to add, 3 to change, 1 to destroy."
    assert plan.has_changes
    text = plan.to_text()
    assert "- Service/old will be destroyed" in text
    assert "Secret/pgbouncer-auth" not in text
    assert (
        "~ helm release authentik/goauthentik (chart authentik 2026.2.1 → 2026.2.2) will be updated"
        in text
    )
    assert '    ~ chart.version: "2026.2.1" → "2026.2.2"' in text
    assert (
        "~ outpost authentik-embedded-outpost kubernetes_json_patches will be updated in place"
        in text
    )
    assert "Secret/pgbouncer-auth unchanged" in plan.to_text(verbose=True)
    assert text.endswith("\nPlan: 1 to add, 3 to change, 1 to destroy.\n")


def test_no_changes() -> None:
    plan = Plan((ObjectPlan(SECRET, "none"),))
    assert not plan.has_changes
    assert plan.to_text() == (
        "No changes. The cluster matches the rendered stack.\n\nPlan: 0 to add, 0 to change, 0 to destroy.\n"
    )


def test_absent_release_is_an_add_of_every_value() -> None:
    r = release_plan(
        "goauthentik", "authentik", "authentik", "2026.2.2", {"server": {"replicas": 3}}, None, None
    )
    assert r.action == "add"
    assert r.changes == (FieldChange(("server",), "+", None, {"replicas": 3}),)
    assert "    + server.replicas: 3" in Plan((), r).to_text()
