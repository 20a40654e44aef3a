"""Plan and apply against the Kubernetes API emulator: the "done when" of issue 4."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import urllib.request

import pytest

from akops.cluster.plan import FieldChange, Plan
from akops.errors import ConflictError, RejectedError
from akops.layout import Layout
from akops.ops import operations as deploy
from akops.requests import ApplyRequest, PlanRequest
from harness.emulator import Cluster

from .conftest import CANARY, ENV

pytestmark = pytest.mark.integration


def plan(layout: Layout) -> Plan:
    return deploy.plan_env(layout, PlanRequest(env=ENV, skip_helm=True))


def apply(layout: Layout, *, prune: bool = False, force: bool = False) -> Plan:
    return deploy.apply_env(
        layout,
        ApplyRequest(env=ENV, skip_helm=True, yes=True, prune=prune, force_conflicts=force),
        out=lambda _: None,
    )


def foreign_apply(cluster: Cluster, manager: str, path: str, body: dict[str, object]) -> None:
    """Another tool (kubectl edit, an operator) applies a field with its own manager."""
    req = urllib.request.Request(
        f"{cluster.url}{path}?fieldManager={manager}&force=true",
        data=json.dumps(body).encode(),
        method="PATCH",
        headers={"Content-Type": "application/apply-patch+yaml"},
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert resp.status in (200, 201)


def test_first_plan_adds_everything_then_apply_converges_to_no_changes(
    emu: Layout, cluster: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    first = plan(emu)
    assert [(str(o.ref), o.action) for o in first.objects] == [
        ("Namespace/authentik", "add"),
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
    assert cluster.get("configmaps", "pgbouncer-config") is None  # a plan changes nothing

    apply(emu)
    second = plan(emu)
    assert second.summary() == "Plan: 0 to add, 0 to change, 0 to destroy."
    assert not second.has_changes
    # The emulator's Kyverno-like policy added dnsConfig ndots: ignored, not fought.
    live = cluster.get("deployments", "pgbouncer", api_version="apps/v1")
    assert live is not None
    assert live["spec"]["template"]["spec"]["dnsConfig"]["options"] == [
        {"name": "ndots", "value": "2"}
    ]
    assert CANARY not in capsys.readouterr().out


def test_apply_sends_server_side_apply_with_our_manager_and_dry_run_for_plans(
    emu: Layout, cluster: Cluster
) -> None:
    apply(emu)
    real = [a for a in cluster.api.apply_log if "dryRun" not in a["params"]]
    assert len(real) == 8
    seen = len(cluster.api.apply_log)
    plan(emu)  # the namespace exists now: every object is dry-run
    dry = cluster.api.apply_log[seen:]
    assert len(dry) == 8 and all(a["params"].get("dryRun") == "All" for a in dry)
    for a in cluster.api.apply_log:
        assert a["content_type"] == "application/apply-patch+yaml"
        assert a["params"]["fieldManager"] == "akops"
        assert "force" not in a["params"]
    patches = cluster.requests("PATCH")
    assert patches and all(
        r.headers["Content-Type"] == "application/apply-patch+yaml" for r in patches
    )


def test_secret_is_sent_as_data_with_the_real_value_and_never_printed(
    emu: Layout, cluster: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    text = plan(emu).to_text(verbose=True)
    assert "data[userlist.txt]: (sensitive value) added" in text
    apply(emu)
    secret = cluster.get("secrets", "pgbouncer-auth")
    assert secret is not None
    assert "stringData" not in secret
    assert base64.b64decode(secret["data"]["userlist.txt"]).decode() == f'"authentik" "{CANARY}"\n'
    out = capsys.readouterr().out
    assert CANARY not in text + out
    assert base64.b64encode(CANARY.encode()).decode()[:12] not in text + out


def test_changed_secret_value_is_a_masked_change(
    emu: Layout, cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply(emu)
    monkeypatch.setenv("AKOPS_EMU_POSTGRES_PASSWORD", CANARY + "-rotated")
    result = plan(emu)
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
    emu: Layout, cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply(emu)
    # An operator ran `kubectl rollout restart` once: that manager owns the annotation now.
    foreign_apply(
        cluster,
        "kubectl-rollout",
        "/apis/apps/v1/namespaces/authentik/deployments/pgbouncer",
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "pgbouncer"},
            "spec": {
                "template": {"metadata": {"annotations": {RESTARTED_AT: "2026-06-10T09:00:00Z"}}}
            },
        },
    )
    assert not plan(emu).has_changes
    before = cluster.get("deployments", "pgbouncer", api_version="apps/v1")
    assert before is not None

    rotated = CANARY + "-rotated"
    monkeypatch.setenv("AKOPS_EMU_POSTGRES_PASSWORD", rotated)
    planned = plan(emu)
    text = planned.to_text()
    assert [str(r.ref) for r in planned.restarts] == ["Deployment/pgbouncer"]
    assert "~ Deployment/pgbouncer will be restarted: Secret/pgbouncer-auth changed" in text
    assert planned.summary() == "Plan: 0 to add, 1 to change, 0 to destroy."

    lines: list[str] = []
    deploy.apply_env(emu, ApplyRequest(env=ENV, skip_helm=True, yes=True), out=lines.append)
    said = "\n".join(lines)
    assert "~ Deployment/pgbouncer will be restarted: Secret/pgbouncer-auth changed" in said
    assert "restarted Deployment/pgbouncer (rolling): Secret/pgbouncer-auth changed" in said
    assert "Rollout complete: pgbouncer 2/2." in said
    after = cluster.get("deployments", "pgbouncer", api_version="apps/v1")
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
    restarts = [a for a in cluster.api.apply_log if a["params"]["fieldManager"] == "akops-restart"]
    assert len(restarts) == 1 and restarts[0]["params"].get("force") == "true"
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

    again = plan(emu)
    assert again.restarts == ()
    assert again.summary() == "Plan: 0 to add, 0 to change, 0 to destroy."


def test_a_secret_change_with_a_new_pod_template_rolls_once(
    emu: Layout, cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply(emu)
    monkeypatch.setenv("AKOPS_EMU_POSTGRES_PASSWORD", CANARY + "-rotated")
    template = emu.templates / "pgbouncer" / "deployment.yaml.j2"
    template.write_text(
        template.read_text().replace(
            "timeoutSeconds: {{ p.readiness.timeout }}", "timeoutSeconds: 4"
        )
    )
    planned = plan(emu)
    assert planned.restarts == ()  # the changed template replaces every pod anyway
    assert "will be restarted" not in planned.to_text()
    apply(emu)
    live = cluster.get("deployments", "pgbouncer", api_version="apps/v1")
    assert live is not None
    assert RESTARTED_AT not in live["spec"]["template"]["metadata"]["annotations"]


def test_changed_template_shows_exactly_that_field(emu: Layout, cluster: Cluster) -> None:
    apply(emu)
    template = emu.templates / "pgbouncer" / "deployment.yaml.j2"
    template.write_text(
        template.read_text().replace("revisionHistoryLimit: 5", "revisionHistoryLimit: 7")
    )
    result = plan(emu)
    changed = [o for o in result.objects if o.action != "none"]
    assert [str(o.ref) for o in changed] == ["Deployment/pgbouncer"]
    assert changed[0].changes == (FieldChange(("spec", "revisionHistoryLimit"), "~", 5, 7),)
    assert "    ~ spec.revisionHistoryLimit: 5 → 7" in result.to_text()
    assert result.summary() == "Plan: 0 to add, 1 to change, 0 to destroy."


def test_removed_field_shows_as_removed(emu: Layout, cluster: Cluster) -> None:
    apply(emu)
    template = emu.templates / "pgbouncer" / "deployment.yaml.j2"
    template.write_text(template.read_text().replace("  revisionHistoryLimit: 5\n", ""))
    result = plan(emu)
    dep = next(o for o in result.objects if o.ref.kind == "Deployment")
    assert dep.changes == (FieldChange(("spec", "revisionHistoryLimit"), "-", 5, None),)


def test_removed_template_is_planned_as_destroy_and_prune_deletes_it(
    emu: Layout, cluster: Cluster
) -> None:
    apply(emu)
    (emu.templates / "pgbouncer" / "pdb.yaml.j2").unlink()
    result = plan(emu)
    assert result.refs("destroy") == [
        r for r in result.refs("destroy") if str(r) == "PodDisruptionBudget/pgbouncer"
    ]
    assert len(result.refs("destroy")) == 1
    assert "- PodDisruptionBudget/pgbouncer will be destroyed" in result.to_text()
    assert result.summary() == "Plan: 0 to add, 0 to change, 1 to destroy."

    apply(emu)  # without --prune the object stays
    assert cluster.get("poddisruptionbudgets", "pgbouncer", api_version="policy/v1") is not None
    apply(emu, prune=True)
    assert cluster.get("poddisruptionbudgets", "pgbouncer", api_version="policy/v1") is None
    assert not plan(emu).has_changes


def test_objects_without_our_manager_are_never_destroyed(emu: Layout, cluster: Cluster) -> None:
    apply(emu)
    # Same labels, but applied by someone else: not ours to delete.
    foreign_apply(
        cluster,
        "helm",
        "/api/v1/namespaces/authentik/configmaps/other",
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "other",
                "namespace": "authentik",
                "labels": {"app.kubernetes.io/managed-by": "akops", "akops.io/stack": "authentik"},
            },
            "data": {"a": "b"},
        },
    )
    assert plan(emu).refs("destroy") == []


def test_conflict_names_the_other_manager_and_force_takes_over(
    emu: Layout, cluster: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    apply(emu)
    foreign_apply(
        cluster,
        "kubectl-edit",
        "/apis/apps/v1/namespaces/authentik/deployments/pgbouncer",
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "pgbouncer"},
            "spec": {"replicas": 5},
        },
    )
    with pytest.raises(ConflictError) as planned:
        plan(emu)
    assert "kubectl-edit" in str(planned.value)
    with pytest.raises(ConflictError) as applied:
        apply(emu)
    message = str(applied.value)
    assert message.startswith(
        "Deployment/pgbouncer: fields owned by another field manager (kubectl-edit)"
    )
    assert ".spec.replicas" in message and "--force-conflicts" in message
    assert applied.value.exit_code == 1
    assert CANARY not in message + capsys.readouterr().out

    apply(emu, force=True)
    live = cluster.get("deployments", "pgbouncer", api_version="apps/v1")
    assert live is not None and live["spec"]["replicas"] == 2
    assert not plan(emu).has_changes


def test_partial_failure_reports_what_was_applied_and_what_was_not(
    emu: Layout, cluster: Cluster
) -> None:
    cluster.fail("PATCH", "/deployments/pgbouncer$", 422, real_only=True)
    with pytest.raises(RejectedError) as failed:
        apply(emu)
    assert failed.value.exit_code == 1
    message = str(failed.value)
    assert message.startswith("Deployment/pgbouncer: the API answered 422: injected 422")
    assert (
        "; applied: Namespace/authentik, ConfigMap/pgbouncer-config, Secret/pgbouncer-auth, "
        "ServiceAccount/goauthentik-server;" in message
    )
    assert message.endswith(
        "not applied: Deployment/pgbouncer, NetworkPolicy/pgbouncer, "
        "PodDisruptionBudget/pgbouncer, Service/pgbouncer"
    )
    assert cluster.get("configmaps", "pgbouncer-config") is not None
    assert cluster.get("services", "pgbouncer") is None
