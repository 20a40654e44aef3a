"""Reading the stack's state from the Kubernetes API: pods by label, Deployments, PDBs.

Rule: I/O through ``akops.cluster.call`` (the client of ``akops.cluster.connect``, so
every request has the environment's deadline and bounded retries). Returns the API's
plain dicts; the verdicts on them are pure (``akops.verify.checks``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from akops import names
from akops.cluster.call import call
from akops.errors import ClusterError, NotFound
from akops.verify.check import Answer

if TYPE_CHECKING:
    from kubernetes.client import ApiClient


def pods(api: ApiClient, namespace: str, selector: str) -> list[dict[str, Any]]:
    doc = call(
        api,
        "GET",
        f"/api/v1/namespaces/{namespace}/pods",
        what=f"pods {selector}",
        query=[("labelSelector", selector)],
    )
    return list(doc.get("items") or [])


def fake_nodes(api: ApiClient, nodes: Iterable[str]) -> set[str] | None:
    """Which of ``nodes`` are kwok's fake nodes (``names.KWOK_NODE_ANNOTATION``): their pods
    have no containers. None when a node cannot be read (RBAC may not allow it): unknown."""
    fake = set()
    for node in sorted(set(nodes)):
        try:
            doc = call(api, "GET", f"/api/v1/nodes/{quote(node)}", what=f"node {node}")
        except (NotFound, ClusterError):
            return None
        annotations = (doc.get("metadata") or {}).get("annotations") or {}
        if annotations.get(names.KWOK_NODE_ANNOTATION) == names.KWOK_NODE:
            fake.add(node)
    return fake


def deployment(api: ApiClient, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        return call(
            api,
            "GET",
            f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}",
            what=f"Deployment/{name}",
        )
    except NotFound:
        return None


def pdb(api: ApiClient, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        return call(
            api,
            "GET",
            f"/apis/policy/v1/namespaces/{namespace}/poddisruptionbudgets/{name}",
            what=f"PodDisruptionBudget/{name}",
        )
    except NotFound:
        return None


def service_get(api: ApiClient, namespace: str, service: str, port: str, path: str) -> Answer:
    """GET ``path`` of a Service through the API server's proxy (no route from this machine)."""
    resource = (
        f"/api/v1/namespaces/{namespace}/services/{service}:{port}/proxy/{quote(path.lstrip('/'))}"
    )
    request = api.param_serialize(
        method="GET",
        resource_path=resource,
        header_params={"Accept": "*/*"},
        auth_settings=["BearerToken"],
    )
    shown = f"service {service}:{port}{path}"
    try:
        response: Any = api.call_api(*request)
        body = (response.read() or b"")[:4096].decode("utf-8", "replace")
    except Exception as e:  # the client raises urllib3 and its own errors; all mean "no answer"
        return Answer(shown, error=" ".join(str(e).split())[:200] or type(e).__name__)
    return Answer(
        shown, response.status, response.reason or "", response.getheader("Location"), body
    )
