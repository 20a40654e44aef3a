"""``pgbouncer.*``: PgBouncer reachable from the Authentik server pods, listening in its own,
and out of reach of a pod its NetworkPolicy keeps out (the outpost's proxy).

Rule: pure. All are exec checks: a shell command (quoted with ``commands.sh``) run in
each pod, batched by the runner, and a verdict on its output and exit code.
"""

from __future__ import annotations

import re

from akops import names
from akops.verify.check import Check, Probe, Shell, Subject, last_line, skip
from akops.verify.commands import ExecResult, sh
from akops.verify.results import Outcome, errored, failed, passed

# --- commands --------------------------------------------------------------------------------


def tcp_connect(host: str, port: int, timeout: float) -> str:
    """Connect and close: ``nc -z`` when the image has it, else bash's ``/dev/tcp``."""
    seconds = max(1, round(timeout))
    probe = "bash -c 'exec 3<>\"/dev/tcp/$0/$1\"' %s %s"
    return sh(
        "if command -v nc >/dev/null 2>&1; then nc -z -w %s %s %s; "
        "elif command -v bash >/dev/null 2>&1; then "
        f"if command -v timeout >/dev/null 2>&1; then timeout %s {probe}; else {probe}; fi; "
        "else echo 'neither nc nor bash in this container' >&2; exit 127; fi",
        *(seconds, host, port),
        *(seconds, host, port),
        *(host, port),
    )


def listening_sockets() -> str:
    # /proc is there in every container, unlike ss, netstat or lsof.
    return "cat /proc/net/tcp /proc/net/tcp6 2>/dev/null"


# --- verdicts --------------------------------------------------------------------------------


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


# How a connection a NetworkPolicy stops ends: refused (a REJECT), timed out (a DROP), or
# unreachable (an ICMP reject). `nc -z` says nothing at all when its connect fails.
_BLOCKED = re.compile(
    r"connection refused|timed out|timeout|no route to host|unreachable", re.IGNORECASE
)
# A name that does not resolve proves nothing about the policy.
_UNRESOLVED = re.compile(
    r"name or service not known|bad address|could not resolve|unknown host|"
    r"temporary failure in name resolution|getaddrinfo|invalid argument",
    re.IGNORECASE,
)


def isolated(result: ExecResult, address: str) -> Outcome:
    """A pod that must not reach PgBouncer: refused or timing out passes, connecting fails."""
    out = result.output
    if result.rc == 0:
        return failed(
            f"TCP connect to {address} succeeded: this pod can reach PgBouncer "
            "(is the NetworkPolicy applied, and does the CNI enforce it?)"
        )
    if result.rc == 127:
        return errored(f"cannot test {address}: {last_line(out) or 'no nc or bash'}")
    if result.rc == 124:
        return passed(f"TCP connect to {address} timed out: blocked")
    if _UNRESOLVED.search(out):
        return errored(f"cannot resolve {address}, which proves nothing: {last_line(out)}")
    if _BLOCKED.search(out) or not out:
        how = last_line(out) or f"connect failed, exit {result.rc}"
        return passed(f"TCP connect to {address} blocked: {how}")
    return errored(f"TCP connect to {address} failed for another reason: {last_line(out)}")


# --- probes ----------------------------------------------------------------------------------


def _loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


def _reachable_probes(cid: str, s: Subject) -> list[Probe]:
    if s.target == "local":
        if not s.pgbouncer:
            return [skip(cid, "local", "no PgBouncer address (--pgbouncer)")]
        address = s.pgbouncer
    else:  # the Service, as Authentik reaches it
        address = f"{names.PGBOUNCER}:{s.env.pgbouncer.settings.listen_port}"
    return s.exec_probes(cid, ("server",), lambda pod: f"{pod} -> {address}", {"address": address})


def _isolated_probes(cid: str, s: Subject) -> list[Probe]:
    policy = s.env.pgbouncer.network_policy
    if not policy.enabled:
        return [skip(cid, "outpost", f"no NetworkPolicy in this environment: {policy.waiver}")]
    address = f"{names.PGBOUNCER}:{s.env.pgbouncer.settings.listen_port}"
    return s.exec_probes(cid, ("outpost",), lambda pod: f"{pod} -> {address}", {"address": address})


def _listening_probes(cid: str, s: Subject) -> list[Probe]:
    if s.target == "local" and not (s.pgbouncer and _loopback(s.pgbouncer_host)):
        return [skip(cid, "local", "PgBouncer is not on this machine")]
    port = s.pgbouncer_port if s.target == "local" else s.env.pgbouncer.settings.listen_port
    return s.exec_probes(cid, ("pgbouncer",), lambda pod: f"{pod}:{port}", {"port": port})


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


CHECKS = (
    Check(
        "pgbouncer.reachable",
        "TCP connect to PgBouncer succeeds from each Authentik server pod",
        "any",
        probes=_reachable_probes,
        shell=Shell(
            lambda a, t: tcp_connect(*_host_port(a["address"]), t),
            lambda r, a: reachable(r, a["address"]),
        ),
        roles=("server",),
    ),
    Check(
        "pgbouncer.isolated",
        "TCP connect to PgBouncer is refused or times out from each outpost pod (its "
        "NetworkPolicy is enforced, not only present)",
        "cluster",
        probes=_isolated_probes,
        shell=Shell(
            lambda a, t: tcp_connect(*_host_port(a["address"]), t),
            lambda r, a: isolated(r, a["address"]),
        ),
        roles=("outpost",),
    ),
    Check(
        "pgbouncer.listening",
        "PgBouncer listens on its port inside each PgBouncer pod",
        "any",
        probes=_listening_probes,
        shell=Shell(lambda a, t: listening_sockets(), lambda r, a: listening(r, a["port"])),
        roles=("pgbouncer",),
    ),
)
