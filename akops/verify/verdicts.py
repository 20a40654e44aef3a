"""Verdicts: what the raw observations of each check mean.

Rule: pure. Every function takes parsed observations (command output, HTTP answers,
Kubernetes object states, database rows) and returns an ``Outcome`` whose detail is one
line an operator can act on: the figure, the threshold, the object at fault.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from akops.cluster.convergence import PodFailure, Progress
from akops.verify.commands import ExecResult
from akops.verify.results import Outcome, errored, failed, passed

# --- /dev/shm --------------------------------------------------------------------------


@dataclass(frozen=True)
class DiskUsage:
    filesystem: str
    size_kib: int
    used_kib: int
    available_kib: int
    percent: int
    mount: str


def parse_df(text: str) -> DiskUsage:
    """The data line of ``df -P`` (GNU or busybox). ``ValueError`` when there is none."""
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 6 and fields[4].endswith("%") and fields[1].isdigit():
            return DiskUsage(
                filesystem=fields[0],
                size_kib=int(fields[1]),
                used_kib=int(fields[2]),
                available_kib=int(fields[3]),
                percent=int(fields[4].rstrip("%")),
                mount=" ".join(fields[5:]),
            )
    raise ValueError("no data line in df -P output")


def human(kib: int) -> str:
    size = float(kib)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "KiB" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def shm_usage(result: ExecResult, path: str, threshold: int) -> Outcome:
    """Used % of ``path`` must be under ``threshold`` (the 2026-04-18 outage: 64 MB full)."""
    if result.rc != 0:
        return errored(f"df -P {path} failed (exit {result.rc}): {last_line(result.output)}")
    try:
        usage = parse_df(result.stdout)
    except ValueError:
        return errored(f"df -P {path}: unreadable output: {last_line(result.output)}")
    figure = f"{usage.percent}% used ({human(usage.used_kib)} of {human(usage.size_kib)})"
    if usage.percent >= threshold:
        where = "" if usage.mount == path else f" on {usage.mount}"
        return failed(f"{figure} >= threshold {threshold}%{where}")
    return passed(f"{figure} < {threshold}%")


# --- PgBouncer ports --------------------------------------------------------------------


def listening_ports(proc_net_tcp: str) -> set[int]:
    """Ports in state LISTEN (0A) in the text of ``/proc/net/tcp`` and ``/proc/net/tcp6``."""
    ports = set()
    for line in proc_net_tcp.splitlines():
        fields = line.split()
        if len(fields) > 3 and fields[0].endswith(":") and fields[3] == "0A":
            ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def listening(result: ExecResult, port: int) -> Outcome:
    ports = listening_ports(result.stdout)
    if not ports and result.rc != 0:
        return errored(f"cannot read /proc/net/tcp (exit {result.rc}): {last_line(result.output)}")
    if port in ports:
        return passed(f"port {port} is listening")
    shown = ", ".join(str(p) for p in sorted(ports)[:8]) or "none"
    return failed(f"nothing listens on port {port} (listening: {shown})")


def reachable(result: ExecResult, address: str) -> Outcome:
    if result.rc == 0:
        return passed(f"TCP connect to {address} succeeded")
    if result.rc == 127:
        return errored(f"cannot test {address}: {last_line(result.output) or 'no nc or bash'}")
    if result.rc == 124:
        return failed(f"TCP connect to {address} timed out")
    return failed(
        f"TCP connect to {address} failed: {last_line(result.output) or f'exit {result.rc}'}"
    )


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""


# --- HTTP -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """An HTTP answer (never following redirects), or why there was none."""

    url: str
    status: int | None = None
    reason: str = ""
    location: str | None = None
    body: str = ""
    error: str | None = None

    def describe(self) -> str:
        if self.status is None:
            return self.error or "no answer"
        text = f"{self.status} {self.reason}".strip()
        if self.location:
            text += f" -> {self.location}"
        return text


def _no_answer(answer: Answer) -> Outcome | None:
    if answer.status is None:
        return failed(answer.error or "no answer")
    return None


def health(answer: Answer, what: str) -> Outcome:
    """Health endpoints: any 2xx (older releases answer 204 where newer answer 200)."""
    if (bad := _no_answer(answer)) is not None:
        return bad
    assert answer.status is not None
    if 200 <= answer.status < 300:
        return passed(answer.describe())
    if answer.status == 503 and what == "ready":
        return failed(
            f"{answer.describe()}: Authentik is not ready (database or cache unreachable)"
        )
    if 300 <= answer.status < 400:
        return failed(f"{answer.describe()}: redirected instead of answering 2xx")
    return failed(f"{answer.describe()}: expected 2xx")


def config(answer: Answer) -> Outcome:
    if (bad := _no_answer(answer)) is not None:
        return bad
    if answer.status != 200:
        return failed(f"{answer.describe()}: expected 200")
    if '"capabilities"' not in answer.body:
        return failed('200 but the answer has no "capabilities": not the Authentik API?')
    return passed('200 with "capabilities"')


def flow(answer: Answer) -> Outcome:
    if (bad := _no_answer(answer)) is not None:
        return bad
    if answer.status in (200, 302):
        return passed(answer.describe())
    return failed(f"{answer.describe()}: expected 200 or 302")


def outpost_ping(answer: Answer) -> Outcome:
    if (bad := _no_answer(answer)) is not None:
        return bad
    if answer.status == 204:
        return passed(answer.describe())
    return failed(f"{answer.describe()}: expected 204")


REDIRECTS = frozenset({301, 302, 303, 307, 308})


def forward_auth(answer: Answer, auth_host: str) -> Outcome:
    """An anonymous request must be redirected to the Authentik host."""
    if (bad := _no_answer(answer)) is not None:
        return bad
    assert answer.status is not None
    if answer.status in REDIRECTS and answer.location:
        target = urlsplit(urljoin(answer.url, answer.location)).hostname or ""
        if target.lower() == auth_host.lower():
            return passed(f"{answer.status} -> {auth_host}")
        return failed(f"{answer.status} redirects to {target or answer.location}, not {auth_host}")
    if 200 <= answer.status < 300:
        return failed(f"{answer.status} to an anonymous request: not behind forward auth")
    return failed(f"{answer.describe()}: expected a redirect to {auth_host}")


# --- Kubernetes objects -----------------------------------------------------------------


def rollout(p: Progress) -> Outcome:
    """The shared definition of convergence (``akops.cluster.convergence``), with the figures."""
    if p.converged:
        return passed(
            "scaled to 0" if p.desired == 0 else f"{p.ready}/{p.desired} ready, all updated"
        )
    return failed(f"not converged: {p.describe()}")


def pods_healthy(failures: Sequence[PodFailure], pods: int) -> Outcome:
    if failures:
        shown = "; ".join(f"{f.pod}/{f.container}: {f.reason}" for f in failures[:5])
        more = f" (+{len(failures) - 5} more)" if len(failures) > 5 else ""
        return failed(f"{len(failures)} container(s) will not heal: {shown}{more}")
    return passed(f"{pods} pods, none crash-looping or failing to pull or configure")


@dataclass(frozen=True)
class PodState:
    name: str
    node: str | None
    ready: bool
    terminating: bool = False


def pod_state(pod: Mapping[str, Any]) -> PodState:
    """The parts of a Pod (as the API returns it) that spread and targeting need."""
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    conditions = status.get("conditions") or []
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    return PodState(
        name=str(meta.get("name")),
        node=(pod.get("spec") or {}).get("nodeName"),
        ready=ready and status.get("phase") == "Running",
        terminating=meta.get("deletionTimestamp") is not None,
    )


def spread(pods: Iterable[PodState], expected: int) -> Outcome:
    """``expected`` ready replicas on at least ``min(expected, 3)`` distinct nodes."""
    ready = [p for p in pods if p.ready and not p.terminating]
    nodes = {p.node for p in ready if p.node}
    need_nodes = min(expected, 3)
    figure = f"{len(ready)}/{expected} ready on {len(nodes)} node(s)"
    if len(ready) != expected:
        return failed(f"{figure}: expected {expected} ready replicas")
    if len(nodes) < need_nodes:
        return failed(
            f"{figure}: expected >= {need_nodes} distinct nodes ({', '.join(sorted(nodes))})"
        )
    return passed(figure)


@dataclass(frozen=True)
class PdbState:
    name: str
    min_available: str | None
    max_unavailable: str | None
    disruptions_allowed: int


def pdb_state(pdb: Mapping[str, Any]) -> PdbState:
    spec = pdb.get("spec") or {}
    status = pdb.get("status") or {}

    def text(v: object) -> str | None:
        return None if v is None else str(v)

    return PdbState(
        name=str((pdb.get("metadata") or {}).get("name")),
        min_available=text(spec.get("minAvailable")),
        max_unavailable=text(spec.get("maxUnavailable")),
        disruptions_allowed=int(status.get("disruptionsAllowed") or 0),
    )


@dataclass(frozen=True)
class PdbExpectation:
    name: str
    min_available: int | None = None
    max_unavailable: int | None = None

    def describe(self) -> str:
        if self.min_available is not None:
            return f"minAvailable {self.min_available}"
        return f"maxUnavailable {self.max_unavailable}"


def pdb_budget(state: PdbState | None, want: PdbExpectation) -> Outcome:
    if state is None:
        return failed(f"PDB {want.name} not found (expected {want.describe()})")
    have = (state.min_available, state.max_unavailable)
    expected = (
        None if want.min_available is None else str(want.min_available),
        None if want.max_unavailable is None else str(want.max_unavailable),
    )
    shown = f"minAvailable {have[0]}" if have[0] is not None else f"maxUnavailable {have[1]}"
    if have != expected:
        return failed(f"{shown}, expected {want.describe()}")
    if state.disruptions_allowed < 1:
        return failed(
            f"{shown} allows {state.disruptions_allowed} disruptions: a node drain would block"
        )
    return passed(f"{shown}, allows {state.disruptions_allowed} disruption(s)")


# --- database ---------------------------------------------------------------------------


@dataclass(frozen=True)
class IdleTransaction:
    pid: int
    user: str
    application: str
    age_seconds: float
    locks: int


def idle_in_transaction(rows: Sequence[IdleTransaction], max_seconds: int) -> Outcome:
    """Idle-in-transaction backends past ``max_seconds`` holding locks (the 2026-06-10 storm)."""
    if not rows:
        return passed(f"no idle-in-transaction backend older than {max_seconds}s holds locks")
    shown = "; ".join(
        f"pid {r.pid} ({r.user}{'/' + r.application if r.application else ''}, "
        f"{r.age_seconds:.0f}s, {r.locks} locks)"
        for r in rows[:5]
    )
    return failed(
        f"{len(rows)} idle-in-transaction backend(s) older than {max_seconds}s hold locks: {shown}"
    )


_ADMIN_DB = "pgbouncer"


def pool_waiting(pools: Sequence[Mapping[str, object]]) -> Outcome:
    """``SHOW POOLS`` rows: clients waiting for a server connection must be 0."""
    waiting = [
        (str(p.get("database")), str(p.get("user")), int(str(p.get("cl_waiting") or 0)))
        for p in pools
        if p.get("database") != _ADMIN_DB
    ]
    total = sum(w for _, _, w in waiting)
    if total:
        shown = ", ".join(f"{db}/{user}: {w}" for db, user, w in waiting if w)
        return failed(f"{total} client(s) waiting for a server connection ({shown})")
    return passed(f"0 clients waiting in {len(waiting)} pool(s)")
