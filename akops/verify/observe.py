"""Observing for the checks: the I/O half of each non-exec check, one reader per ``Read``.

Rule: I/O. The checks declare what they read and judge it purely (``Observation`` in
``akops.verify.checks.<family>``); here each ``Read`` is read: from the Kubernetes API
through ``akops.cluster.call`` (the client of ``akops.cluster.connect``, so every request
has the environment's deadline and bounded retries; the API's plain dicts), by HTTP
(``verify.fetch``), through PgBouncer (``verify.query``) or from Prometheus
(``akops.alerts.query``). ``outcome`` reads a probe and hands what it read to the check's
verdict; a reader that cannot read gives the failure itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from akops import names
from akops.cluster.call import call
from akops.errors import CallTimeout, ClusterError, NotFound, QueryError
from akops.verify.check import Answer, Observation, Probe, Read, Sources
from akops.verify.results import Outcome, errored, failed

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

    from akops.alerts.firing import ActiveAlert
    from akops.environment import Environment
    from akops.verify.query import IdleTransaction


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


# --- the readers: one per ``Read`` ---------------------------------------------------------
# I/O: the integration tests prove them against the real services. ``left`` bounds this read
# (the check's timeout, less what earlier reads of a settling check took); messages name the
# check's whole timeout, ``src.timeout``.


def _answer(probe: Probe, src: Sources, left: float) -> Answer:
    if probe.kind == "api":  # no route from here: through the API server's service proxy
        a = probe.args
        return service_get(src.api, a["namespace"], a["service"], a["port"], a["path"])
    from akops.verify import fetch

    return fetch.get(probe.args["url"], left)


def _deployment(probe: Probe, src: Sources, left: float) -> dict[str, Any] | None:
    return deployment(src.api, probe.args["namespace"], probe.args["name"])


def _pdb(probe: Probe, src: Sources, left: float) -> dict[str, Any] | None:
    return pdb(src.api, probe.args["namespace"], probe.args["name"])


def _pods(probe: Probe, src: Sources, left: float) -> list[dict[str, Any]]:
    a = probe.args
    selectors = a["selectors"] if "selectors" in a else (a["selector"],)
    return [pod for sel in selectors for pod in pods(src.api, a["namespace"], sel)]


def _idle_transactions(probe: Probe, src: Sources, left: float) -> list[IdleTransaction] | Outcome:
    from akops.verify import query

    assert src.credentials is not None
    a = probe.args
    try:
        return query.idle_transactions(a["address"], src.credentials, a["max_seconds"], left)
    except QueryError as e:
        return failed(f"query through PgBouncer failed: {e}")


def _pools(probe: Probe, src: Sources, left: float) -> list[dict[str, object]] | Outcome:
    from akops.verify import query

    creds = src.credentials
    assert creds is not None
    try:
        return query.pools(probe.args["address"], creds, left)
    except CallTimeout:
        return failed(f"no answer within {src.timeout:g}s (PgBouncer console)")
    except QueryError as e:
        if "not allowed" in str(e):
            return errored(
                f"PgBouncer refused SHOW POOLS to {creds.user}: "
                "add it to stats_users in pgbouncer.ini"
            )
        return failed(f"PgBouncer console failed: {e}")


def _alerts(probe: Probe, src: Sources, left: float) -> tuple[ActiveAlert, ...] | Outcome:
    from akops.alerts import query

    fetched = query.active_alerts(probe.args["url"], left)
    if fetched.error is not None:
        return failed(f"cannot read alerts from {fetched.url}: {fetched.error}")
    return fetched.alerts


READERS: Mapping[Read, Callable[[Probe, Sources, float], Any]] = {
    "answer": _answer,
    "deployment": _deployment,
    "pdb": _pdb,
    "pods": _pods,
    "idle-transactions": _idle_transactions,
    "pools": _pools,
    "alerts": _alerts,
}


def outcome(observation: Observation, probe: Probe, src: Sources) -> Outcome:
    """Read ``probe`` and judge what was read. A failing verdict of an observation that
    settles is read again (every quarter of ``settle``) until it clears or has persisted for
    ``settle`` seconds (at most half the timeout): only a failure that persists stands."""
    read = READERS[observation.read]
    settle = observation.settle
    start = time.monotonic()
    left = src.timeout
    while True:
        seen = read(probe, src, left)
        if isinstance(seen, Outcome):  # nothing was read: the reader says why
            return seen
        verdict = observation.judge(seen, probe)
        waited = time.monotonic() - start
        if verdict.ok or not settle or waited + settle / 4 > min(settle, src.timeout / 2):
            return verdict
        time.sleep(settle / 4)
        left = max(0.5, src.timeout - (time.monotonic() - start))


def image_drift(api: ApiClient, env: Environment) -> tuple[str, ...]:
    """Containers of the stack's pods that run another image than ``env`` pins, one line
    each: what ``invoke plan`` shows, from ``images.pinned``'s own targets and comparison."""
    from akops.verify.checks import images
    from akops.verify.probes import roles

    found: list[str] = []
    for _, args in images.targets(env, roles(env)):
        found += images.drifted(pods(api, args["namespace"], args["selector"]), args)
    return tuple(found)
