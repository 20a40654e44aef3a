"""Plan and apply against the real API server (server-side apply, managedFields, prune)."""

from __future__ import annotations

import base64
import hashlib
import json
import re

import pytest

from akops.cluster.plan import FieldChange, Plan
from akops.errors import ConflictError, RejectedError
from akops.layout import Layout
from akops.ops import operations as deploy
from akops.requests import ApplyRequest, PlanRequest

from .conftest import CANARY, ENV, PASSWORD_VAR
from .plane import APPLY, Plane

pytestmark = pytest.mark.integration


def plan(layout: Layout) -> Plan:
    return deploy.plan_env(layout, PlanRequest(env=ENV, skip_helm=True))


def apply(layout: Layout, *, prune: bool = False, force: bool = False) -> Plan:
    return deploy.apply_env(
        layout,
        ApplyRequest(env=ENV, skip_helm=True, yes=True, prune=prune, force_conflicts=force),
        out=lambda _: None,
    )


def foreign_apply(cluster: Plane, manager: str, plural: str, body: dict[str, object]) -> None:
    """Another tool (an operator, a policy engine) applies a field with its own manager."""
    cluster.apply_as(manager, body, plural)  # type: ignore[arg-type]


def test_first_plan_adds_everything_then_apply_converges_to_no_changes(
    local: Layout, cluster: Plane, capsys: pytest.CaptureFixture[str]
) -> None:
    first = plan(local)
    assert [(str(o.ref), o.action) for o in first.objects] == [
        (f"Namespace/{cluster.namespace}", "add"),
        ("ConfigMap/pgbouncer-config", "add"),
        ("Secret/pgbouncer-auth", "add"),
        ("ServiceAccount/goauthentik-server", "add"),
        ("Deployment/pgbouncer", "add"),
        ("NetworkPolicy/pgbouncer", "add"),
        ("PodDisruptionBudget/pgbouncer", "add"),
        ("Service/pgbouncer", "add"),
    ]
    assert first.summary() == "Plan: 8 to add, 0 to change, 0 to destroy."
    assert first.has_changes
    assert cluster.get("namespaces", cluster.namespace, namespace="") is None  # nothing changed
    assert cluster.requests("PATCH") == [] and cluster.requests("POST") == []

    apply(local)
    # The real controllers rolled it out on kwok's nodes: the apply waited for that.
    live = cluster.converged()
    assert live is not None and live["status"]["readyReplicas"] == 2
    second = plan(local)
    assert second.summary() == "Plan: 0 to add, 0 to change, 0 to destroy."
    assert not second.has_changes

    # A policy engine's background mutation (Kyverno's ndots, under its own field manager)
    # is neither a change in the plan nor removed by our next apply.
    foreign_apply(
        cluster,
        "kyverno",
        "deployments",
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "pgbouncer"},
            "spec": {
                "template": {"spec": {"dnsConfig": {"options": [{"name": "ndots", "value": "2"}]}}}
            },
        },
    )
    assert not plan(local).has_changes
    apply(local)
    live = cluster.deployment()
    assert live is not None
    assert live["spec"]["template"]["spec"]["dnsConfig"]["options"] == [
        {"name": "ndots", "value": "2"}
    ]
    assert CANARY not in capsys.readouterr().out


def test_apply_sends_server_side_apply_with_our_manager_and_dry_run_for_plans(
    local: Layout, cluster: Plane
) -> None:
    apply(local)
    first = cluster.requests("PATCH")
    assert len([r for r in first if "dryRun" not in r.params]) == 8
    template = local.templates / "pgbouncer" / "deployment.yaml.j2"
    template.write_text(
        template.read_text().replace("revisionHistoryLimit: 5", "revisionHistoryLimit: 6")
    )
    cluster.proxy.forget()
    plan(local)
    dry = cluster.requests("PATCH")
    assert len(dry) == 8 and all(r.params.get("dryRun") == "All" for r in dry)
    cluster.proxy.forget()
    apply(local)
    real = [r for r in cluster.requests("PATCH") if "dryRun" not in r.params]
    # Only what the plan changes is written.
    assert [r.path.rsplit("/", 2)[-2:] for r in real] == [["deployments", "pgbouncer"]]
    for r in first + cluster.requests("PATCH"):
        assert r.content_type == APPLY
        assert r.params["fieldManager"] == "akops"
        assert "force" not in r.params
    # What the API server recorded: every field we sent, owned by `akops` through Apply.
    live = cluster.deployment()
    assert live is not None and live["spec"]["revisionHistoryLimit"] == 6
    owners = {(e["manager"], e["operation"]) for e in live["metadata"]["managedFields"]}
    assert ("akops", "Apply") in owners
    assert {m for m, op in owners if op == "Apply"} == {"akops"}


def test_secret_is_sent_as_data_with_the_real_value_and_never_printed(
    local: Layout, cluster: Plane, capsys: pytest.CaptureFixture[str]
) -> None:
    text = plan(local).to_text(verbose=True)
    assert "data[userlist.txt]: (sensitive value) added" in text
    apply(local)
    secret = cluster.get("secrets", "pgbouncer-auth")
    assert secret is not None
    assert "stringData" not in secret
    assert base64.b64decode(secret["data"]["userlist.txt"]).decode() == f'"authentik" "{CANARY}"\n'
    out = capsys.readouterr().out
    assert CANARY not in text + out
    assert base64.b64encode(CANARY.encode()).decode()[:12] not in text + out


