"""Calling the Kubernetes REST API with plain dicts, and turning its refusals into our errors.

Rule: I/O. One function, ``call``, sends a request through the client from
``akops.cluster.connect`` (so it inherits the deadline and retries) and returns the
decoded JSON. Non-2xx answers become ``ClusterError`` (``ConflictError`` for 409)
naming the object and the API's own message, with resolved secrets masked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from akops.errors import ClusterError, ConflictError, RejectedError
from akops.errors import NotFound as NotFound  # re-exported: callers catch it from here too
from akops.secrets import Secrets

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

APPLY_PATCH = "application/apply-patch+yaml"
MANAGER_RE = re.compile(r'conflicts? with "([^"]+)"')


def conflict_managers(message: str) -> list[str]:
    """The other field managers a server-side apply conflict names, in order of mention."""
    out: list[str] = []
    for m in MANAGER_RE.findall(message):
        if m not in out:
            out.append(m)
    return out


def _status_message(raw: bytes) -> tuple[str, str]:
    try:
        doc = json.loads(raw or b"{}")
    except ValueError:
        return raw.decode("utf-8", "replace").strip()[:300], ""
    if not isinstance(doc, dict):
        return str(doc)[:300], ""
    message = str(doc.get("message") or doc.get("reason") or "")
    causes = (doc.get("details") or {}).get("causes") or []
    extra = "; ".join(
        str(c.get("message", "")) + (f" ({c['field']})" if c.get("field") else "") for c in causes
    )
    return message, extra


def error_for(status: int, raw: bytes, what: str, secrets: Secrets) -> ClusterError:
    """The error for a non-2xx answer about ``what`` (``Deployment/pgbouncer``)."""
    message, causes = _status_message(raw)
    text = message if not causes or causes in message else f"{message}: {causes}"
    text = secrets.mask(" ".join(text.split()))
    if status == 404:
        # e.g. 'namespaces "authentik" not found' when an apply targets a missing namespace
        return NotFound(f"{what}: not found ({text})" if text else f"{what}: not found")
    if status == 409:
        managers = conflict_managers(f"{message} {causes}")
        owners = f" ({', '.join(managers)})" if managers else ""
        return ConflictError(
            f"{what}: fields owned by another field manager{owners}: {secrets.mask(message)}",
            "pass --force-conflicts to take them over",
        )
    if status in (400, 422):
        return RejectedError(f"{what}: the API answered {status}: {text}")
    # 401/403 (credentials, RBAC) and 5xx after retries: could not run.
    return ClusterError(f"{what}: the API answered {status}: {text}")


def call(
    api: ApiClient,
    method: str,
    path: str,
    *,
    what: str,
    query: Iterable[tuple[str, str]] = (),
    body: Any = None,
    content_type: str = "application/json",
    secrets: Secrets | None = None,
) -> dict[str, Any]:
    """Send one request; the decoded JSON answer, or an error naming ``what``."""
    headers = {"Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = content_type
    request = api.param_serialize(
        method=method,
        resource_path=path,
        query_params=list(query),
        header_params=headers,
        body=body,
        auth_settings=["BearerToken"],
    )
    response = api.call_api(*request)
    raw = response.read() or b""  # type: ignore[no-untyped-call]
    if not 200 <= response.status < 300:
        raise error_for(response.status, raw, what, secrets or Secrets())
    try:
        doc = json.loads(raw) if raw else {}
    except ValueError as e:
        raise ClusterError(f"{what}: the API answered something that is not JSON") from e
    return doc if isinstance(doc, dict) else {"value": doc}


def text(api: ApiClient, path: str, *, what: str, query: Iterable[tuple[str, str]] = ()) -> str:
    """GET a plain-text resource (pod logs)."""
    request = api.param_serialize(
        method="GET",
        resource_path=path,
        query_params=list(query),
        header_params={"Accept": "*/*"},
        auth_settings=["BearerToken"],
    )
    response = api.call_api(*request)
    raw = response.read() or b""  # type: ignore[no-untyped-call]
    if not 200 <= response.status < 300:
        raise error_for(response.status, raw, what, Secrets())
    return bytes(raw).decode("utf-8", "replace")
