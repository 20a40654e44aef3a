"""What the real API server does where the old emulator (harness/emulator.py) did otherwise.

Each test drives akops' own edge (``akops.cluster.apply`` / ``call``) against kube-apiserver
1.33 and asserts what an operator depends on: server-side apply merges ``containers`` by
name; a conflict names the field by its key and the manager that owns it, a ``kubectl edit``
included; Leases refuse unconditional updates; a stale ``resourceVersion`` is a conflict, in an
apply and in a delete's preconditions (which prune now sends). The emulator treated lists as
atomic, reported conflicts at ``.spec.template.spec.containers``, recorded no managedFields for
patches, answered a Lease PUT without resourceVersion with 409 and ignored preconditions.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from akops import names
from akops.cluster.apply import Ledger, apply_objects, get, plan_objects, server_apply
from akops.cluster.call import call
from akops.cluster.objects import Manifest, Ref, ref_of
from akops.cluster.plan import ObjectPlan
from akops.errors import ConflictError, RejectedError
from akops.secrets import Secrets

pytestmark = pytest.mark.integration

NONE = Secrets()
STRATEGIC = "application/strategic-merge-patch+json"


def deployment(namespace: str, *containers: tuple[str, str], replicas: int = 1) -> dict[str, Any]:
    """A Deployment of ours (labels, selector) with ``containers`` as (name, image)."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace, "labels": names.ours("web")},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": n, "image": i} for n, i in containers]},
            },
        },
    }


def containers(live: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["image"] for c in live["spec"]["template"]["spec"]["containers"]}


def owners(live: dict[str, Any]) -> dict[str, str]:
    """manager -> operation, from managedFields."""
    return {e["manager"]: e["operation"] for e in live["metadata"]["managedFields"]}


def test_a_container_another_manager_added_survives_our_apply(
    kube_api: Any, fresh_namespace: str
) -> None:
    ours = deployment(fresh_namespace, ("app", "registry.example/app:1"))
    server_apply(kube_api, ours, dry_run=False, force=False, secrets=NONE)
    # A sidecar injector applies only its own container, under its own name, forced.
    sidecar = copy.deepcopy(ours)
    sidecar["metadata"] = {"name": "web", "namespace": fresh_namespace}
    sidecar["spec"] = {
        "template": {"spec": {"containers": [{"name": "proxy", "image": "proxy.example/p:1"}]}}
    }
    server_apply(kube_api, sidecar, dry_run=False, force=True, secrets=NONE, manager="injector")

    live = get(kube_api, ref_of(ours))
    assert live is not None
    # Merged by name: the emulator replaced the whole list and lost "app".
    assert containers(live) == {"app": "registry.example/app:1", "proxy": "proxy.example/p:1"}

    # Our next plan sees nothing to change, and our apply keeps the other manager's container.
    manifest = Manifest(ref_of(ours), ours, "test")
    (plan,) = plan_objects(kube_api, [manifest], fresh_namespace, NONE)
    assert plan.action == "none", plan.changes
    server_apply(kube_api, ours, dry_run=False, force=False, secrets=NONE)
    live = get(kube_api, ref_of(ours))
    assert live is not None
    assert set(containers(live)) == {"app", "proxy"}