def test_changed_secret_value_is_a_masked_change(
    local: Layout, cluster: Plane, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply(local)
    monkeypatch.setenv(PASSWORD_VAR, CANARY + "-rotated")
    result = plan(local)
    secret = next(o for o in result.objects if o.ref.kind == "Secret")
    assert secret.action == "change"
    text = result.to_text()
    assert "~ data[userlist.txt]: (sensitive value) changed" in text
    assert CANARY not in text


RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


def restart_fields(deployment: dict[str, object]) -> dict[str, object]:
    """Which field managers own the restart annotation (managedFields, by manager)."""
    out: dict[str, object] = {}
    for entry in deployment["metadata"]["managedFields"]:  # type: ignore[index]
        text = json.dumps(entry.get("fieldsV1"))
        if RESTARTED_AT in text:
            out[entry["manager"]] = entry["fieldsV1"]
    return out


def test_password_rotation_restarts_pgbouncer_and_the_next_plan_is_clean(
    local: Layout, cluster: Plane, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply(local)
    # An operator ran `kubectl rollout restart` once: that manager owns the annotation now.
    foreign_apply(
        cluster,
        "kubectl-rollout",
        "deployments",
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "pgbouncer"},
            "spec": {
                "template": {"metadata": {"annotations": {RESTARTED_AT: "2026-06-10T09:00:00Z"}}}
            },
        },
    )
    assert not plan(local).has_changes
    before = cluster.deployment()
    assert before is not None

    rotated = CANARY + "-rotated"
    monkeypatch.setenv(PASSWORD_VAR, rotated)
    planned = plan(local)
    text = planned.to_text()
    assert [str(r.ref) for r in planned.restarts] == ["Deployment/pgbouncer"]
    assert "~ Deployment/pgbouncer will be restarted: Secret/pgbouncer-auth changed" in text
    assert planned.summary() == "Plan: 0 to add, 1 to change, 0 to destroy."

    lines: list[str] = []
    deploy.apply_env(local, ApplyRequest(env=ENV, skip_helm=True, yes=True), out=lines.append)
    said = "\n".join(lines)
    assert "~ Deployment/pgbouncer will be restarted: Secret/pgbouncer-auth changed" in said
    assert "restarted Deployment/pgbouncer (rolling): Secret/pgbouncer-auth changed" in said
    assert "Rollout complete: pgbouncer 2/2." in said
    after = cluster.deployment()
    assert after is not None
    assert after["metadata"]["generation"] == before["metadata"]["generation"] + 1
    annotations = after["spec"]["template"]["metadata"]["annotations"]
    assert set(annotations) == {"checksum/config", RESTARTED_AT}
    assert (
        annotations["checksum/config"]
        == before["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
    )
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", annotations[RESTARTED_AT])
    # Taken over from kubectl-rollout by our restart manager; never by `akops` itself.
    assert list(restart_fields(after)) == ["akops-restart"]
    restarts = [r for r in cluster.requests("PATCH") if r.params["fieldManager"] == "akops-restart"]
    assert len(restarts) == 1 and restarts[0].params.get("force") == "true"
    # The real controller rolled the pods: a new ReplicaSet for the new template, converged.
    assert cluster.converged() is not None
    # Nothing derived from the password reaches the Deployment.
    body = json.dumps(after)
    for secret in (CANARY, rotated):
        for derived in (
            secret,
            hashlib.sha256(secret.encode()).hexdigest(),
            hashlib.md5((secret + "authentik").encode()).hexdigest(),
            base64.b64encode(secret.encode()).decode()[:12],
        ):
            assert derived not in body + said

    again = plan(local)
    assert again.restarts == ()
    assert again.summary() == "Plan: 0 to add, 0 to change, 0 to destroy."


def test_a_secret_change_with_a_new_pod_template_rolls_once(
    local: Layout, cluster: Plane, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply(local)
    monkeypatch.setenv(PASSWORD_VAR, CANARY + "-rotated")
    template = local.templates / "pgbouncer" / "deployment.yaml.j2"
    template.write_text(
        template.read_text().replace(
            "timeoutSeconds: {{ p.readiness.timeout }}", "timeoutSeconds: 4"
        )
    )
    planned = plan(local)
    assert planned.restarts == ()  # the changed template replaces every pod anyway
    assert "will be restarted" not in planned.to_text()
    apply(local)
    live = cluster.deployment()
    assert live is not None
    assert RESTARTED_AT not in live["spec"]["template"]["metadata"]["annotations"]


def test_changed_template_shows_exactly_that_field(local: Layout, cluster: Plane) -> None:
    apply(local)
    template = local.templates / "pgbouncer" / "deployment.yaml.j2"
    template.write_text(
        template.read_text().replace("revisionHistoryLimit: 5", "revisionHistoryLimit: 7")
    )
    result = plan(local)
    changed = [o for o in result.objects if o.action != "none"]
    assert [str(o.ref) for o in changed] == ["Deployment/pgbouncer"]
    assert changed[0].changes == (FieldChange(("spec", "revisionHistoryLimit"), "~", 5, 7),)
    assert "    ~ spec.revisionHistoryLimit: 5 → 7" in result.to_text()
    assert result.summary() == "Plan: 0 to add, 1 to change, 0 to destroy."


def test_removed_field_shows_as_removed(local: Layout, cluster: Plane) -> None:
    apply(local)
    template = local.templates / "pgbouncer" / "deployment.yaml.j2"
    text = template.read_text()
    text = text.replace("    tier: {{ env.kube.tier }}\n", "", 1)
    text = text.replace("  revisionHistoryLimit: 5\n", "")
    template.write_text(text)
    result = plan(local)
    dep = next(o for o in result.objects if o.ref.kind == "Deployment")
    assert dep.changes == (
        # A field without a server default is gone from the object...
        FieldChange(("metadata", "labels", "tier"), "-", "1-cluster", None),
        # ...one with a default gets the server's value back (the real API's defaulting).
        FieldChange(("spec", "revisionHistoryLimit"), "~", 5, 10),
    )


def test_removed_template_is_planned_as_destroy_and_prune_deletes_it(
    local: Layout, cluster: Plane
) -> None:
    apply(local)
    (local.templates / "pgbouncer" / "pdb.yaml.j2").unlink()
    result = plan(local)
    assert result.refs("destroy") == [
        r for r in result.refs("destroy") if str(r) == "PodDisruptionBudget/pgbouncer"
    ]
    assert len(result.refs("destroy")) == 1
    assert "- PodDisruptionBudget/pgbouncer will be destroyed" in result.to_text()
    assert result.summary() == "Plan: 0 to add, 0 to change, 1 to destroy."

    apply(local)  # without --prune the object stays
    assert cluster.get("poddisruptionbudgets", "pgbouncer", api_version="policy/v1") is not None
    apply(local, prune=True)
    assert cluster.get("poddisruptionbudgets", "pgbouncer", api_version="policy/v1") is None
    deletes = cluster.requests("DELETE", "/poddisruptionbudgets/pgbouncer$")
    assert len(deletes) == 1
    assert not plan(local).has_changes


def test_objects_without_our_manager_are_never_destroyed(local: Layout, cluster: Plane) -> None:
    apply(local)
    # Same labels, but applied by someone else: not ours to delete.
    foreign_apply(
        cluster,
        "helm",
        "configmaps",
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "other",
                "labels": {"app.kubernetes.io/managed-by": "akops", "akops.io/stack": "authentik"},
            },
            "data": {"a": "b"},
        },
    )
    assert plan(local).refs("destroy") == []


