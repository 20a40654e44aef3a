"""Waiting for Deployments to converge: a watch, a live display, and a fast fail.

Rule: I/O. Deployments are watched (not polled with sleeps) in slices of a few
seconds; between slices and after each event the pods of every Deployment still
rolling are checked once, and a container stuck in CrashLoopBackOff,
ImagePullBackOff or CreateContainerConfigError stops the wait at once, with the
pod's recent events and last log lines (masked) printed above the error.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from akops.cluster.call import NotFound, call, text
from akops.cluster.convergence import PodFailure, Progress, pod_failures, progress, selector_string
from akops.cluster.objects import KINDS
from akops.errors import ClusterError, RolloutFailed
from akops.secrets import Secrets

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

SLICE = 5.0  # seconds per watch request: how often pods are checked without events
LOG_LINES = 20
EVENTS = 8


def table(states: dict[str, Progress | None]) -> Table:
    t = Table(title="rollout", title_justify="left", expand=False)
    for col in ("deployment", "desired", "updated", "ready", "available", "state"):
        t.add_column(
            col, justify="right" if col in ("desired", "updated", "ready", "available") else "left"
        )
    for name, p in states.items():
        if p is None:
            t.add_row(name, "-", "-", "-", "-", "not seen yet")
        else:
            style = "green" if p.converged else "yellow"
            t.add_row(
                name,
                str(p.desired),
                str(p.updated),
                str(p.ready),
                str(p.available),
                f"[{style}]{p.describe()}[/{style}]",
            )
    return t


def _state(p: Progress | None) -> str:
    return p.describe() if p else "not seen yet"


def _event_object(event: Any) -> dict[str, Any]:
    obj = event.get("object") if isinstance(event, dict) else None
    if isinstance(obj, str | bytes):
        obj = json.loads(obj)
    return obj if isinstance(obj, dict) else {}


def _pod_details(
    api: ApiClient, namespace: str, failure: PodFailure, secrets: Secrets
) -> list[str]:
    lines = [
        f"pod {failure.pod}, container {failure.container}: {failure.reason} {failure.message}".rstrip()
    ]
    try:
        events = call(
            api,
            "GET",
            f"/api/v1/namespaces/{namespace}/events",
            what=f"events of pod {failure.pod}",
            query=[("fieldSelector", f"involvedObject.name={failure.pod}")],
        )
        items = [
            e
            for e in events.get("items") or []
            if (e.get("involvedObject") or {}).get("name") == failure.pod
        ]
        lines.append("  events:")
        for e in items[-EVENTS:]:
            lines.append(
                f"    {e.get('type', '')} {e.get('reason', '')}: {' '.join(str(e.get('message', '')).split())}"
            )
        if not items:
            lines.append("    (none)")
    except ClusterError as e:
        lines.append(f"  events: unavailable ({e})")
    log_path = f"/api/v1/namespaces/{namespace}/pods/{failure.pod}/log"
    query = [("container", failure.container), ("tailLines", str(LOG_LINES))]
    try:
        try:
            # A crash-looping container's useful lines are in the instance that died.
            log = text(
                api, log_path, what=f"logs of {failure.pod}", query=[*query, ("previous", "true")]
            )
        except ClusterError:
            log = text(api, log_path, what=f"logs of {failure.pod}", query=query)
        lines.append(f"  last {LOG_LINES} log lines:")
        lines.extend(f"    {ln}" for ln in log.splitlines()[-LOG_LINES:])
    except ClusterError as e:
        lines.append(f"  logs: unavailable ({e})")
    return [secrets.mask(ln) for ln in lines]


def _check_pods(api: ApiClient, namespace: str, deployment: dict[str, Any]) -> list[PodFailure]:
    selector = selector_string(deployment)
    if not selector:
        return []
    pods = call(
        api,
        "GET",
        f"/api/v1/namespaces/{namespace}/pods",
        what=f"pods of Deployment/{deployment['metadata']['name']}",
        query=[("labelSelector", selector)],
    )
    wanted = dict(kv.split("=", 1) for kv in selector.split(","))
    items = [
        p
        for p in pods.get("items") or []
        if all(
            ((p.get("metadata") or {}).get("labels") or {}).get(k) == v for k, v in wanted.items()
        )
    ]
    return pod_failures(items)


def wait_for(
    api: ApiClient,
    namespace: str,
    names: Sequence[str],
    *,
    timeout: float,
    console: Console | None = None,
    secrets: Secrets | None = None,
    slice_seconds: float = SLICE,
) -> list[Progress]:
    """Watch ``names`` until all converge; RolloutFailed on a fatal pod state or the deadline."""
    from kubernetes import client, watch
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError as Urllib3Error

    console = console or Console()
    secrets = secrets or Secrets()
    apps = client.AppsV1Api(api)
    deadline = time.monotonic() + timeout
    states: dict[str, Progress | None] = dict.fromkeys(names)
    objects: dict[str, dict[str, Any]] = {}
    path = KINDS["Deployment"].collection(namespace)
    for name in names:
        try:
            objects[name] = call(api, "GET", f"{path}/{name}", what=f"Deployment/{name}")
        except NotFound as e:
            raise RolloutFailed(f"Deployment/{name} not found in namespace {namespace}") from e
        states[name] = progress(objects[name])
    said: dict[str, str] = {}

    def report(live: Live) -> None:
        live.update(table(states))
        if not console.is_terminal:  # CI logs: one line per state change instead of redraws
            for name, p in states.items():
                line = _state(p)
                if said.get(name) != line:
                    said[name] = line
                    console.print(f"rollout: Deployment/{name}: {line}")

    def pending() -> list[str]:
        return [n for n, p in states.items() if p is None or not p.converged]

    last_pod_check = 0.0
    with Live(
        table(states), console=console, auto_refresh=console.is_terminal, transient=False
    ) as live:
        report(live)
        while pending():
            if time.monotonic() - last_pod_check >= 1.0:
                last_pod_check = time.monotonic()
                for name in pending():
                    failures = _check_pods(api, namespace, objects[name])
                    if failures:
                        first = failures[0]
                        live.stop()
                        for ln in _pod_details(api, namespace, first, secrets):
                            console.print(ln, markup=False, highlight=False)
                        raise RolloutFailed(
                            f"Deployment/{name}: pod {first.pod} container {first.container} is in "
                            f"{first.reason}; rollout stopped (events and logs above)"
                        )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                waiting = ", ".join(f"{n} ({_state(states[n])})" for n in pending())
                raise RolloutFailed(f"rollout did not converge within {timeout:g}s: {waiting}")
            window = max(1.0, min(slice_seconds, remaining))
            w: Any = watch.Watch()  # type: ignore[no-untyped-call]
            try:
                for event in w.stream(
                    apps.list_namespaced_deployment,
                    namespace,
                    timeout_seconds=int(window),
                    deserialize=False,
                    _request_timeout=(window, window),
                ):
                    obj = _event_object(event)
                    name = str((obj.get("metadata") or {}).get("name"))
                    if name in states and event.get("type") in ("ADDED", "MODIFIED"):
                        objects[name] = obj
                        states[name] = progress(obj)
                        report(live)
                    if not pending() or time.monotonic() - last_pod_check >= window:
                        w.stop()
            except Urllib3Error:
                pass  # the read window ended without events: check pods, watch again
            except ApiException as e:
                raise ClusterError(
                    f"watching Deployments in {namespace}: {e.status} {e.reason}"
                ) from e
        report(live)
    return [p for p in states.values() if p is not None]
