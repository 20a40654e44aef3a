"""Waiting for Deployments to converge: a watch, a live display, and a fast fail.

Rule: I/O. Deployments are listed, then watched from the listed resourceVersion (not
polled with sleeps) in slices of a few seconds; between slices and after each event the
pods of every Deployment still rolling are checked once. The wait ends early only for a
verdict that waiting cannot change: a container stuck in CrashLoopBackOff,
ImagePullBackOff or CreateContainerConfigError, or the controller's own
ProgressDeadlineExceeded. A watch that stalls, drops or expires (410), and any API
error while waiting, only costs a re-list: the apply already happened, so the wait goes
on until the rollout deadline. At the deadline (and on a fast fail) the pods that are
not ready are shown with their recent events and last log lines, masked.
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
from akops.cluster.convergence import (
    PodFailure,
    Progress,
    not_ready,
    pod_failures,
    progress,
    selector_string,
    stalled,
)
from akops.cluster.objects import KINDS
from akops.errors import ClusterError, RolloutFailed
from akops.secrets import Secrets

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

SLICE = 5.0  # seconds per watch request: how often pods are checked without events
LOG_LINES = 20
EVENTS = 8
SHOWN_PODS = 3  # not-ready pods detailed at the deadline (the rest are counted)
RELIST_BACKOFF = 1.0  # seconds between re-lists while the API does not answer


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


def _pods(api: ApiClient, namespace: str, deployment: dict[str, Any]) -> list[dict[str, Any]]:
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
    return [
        p
        for p in pods.get("items") or []
        if all(
            ((p.get("metadata") or {}).get("labels") or {}).get(k) == v for k, v in wanted.items()
        )
    ]


def _explain_not_ready(
    api: ApiClient,
    namespace: str,
    deployments: Sequence[dict[str, Any]],
    console: Console,
    secrets: Secrets,
) -> None:
    """Print the not-ready pods of ``deployments`` with events and logs (best effort)."""
    for deployment in deployments:
        name = deployment["metadata"]["name"]
        try:
            waiting = not_ready(_pods(api, namespace, deployment))
        except ClusterError as e:
            console.print(f"Deployment/{name}: pods unavailable ({e})", markup=False)
            continue
        for failure in waiting[:SHOWN_PODS]:
            for ln in _pod_details(api, namespace, failure, secrets):
                console.print(ln, markup=False, highlight=False)
        if len(waiting) > SHOWN_PODS:
            console.print(
                f"Deployment/{name}: {len(waiting) - SHOWN_PODS} more pod(s) not ready",
                markup=False,
            )


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
    """Watch ``names`` until all converge.

    Raises RolloutFailed on a fatal pod state, ProgressDeadlineExceeded or the deadline;
    ClusterError only when the Deployments cannot be read at the start, or the API has not
    answered since the last re-list when the deadline comes (the outcome is then unknown).
    """
    from kubernetes import client, watch
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError as Urllib3Error
    from urllib3.exceptions import ReadTimeoutError

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

    def seen(obj: dict[str, Any], live: Live) -> None:
        name = str((obj.get("metadata") or {}).get("name"))
        if name in states:
            objects[name] = obj
            states[name] = progress(obj)
            report(live)

    def fail(live: Live, message: str, names: Sequence[str]) -> RolloutFailed:
        live.stop()
        _explain_not_ready(api, namespace, [objects[n] for n in names], console, secrets)
        return RolloutFailed(message)

    last_pod_check = 0.0
    resource_version: str | None = None  # None: (re-)list before the next watch
    outage: str | None = None  # why the API stopped answering, while it does not
    with Live(
        table(states), console=console, auto_refresh=console.is_terminal, transient=False
    ) as live:
        report(live)
        while pending():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                if outage is not None:
                    live.stop()
                    raise ClusterError(
                        f"rollout outcome unknown after {timeout:g}s: the API stopped answering "
                        f"({outage}); check with `invoke rollout`"
                    )
                waiting = ", ".join(f"{n} ({_state(states[n])})" for n in pending())
                raise fail(
                    live,
                    f"rollout did not converge within {timeout:g}s: {waiting} "
                    "(pods not ready, their events and logs above)",
                    pending(),
                )
            stuck = [(n, why) for n in pending() if (why := stalled(objects[n]))]
            if stuck:
                name, why = stuck[0]
                raise fail(
                    live,
                    f"Deployment/{name}: ProgressDeadlineExceeded: {why}; rollout stopped "
                    "(pods not ready, their events and logs above)",
                    [name],
                )
            try:
                if time.monotonic() - last_pod_check >= 1.0:
                    last_pod_check = time.monotonic()
                    for name in pending():
                        failures = pod_failures(_pods(api, namespace, objects[name]))
                        if failures:
                            first = failures[0]
                            live.stop()
                            for ln in _pod_details(api, namespace, first, secrets):
                                console.print(ln, markup=False, highlight=False)
                            raise RolloutFailed(
                                f"Deployment/{name}: pod {first.pod} container {first.container} "
                                f"is in {first.reason}; rollout stopped (events and logs above)"
                            )
                if resource_version is None:
                    listed = call(api, "GET", path, what=f"Deployments in {namespace}")
                    for obj in listed.get("items") or []:
                        seen(obj, live)
                    resource_version = str((listed.get("metadata") or {}).get("resourceVersion"))
                    if outage is not None:
                        console.print("rollout: the API answers again; watching", markup=False)
                        outage = None
                    continue
                window = max(1.0, min(slice_seconds, remaining))
                w: Any = watch.Watch()  # type: ignore[no-untyped-call]
                for event in w.stream(
                    apps.list_namespaced_deployment,
                    namespace,
                    resource_version=resource_version,
                    allow_watch_bookmarks=True,
                    timeout_seconds=int(window),
                    deserialize=False,
                    _request_timeout=(window, window),
                ):
                    kind = event.get("type")
                    obj = _event_object(event)
                    if kind == "ERROR":  # 410 Gone: our resourceVersion is too old
                        resource_version = None
                        w.stop()
                        break
                    rv = (obj.get("metadata") or {}).get("resourceVersion")
                    if rv:
                        resource_version = str(rv)
                    if kind in ("ADDED", "MODIFIED"):
                        seen(obj, live)
                    if not pending() or time.monotonic() - last_pod_check >= window:
                        w.stop()
            except ReadTimeoutError:
                # A window without a byte: quiet, or a watch that stalled. Either way the next
                # round re-lists and watches again from the listed version.
                resource_version = None
            except (Urllib3Error, ApiException, ClusterError, ValueError) as e:
                # A stalled or dropped watch, an expired version, an API that does not answer
                # for a while: re-list and watch again until the deadline, never give up early.
                reason = _drop_reason(e)
                if outage is None:
                    console.print(
                        f"rollout: watch interrupted ({reason}); re-listing", markup=False
                    )
                outage = reason
                resource_version = None
                time.sleep(min(RELIST_BACKOFF, max(0.0, deadline - time.monotonic())))
        report(live)
    return [p for p in states.values() if p is not None]


def _drop_reason(e: BaseException) -> str:
    status = getattr(e, "status", None)
    if status is not None:
        return f"{status} {getattr(e, 'reason', '')}".strip()
    return " ".join(str(e).split())[:120] or type(e).__name__
