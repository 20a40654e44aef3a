"""The tests' hands on the real control plane: read, write as another client, wait, inject faults.

``Plane`` pairs the session's control plane (``control_plane``, tests/integration/controlplane.py)
with one test's namespace and a ``harness.proxy.FaultProxy`` in front of the API server. The
code under test talks to the proxy (its kubeconfig points there), so a test can break the
network between them and see every request that was sent; the test's own reads and writes go
straight to the API server as the operator (``system:masters``), so they neither show up among
those requests nor meet the faults.

Writes by "another client" are what that client really sends: a server-side apply with its own
field manager (an operator's tool), a strategic merge patch as ``kubectl-edit`` or
``kubectl-scale``, a status update as the kubelet would send. Nothing here fabricates what a
controller owns: Deployments get their status, ReplicaSets and pods from the real controllers,
and kwok's nodes make the pods Running and Ready.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

from akops.cluster.call import call
from akops.errors import NotFound
from harness.proxy import FaultProxy, Seen

T = TypeVar("T")

APPLY = "application/apply-patch+yaml"
STRATEGIC = "application/strategic-merge-patch+json"
MERGE = "application/merge-patch+json"
LEASES = "/apis/coordination.k8s.io/v1/namespaces/{ns}/leases"
#: kwok's nodes on the plane (named like the real cluster's).
NODES = ("k8s-node1", "k8s-node2", "k8s-node3", "k8s-node4")
#: REST prefix of the API versions the tests read.
GROUPS = {"v1": "/api/v1"}


def collection(plural: str, namespace: str | None, api_version: str = "v1") -> str:
    prefix = GROUPS.get(api_version, f"/apis/{api_version}")
    if namespace is None:
        return f"{prefix}/{plural}"
    return f"{prefix}/namespaces/{quote(namespace)}/{plural}"


def eventually(what: Callable[[], T | None], timeout: float = 120.0, every: float = 0.2) -> T:
    """Poll ``what`` until it returns something truthy (a wait, never a timing assertion)."""
    deadline = time.monotonic() + timeout
    while True:
        found = what()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {timeout:g}s: {what}")
        time.sleep(every)


@dataclass
class Plane:
    """One test's view of the control plane (see the module docstring)."""

    api: Any  # kubernetes.client.ApiClient, as system:masters, straight to the API server
    proxy: FaultProxy
    namespace: str  # the stack's namespace of this test (created by the code under test)

    # --- reading ------------------------------------------------------------------------------

    def get(
        self, plural: str, name: str, namespace: str | None = None, api_version: str = "v1"
    ) -> dict[str, Any] | None:
        """The live object, or None (an object being deleted counts as gone)."""
        ns = self.namespace if namespace is None else namespace
        path = f"{collection(plural, ns or None, api_version)}/{quote(name)}"
        try:
            found: dict[str, Any] = call(self.api, "GET", path, what=f"{plural}/{name}")
        except NotFound:
            return None
        if (found.get("metadata") or {}).get("deletionTimestamp"):
            return None
        return found

    def deployment(self, name: str = "pgbouncer") -> dict[str, Any] | None:
        return self.get("deployments", name, api_version="apps/v1")

    def items(
        self, plural: str, selector: str = "", namespace: str | None = None, api_version: str = "v1"
    ) -> list[dict[str, Any]]:
        query = [("labelSelector", selector)] if selector else []
        doc = call(
            self.api,
            "GET",
            collection(plural, namespace or self.namespace, api_version),
            what=plural,
            query=query,
        )
        return list(doc.get("items") or [])

    def lease(self, name: str = "akops-deploy") -> dict[str, Any] | None:
        return self.get("leases", name, api_version="coordination.k8s.io/v1")

    # --- writing as another client -------------------------------------------------------------

    def create(self, body: dict[str, Any], plural: str, namespace: str | None = None) -> Any:
        api_version = body.get("apiVersion", "v1")
        path = collection(plural, namespace or self.namespace, api_version)
        return call(self.api, "POST", path, what=f"{body['kind']}", body=body)

    def apply_as(
        self,
        manager: str,
        body: dict[str, Any],
        plural: str,
        *,
        force: bool = True,
        namespace: str | None = None,
    ) -> dict[str, Any]:
        """A server-side apply by another field manager (an operator's tool)."""
        api_version = body.get("apiVersion", "v1")
        name = body["metadata"]["name"]
        path = f"{collection(plural, namespace or self.namespace, api_version)}/{quote(name)}"
        query = [("fieldManager", manager)] + ([("force", "true")] if force else [])
        result: dict[str, Any] = call(
            self.api,
            "PATCH",
            path,
            what=f"{body['kind']}/{name}",
            query=query,
            body=body,
            content_type=APPLY,
        )
        return result

    def edit_as(
        self,
        manager: str,
        plural: str,
        name: str,
        patch: dict[str, Any],
        *,
        api_version: str = "v1",
        subresource: str = "",
        content_type: str = STRATEGIC,
    ) -> dict[str, Any]:
        """What ``kubectl edit``/``scale``/``patch`` send: a patch recorded as ``Update`` by
        ``manager`` in managedFields (so the next apply meets a real conflict)."""
        path = f"{collection(plural, self.namespace, api_version)}/{quote(name)}"
        if subresource:
            path += f"/{subresource}"
        result: dict[str, Any] = call(
            self.api,
            "PATCH",
            path,
            what=f"{plural}/{name}",
            query=[("fieldManager", manager)],
            body=patch,
            content_type=content_type,
        )
        return result

    def put_lease(self, body: dict[str, Any]) -> dict[str, Any]:
        """Write a Lease as another deployer would have (created, or replaced at its version)."""
        ns = body["metadata"].get("namespace") or self.namespace
        body["metadata"]["namespace"] = ns
        base = LEASES.format(ns=ns)
        live = self.get("leases", body["metadata"]["name"], ns, "coordination.k8s.io/v1")
        if live is None:
            result: dict[str, Any] = call(self.api, "POST", base, what="Lease", body=body)
            return result
        body["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"]
        path = f"{base}/{body['metadata']['name']}"
        result = call(self.api, "PUT", path, what="Lease", body=body)
        return result

    def make_namespace(self, name: str | None = None, labels: dict[str, str] | None = None) -> str:
        """Create a namespace (the stack's by default) as the cluster's admin would."""
        name = name or self.namespace
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        if labels:
            body["metadata"]["labels"] = labels  # type: ignore[index]
        call(self.api, "POST", "/api/v1/namespaces", what=f"Namespace/{name}", body=body)
        return name

    def event(self, involved: dict[str, Any], reason: str, message: str) -> None:
        """An Event about ``involved`` as the kubelet would post it (type Warning)."""
        meta = involved["metadata"]
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": involved.get("apiVersion", "v1"),
                "kind": involved["kind"],
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta.get("uid", ""),
            },
            "type": "Warning",
            "reason": reason,
            "message": message,
            "source": {"component": "kubelet"},
            "count": 1,
        }
        self.create(body, "events", namespace=meta["namespace"])

    def pod_status(self, pod: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
        """Replace fields of a pod's status as its kubelet would (merge patch on ``/status``)."""
        meta = pod["metadata"]
        path = f"{collection('pods', meta['namespace'])}/{quote(meta['name'])}/status"
        result: dict[str, Any] = call(
            self.api,
            "PATCH",
            path,
            what=f"Pod/{meta['name']}",
            body={"status": status},
            content_type=STRATEGIC,
        )
        return result

    def label_nodes(self, key: str, value: str | None) -> None:
        """Label (with None: unlabel) kwok's four nodes as the cluster's admin would; a key of
        the test's own lets its pods (``gated_deployment``) wait until it says so."""
        for node in NODES:
            call(
                self.api, "PATCH", f"/api/v1/nodes/{node}", what=f"Node/{node}",
                body={"metadata": {"labels": {key: value}}}, content_type=MERGE,
            )  # fmt: skip

    def gate(self) -> str:
        """The node label key of this test's gate (see ``gated_deployment``)."""
        return f"akops-test/{self.namespace}"

    # --- waiting ------------------------------------------------------------------------------

    def converged(self, name: str = "pgbouncer") -> dict[str, Any] | None:
        """The Deployment once its controller reports the current spec rolled out, else None."""
        live = self.deployment(name)
        if live is None:
            return None
        spec, status = live["spec"], live.get("status") or {}
        want = spec.get("replicas", 1)
        done = (
            status.get("observedGeneration", 0) >= live["metadata"]["generation"]
            and status.get("updatedReplicas", 0) == want
            and status.get("availableReplicas", 0) == want
            and status.get("replicas", 0) == want
        )
        return live if done else None

    def pods(self, selector: str = "app=pgbouncer") -> list[dict[str, Any]]:
        return [
            p
            for p in self.items("pods", selector)
            if not (p.get("metadata") or {}).get("deletionTimestamp")
        ]

    # --- the network between the code under test and the API server ---------------------------

    def fail(self, method: str, path: str, status: int, times: int = 1, **kw: Any) -> Any:
        return self.proxy.fail(method, path, status, times, **kw)

    def requests(self, method: str | None = None, path: str | None = None) -> list[Seen]:
        return self.proxy.requests(method, path)

    def kubeconfig(self, context: str, current: str | None = None) -> dict[str, Any]:
        return self.proxy.kubeconfig(context, current)


def gated_deployment(
    gate: str, name: str = "pgbouncer", replicas: int = 2, **spec: Any
) -> dict[str, Any]:
    """A Deployment whose pods need nodes labelled ``gate=go``: until the test labels them
    (``Plane.label_nodes``), the real scheduler leaves the pods Pending and the rollout waits;
    then the pods land on kwok's nodes and become Ready, as any rollout does."""
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "nodeSelector": {gate: "go"},
                    "containers": [{"name": name, "image": "edoburu/pgbouncer:v1.24.1-p1"}],
                },
            },
            **spec,
        },
    }


def dump(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True)
