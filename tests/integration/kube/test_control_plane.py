"""The local control plane behaves like the cluster where the stack depends on it.

Against the session's plane (``control_plane``): the release it reports, pods scheduled over
the four kwok nodes and Ready, topology spread, a PDB's status from the disruption controller,
EndpointSlices, garbage collection, RBAC and Pod Security admission. Waits poll the API with
a generous limit; nothing asserts how long anything took.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from akops.launch import NODES
from akops.tools.programs import KUBE_VERSION
from tests.integration.controlplane import require_workloads

pytestmark = pytest.mark.integration

T = TypeVar("T")
#: A limit for controllers to act on a loaded two-core machine (a wait, never a measurement).
PATIENCE = 180.0


def eventually(what: str, probe: Callable[[], T | None], limit: float = PATIENCE) -> T:
    """Poll ``probe`` until it returns something truthy; fail naming ``what`` at the limit."""
    deadline = time.monotonic() + limit
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {limit:g}s", pytrace=False)
        time.sleep(0.5)


def spread_deployment(namespace: str, replicas: int) -> dict[str, Any]:
    labels = {"app": "spread"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "spread", "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "registry.example/app:1",
                            "ports": [{"containerPort": 8080}],
                            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
                        }
                    ],
                    "topologySpreadConstraints": [
                        {
                            "maxSkew": 1,
                            "topologyKey": "kubernetes.io/hostname",
                            "whenUnsatisfiable": "DoNotSchedule",
                            "labelSelector": {"matchLabels": labels},
                        }
                    ],
                },
            },
        },
    }


def test_the_plane_is_the_pinned_release_with_four_ready_nodes(
    control_plane: Any, kube_api: Any
) -> None:
    from kubernetes import client

    if control_plane.binaries == "built from tools/go":
        assert control_plane.version == KUBE_VERSION
        info = client.VersionApi(kube_api).get_code()
        assert (info.git_version, info.major, info.minor) == (KUBE_VERSION, "1", "33")
    require_workloads(control_plane)
    nodes = client.CoreV1Api(kube_api).list_node().items
    assert sorted(n.metadata.name for n in nodes) == list(NODES)
    for node in nodes:
        ready = {c.type: c.status for c in node.status.conditions}["Ready"]
        assert ready == "True", node.metadata.name
        assert not node.spec.taints  # the stack's pods carry no kwok toleration


def test_a_deployment_spreads_over_the_nodes_and_its_pods_become_ready(
    control_plane: Any, kube_api: Any, fresh_namespace: str
) -> None:
    from kubernetes import client

    require_workloads(control_plane)
    apps, core = client.AppsV1Api(kube_api), client.CoreV1Api(kube_api)
    policy, discovery = client.PolicyV1Api(kube_api), client.DiscoveryV1Api(kube_api)
    ns = fresh_namespace
    apps.create_namespaced_deployment(ns, spread_deployment(ns, 4))
    policy.create_namespaced_pod_disruption_budget(
        ns,
        {
            "metadata": {"name": "spread"},
            "spec": {"minAvailable": 3, "selector": {"matchLabels": {"app": "spread"}}},
        },
    )
    core.create_namespaced_service(
        ns,
        {
            "metadata": {"name": "spread"},
            "spec": {"selector": {"app": "spread"}, "ports": [{"port": 80, "targetPort": 8080}]},
        },
    )

    def available() -> Any:
        d = apps.read_namespaced_deployment("spread", ns)
        return d if (d.status.available_replicas or 0) == 4 else None

    deployment = eventually("4 available replicas", available)
    assert deployment.status.updated_replicas == 4
    pods = core.list_namespaced_pod(ns, label_selector="app=spread").items
    assert len(pods) == 4
    # The scheduler honoured the spread constraint: one pod per node.
    assert sorted(p.spec.node_name for p in pods) == list(NODES)
    for pod in pods:
        assert pod.status.phase == "Running"
        assert {c.type: c.status for c in pod.status.conditions}["Ready"] == "True"
        assert pod.metadata.owner_references[0].kind == "ReplicaSet"

    # The disruption controller computes the PDB's status from the Ready pods.
    def budget() -> Any:
        pdb = policy.read_namespaced_pod_disruption_budget("spread", ns)
        return pdb if pdb.status and pdb.status.current_healthy == 4 else None

    pdb = eventually("the PDB's status", budget)
    assert pdb.status.disruptions_allowed == 1

    # The EndpointSlice controller lists the four pods' addresses as ready.
    def endpoints() -> list[Any]:
        slices = discovery.list_namespaced_endpoint_slice(
            ns, label_selector="kubernetes.io/service-name=spread"
        ).items
        ready = [e for s in slices for e in s.endpoints or [] if e.conditions.ready]
        return ready if len(ready) == 4 else []

    ready = eventually("4 ready endpoints", endpoints)
    assert {e.target_ref.name for e in ready} == {p.metadata.name for p in pods}

    # Garbage collection: the Deployment's ReplicaSet and pods go with it.
    apps.delete_namespaced_deployment("spread", ns, propagation_policy="Background")
    eventually(
        "the ReplicaSet and pods collected",
        lambda: (
            not apps.list_namespaced_replica_set(ns).items
            and not core.list_namespaced_pod(ns).items
        ),
    )


def test_rbac_refuses_a_user_without_bindings(kube_api: Any, fresh_namespace: str) -> None:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    impersonating = client.ApiClient(kube_api.configuration)
    impersonating.set_default_header("Impersonate-User", "akops-test-nobody")
    with pytest.raises(ApiException) as refused:
        client.CoreV1Api(impersonating).list_namespaced_pod(fresh_namespace)
    assert refused.value.status == 403
    # The operator (system:masters) may.
    client.CoreV1Api(kube_api).list_namespaced_pod(fresh_namespace)


def test_pod_security_admission_enforces_a_namespace_label(
    kube_api: Any, fresh_namespace: str
) -> None:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    core = client.CoreV1Api(kube_api)
    pod = {
        "metadata": {"name": "plain"},
        "spec": {"containers": [{"name": "app", "image": "registry.example/app:1"}]},
    }
    core.create_namespaced_pod(fresh_namespace, pod, dry_run="All")  # no label: admitted
    core.patch_namespace(
        fresh_namespace,
        {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted"}}},
    )
    with pytest.raises(ApiException) as refused:
        core.create_namespaced_pod(fresh_namespace, pod, dry_run="All")
    assert refused.value.status == 403
    message = json.loads(refused.value.body)["message"]
    assert 'violates PodSecurity "restricted:latest"' in message
