"""The checks themselves: one function per check ID, shared by both runners.

Rule: each function observes (through a testinfra host, an HTTP GET, the Kubernetes API
or a database query, all with timeouts) and hands the observation to a pure verdict.
``checks/`` (pytest) calls these one test at a time; ``akops.verify.run`` calls them
concurrently and, for exec checks, batches several into one exec per pod using the
``EXEC`` table (the command of each check and its verdict, separately).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from akops.cluster.convergence import pod_failures, progress
from akops.verify import bound, commands, fetch, observe, query, verdicts
from akops.verify.commands import ExecResult
from akops.verify.execute import run
from akops.verify.query import Credentials
from akops.verify.results import Outcome, errored, failed
from akops.verify.verdicts import PdbExpectation

if TYPE_CHECKING:
    import testinfra.host
    from kubernetes.client import ApiClient

# --- exec checks (inside pods, or on this machine) ---------------------------------------


@dataclass(frozen=True)
class ExecCheck:
    command: Callable[[Mapping[str, Any], float], str]
    judge: Callable[[ExecResult, Mapping[str, Any]], Outcome]


EXEC: dict[str, ExecCheck] = {
    "shm.usage": ExecCheck(
        lambda a, t: commands.df(a["path"]),
        lambda r, a: verdicts.shm_usage(r, a["path"], a["threshold"]),
    ),
    "pgbouncer.reachable": ExecCheck(
        lambda a, t: commands.tcp_connect(*_address(a["address"]), t),
        lambda r, a: verdicts.reachable(r, a["address"]),
    ),
    "pgbouncer.listening": ExecCheck(
        lambda a, t: commands.listening_sockets(),
        lambda r, a: verdicts.listening(r, a["port"]),
    ),
}


def _address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


def _exec(
    check: str, host: testinfra.host.Host, args: Mapping[str, Any], timeout: float
) -> Outcome:
    spec = EXEC[check]
    return spec.judge(run(host, spec.command(args, timeout)), args)


def _timeout_of(host: testinfra.host.Host) -> float:
    return float(getattr(host.backend, "timeout", 10.0))


def shm_usage(host: testinfra.host.Host, path: str, threshold: int) -> Outcome:
    """``df -P path`` on ``host``: used % under ``threshold``."""
    return _exec("shm.usage", host, {"path": path, "threshold": threshold}, _timeout_of(host))


def pgbouncer_reachable(host: testinfra.host.Host, address: str) -> Outcome:
    """TCP connect from ``host`` to ``address`` (HOST:PORT)."""
    return _exec("pgbouncer.reachable", host, {"address": address}, _timeout_of(host))


def pgbouncer_listening(host: testinfra.host.Host, port: int) -> Outcome:
    """Something on ``host`` listens on ``port``."""
    return _exec("pgbouncer.listening", host, {"port": port}, _timeout_of(host))


# --- HTTP checks -------------------------------------------------------------------------


def http_ready(url: str, timeout: float) -> Outcome:
    return verdicts.health(fetch.get(url, timeout), "ready")


def http_live(url: str, timeout: float) -> Outcome:
    return verdicts.health(fetch.get(url, timeout), "live")


def http_config(url: str, timeout: float) -> Outcome:
    return verdicts.config(fetch.get(url, timeout))


def http_flow(url: str, timeout: float) -> Outcome:
    return verdicts.flow(fetch.get(url, timeout))


def http_outpost_ping(url: str, timeout: float) -> Outcome:
    return verdicts.outpost_ping(fetch.get(url, timeout))


def forward_auth(url: str, auth_host: str, timeout: float) -> Outcome:
    return verdicts.forward_auth(fetch.get(url, timeout), auth_host)


HTTP: dict[str, Callable[..., Outcome]] = {
    "http.ready": http_ready,
    "http.live": http_live,
    "http.config": http_config,
    "http.flow": http_flow,
    "http.outpost-ping": http_outpost_ping,
    "http.forward-auth": forward_auth,
}

# --- Kubernetes API checks ---------------------------------------------------------------


def rollout_converged(api: ApiClient, namespace: str, name: str) -> Outcome:
    doc = observe.deployment(api, namespace, name)
    if doc is None:
        return failed(f"Deployment {name} not found in {namespace}")
    return verdicts.rollout(progress(doc))


def rollout_pods(api: ApiClient, namespace: str, selectors: tuple[str, ...]) -> Outcome:
    pods = [pod for selector in selectors for pod in observe.pods(api, namespace, selector)]
    return verdicts.pods_healthy(pod_failures(pods), len(pods))


def spread_replicas(api: ApiClient, namespace: str, selector: str, expected: int) -> Outcome:
    pods = observe.pods(api, namespace, selector)
    return verdicts.spread([verdicts.pod_state(p) for p in pods], expected)


def pdb_budget(api: ApiClient, namespace: str, want: PdbExpectation) -> Outcome:
    doc = observe.pdb(api, namespace, want.name)
    return verdicts.pdb_budget(None if doc is None else verdicts.pdb_state(doc), want)


def outpost_ping_via_api(
    api: ApiClient, namespace: str, service: str, port: str, path: str
) -> Outcome:
    return verdicts.outpost_ping(observe.service_get(api, namespace, service, port, path))


API: dict[str, Callable[..., Outcome]] = {
    "rollout.converged": rollout_converged,
    "rollout.pods": rollout_pods,
    "spread.replicas": spread_replicas,
    "pdb.budget": pdb_budget,
    "http.outpost-ping": outpost_ping_via_api,
}


def converge(observe: Callable[[], Outcome], deadline: float, interval: float = 2.0) -> Outcome:
    """``observe()`` again every ``interval`` s while it fails, until ``deadline`` s have passed
    (for pytest; the concurrent runner has the same loop and counts the attempts)."""
    start = time.monotonic()
    while True:
        outcome = observe()
        if outcome.ok or time.monotonic() - start + interval >= deadline:
            return outcome
        time.sleep(interval)


# --- database checks (through PgBouncer) -------------------------------------------------

SETTLE = 1.0


def idle_in_transaction(
    address: str, credentials: Credentials, max_seconds: int, timeout: float
) -> Outcome:
    try:
        rows = query.idle_transactions(address, credentials, max_seconds, timeout)
    except query.QueryError as e:
        return failed(f"query through PgBouncer failed: {e}")
    return verdicts.idle_in_transaction(rows, max_seconds)


def pool_waiting(address: str, credentials: Credentials, timeout: float) -> Outcome:
    """``cl_waiting`` summed over the pools, sampled again while it is not 0: a client is
    briefly counted as waiting while PgBouncer logs in to the server for it (this check's
    own neighbours included); only waiting that persists for ``SETTLE`` seconds fails."""
    start = time.monotonic()
    while True:
        try:
            pools = query.pools(
                address, credentials, max(0.5, timeout - (time.monotonic() - start))
            )
        except bound.CallTimeout:
            return failed(f"no answer within {timeout:g}s (PgBouncer console)")
        except query.QueryError as e:
            if "not allowed" in str(e):
                return errored(
                    f"PgBouncer refused SHOW POOLS to {credentials.user}: "
                    "add it to stats_users in pgbouncer.ini"
                )
            return failed(f"PgBouncer console failed: {e}")
        outcome = verdicts.pool_waiting(pools)
        waited = time.monotonic() - start
        if outcome.ok or waited + SETTLE / 4 > min(SETTLE, timeout / 2):
            return outcome
        time.sleep(SETTLE / 4)


DB: dict[str, Callable[..., Outcome]] = {
    "db.idle-in-transaction": idle_in_transaction,
    "db.pool-waiting": pool_waiting,
}