def test_conflict_names_the_other_manager_and_force_takes_over(
    local: Layout, cluster: Plane, capsys: pytest.CaptureFixture[str]
) -> None:
    apply(local)
    # What `kubectl edit` sends: a patch, recorded by the server as an Update by kubectl-edit.
    cluster.edit_as(
        "kubectl-edit", "deployments", "pgbouncer", {"spec": {"replicas": 5}}, api_version="apps/v1"
    )
    with pytest.raises(ConflictError) as planned:
        plan(local)
    assert "kubectl-edit" in str(planned.value)
    with pytest.raises(ConflictError) as applied:
        apply(local)
    message = str(applied.value)
    assert message.startswith(
        "Deployment/pgbouncer: fields owned by another field manager (kubectl-edit)"
    )
    assert ".spec.replicas" in message and "--force-conflicts" in message
    assert applied.value.exit_code == 1
    assert CANARY not in message + capsys.readouterr().out
    live = cluster.deployment()
    assert live is not None and live["spec"]["replicas"] == 5  # refused: nothing written

    apply(local, force=True)
    live = cluster.deployment()
    assert live is not None and live["spec"]["replicas"] == 2
    managers = {e["manager"] for e in live["metadata"]["managedFields"]}
    assert "kubectl-edit" not in managers  # the forced apply took its only field over
    assert not plan(local).has_changes


def test_partial_failure_reports_what_was_applied_and_what_was_not(
    local: Layout, cluster: Plane
) -> None:
    cluster.fail("PATCH", "/deployments/pgbouncer$", 422, real_only=True)
    with pytest.raises(RejectedError) as failed:
        apply(local)
    assert failed.value.exit_code == 1
    message = str(failed.value)
    assert message.startswith("Deployment/pgbouncer: the API answered 422: injected 422")
    assert (
        f"; applied: Namespace/{cluster.namespace}, ConfigMap/pgbouncer-config, "
        "Secret/pgbouncer-auth, ServiceAccount/goauthentik-server;" in message
    )
    assert message.endswith(
        "not applied: Deployment/pgbouncer, NetworkPolicy/pgbouncer, "
        "PodDisruptionBudget/pgbouncer, Service/pgbouncer"
    )
    assert cluster.get("configmaps", "pgbouncer-config") is not None
    assert cluster.get("services", "pgbouncer") is None
    assert cluster.deployment() is None