def test_a_conflict_names_the_field_by_its_key_and_force_takes_it(
    kube_api: Any, fresh_namespace: str
) -> None:
    ours = deployment(fresh_namespace, ("a", "registry.example/a:1"), ("b", "registry.example/b:1"))
    server_apply(kube_api, ours, dry_run=False, force=False, secrets=NONE)
    other = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": fresh_namespace},
        "spec": {
            "template": {"spec": {"containers": [{"name": "b", "image": "registry.example/b:2"}]}}
        },
    }
    server_apply(kube_api, other, dry_run=False, force=True, secrets=NONE, manager="hotfix")
    changed = copy.deepcopy(ours)
    changed["spec"]["template"]["spec"]["containers"][1]["image"] = "registry.example/b:3"

    with pytest.raises(ConflictError) as refused:
        plan_objects(kube_api, [Manifest(ref_of(ours), changed, "test")], fresh_namespace, NONE)
    message = str(refused.value)
    # The field by its list key, not the emulator's ".spec.template.spec.containers".
    assert '.spec.template.spec.containers[name="b"].image' in message
    assert "(hotfix)" in message
    assert "--force-conflicts" in message

    server_apply(kube_api, changed, dry_run=False, force=True, secrets=NONE)
    live = get(kube_api, ref_of(ours))
    assert live is not None
    assert containers(live)["b"] == "registry.example/b:3"
    # The forced apply took the image field over; the other manager still shares the item (its
    # key), as it applied that too.
    (hotfix,) = [e for e in live["metadata"]["managedFields"] if e["manager"] == "hotfix"]
    item = hotfix["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"b"}']
    assert "f:image" not in item
    assert "f:name" in item


def test_a_kubectl_edit_takes_ownership_and_the_next_apply_names_it(
    kube_api: Any, fresh_namespace: str
) -> None:
    ours = deployment(fresh_namespace, ("app", "registry.example/app:1"), replicas=2)
    server_apply(kube_api, ours, dry_run=False, force=False, secrets=NONE)
    ref = ref_of(ours)
    # What `kubectl edit` sends: a strategic merge patch as field manager kubectl-edit.
    call(
        kube_api,
        "PATCH",
        ref.path,
        what=str(ref),
        query=[("fieldManager", "kubectl-edit")],
        body={"spec": {"replicas": 5}},
        content_type=STRATEGIC,
    )
    live = get(kube_api, ref)
    assert live is not None
    assert owners(live)["kubectl-edit"] == "Update"  # the emulator recorded nothing for a patch

    with pytest.raises(ConflictError) as refused:
        plan_objects(kube_api, [Manifest(ref, ours, "test")], fresh_namespace, NONE)
    assert "(kubectl-edit)" in str(refused.value)
    assert ".spec.replicas" in str(refused.value)


def config_map(namespace: str, **data: str) -> dict[str, Any]:
    """A ConfigMap of ours: no controller writes to it, so its resourceVersion moves only when
    a test moves it (a Deployment's moves with every status update of its controller)."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": namespace, "labels": names.ours("web")},
        "data": data,
    }


def test_a_plain_update_is_served(kube_api: Any, fresh_namespace: str) -> None:
    ours = config_map(fresh_namespace, mode="a")
    live = server_apply(kube_api, ours, dry_run=False, force=False, secrets=NONE)
    ref = ref_of(ours)
    live["data"]["mode"] = "b"
    # A PUT with the version read: served (the emulator answered 404 to any plain update).
    updated = call(kube_api, "PUT", ref.path, what=str(ref), body=live)
    assert updated["data"]["mode"] == "b"
    assert owners(updated)["akops"] == "Apply"


def _lease(namespace: str, holder: str, version: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "akops-test", "namespace": namespace}
    if version is not None:
        meta["resourceVersion"] = version
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": meta,
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": 60},
    }


def test_a_lease_update_without_resource_version_is_refused_as_invalid(
    kube_api: Any, fresh_namespace: str
) -> None:
    collection = f"/apis/coordination.k8s.io/v1/namespaces/{fresh_namespace}/leases"
    created = call(
        kube_api, "POST", collection, what="Lease", body=_lease(fresh_namespace, "first")
    )
    # Leases do not allow unconditional update: 422 (a RejectedError), not the emulator's 409.
    with pytest.raises(RejectedError, match="422") as refused:
        call(
            kube_api,
            "PUT",
            f"{collection}/akops-test",
            what="Lease",
            body=_lease(fresh_namespace, "second"),
        )
    assert not isinstance(refused.value, ConflictError)
    # With the version it was read at, the same update goes through; a second one with that
    # (now stale) version is the 409 the deploy lock's read-decide-write relies on.
    version = created["metadata"]["resourceVersion"]
    path = f"{collection}/akops-test"
    call(kube_api, "PUT", path, what="Lease", body=_lease(fresh_namespace, "second", version))
    with pytest.raises(ConflictError):
        call(kube_api, "PUT", path, what="Lease", body=_lease(fresh_namespace, "third", version))


def test_a_stale_resource_version_inside_an_apply_is_a_conflict(
    kube_api: Any, fresh_namespace: str
) -> None:
    ours = deployment(fresh_namespace, ("app", "registry.example/app:1"))
    first = server_apply(kube_api, ours, dry_run=False, force=False, secrets=NONE)
    stale = first["metadata"]["resourceVersion"]
    ours["spec"]["replicas"] = 2
    server_apply(kube_api, ours, dry_run=False, force=False, secrets=NONE)
    pinned = copy.deepcopy(ours)
    pinned["metadata"]["resourceVersion"] = stale
    pinned["spec"]["replicas"] = 3
    # The emulator accepted this; the real server refuses a write decided on an old read.
    with pytest.raises(ConflictError):
        server_apply(kube_api, pinned, dry_run=False, force=True, secrets=NONE)
    live = get(kube_api, ref_of(ours))
    assert live is not None
    assert live["spec"]["replicas"] == 2


def test_prune_deletes_only_the_version_it_planned(kube_api: Any, fresh_namespace: str) -> None:
    leftover = config_map(fresh_namespace, mode="a")
    server_apply(kube_api, leftover, dry_run=False, force=False, secrets=NONE)
    ref = ref_of(leftover)
    # The object left the stack: the plan destroys it, at the version it saw.
    (plan,) = plan_objects(kube_api, [], fresh_namespace, NONE)
    assert (plan.ref, plan.action) == (ref, "destroy")
    # Someone changes it between plan and apply.
    call(
        kube_api,
        "PATCH",
        ref.path,
        what=str(ref),
        query=[("fieldManager", "kubectl-edit")],
        body={"data": {"mode": "b"}},
        content_type=STRATEGIC,
    )

    with pytest.raises(ConflictError):
        apply_objects(kube_api, [], [plan], NONE, Ledger(), force=False, prune=True, log=str)
    assert get(kube_api, ref) is not None  # the emulator ignored the precondition and deleted it

    # Planned again (now at the current version), prune deletes it.
    (again,) = plan_objects(kube_api, [], fresh_namespace, NONE)
    apply_objects(kube_api, [], [again], NONE, Ledger(), force=False, prune=True, log=str)
    gone = get(kube_api, ref)
    assert gone is None or gone["metadata"].get("deletionTimestamp")


def test_a_namespace_that_does_not_exist_yet_is_planned_without_a_dry_run(
    kube_api: Any, fresh_namespace: str
) -> None:
    missing = f"{fresh_namespace}-new"
    body = deployment(missing, ("app", "registry.example/app:1"))
    ns = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": missing, "labels": names.ours("authentik")},
    }
    # The real server refuses even a dry run in a missing namespace (NamespaceLifecycle).
    with pytest.raises(Exception, match="not found"):
        server_apply(kube_api, body, dry_run=True, force=False, secrets=NONE)
    plans = plan_objects(
        kube_api,
        [Manifest(ref_of(ns), ns, "test"), Manifest(ref_of(body), body, "test")],
        missing,
        NONE,
    )
    assert [(str(p.ref), p.action) for p in plans] == [
        ("Namespace/" + missing, "add"),
        ("Deployment/web", "add"),
    ]
    assert isinstance(plans[0], ObjectPlan)
    assert Ref("Namespace", "", missing) == plans[0].ref
