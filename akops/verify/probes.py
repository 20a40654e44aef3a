"""The probes of a verify run: which check looks at which target, with which arguments.

Rule: pure. From an environment, the selected checks, the pods resolved by label (for
the cluster target) and the operator's overrides, resolve the ``Subject`` (addresses,
URLs, pods) once, then ask each check for its probes. A probe is one row of the final
table. Exec probes name a testinfra host spec (``kubectl://POD?namespace=…&container=…``
or ``local://``); the runner batches the exec probes of one host into one exec.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

from akops import names
from akops.environment import Environment
from akops.errors import InputError
from akops.verify.check import Check, Options, Pod, Probe, Role, Subject, TargetKind, skip


def roles(env: Environment) -> dict[str, Role]:
    """The kinds of pod the checks look at, by label selector, with the container to exec in."""
    outpost = env.authentik.outpost
    return {
        "server": Role("server", names.authentik_pods(names.SERVER), names.SERVER),
        "worker": Role("worker", names.authentik_pods(names.WORKER), names.WORKER),
        "pgbouncer": Role("pgbouncer", names.PGBOUNCER_PODS, names.PGBOUNCER),
        "outpost": Role("outpost", names.outpost_pods(outpost.name), outpost.container),
    }


def split_address(address: str, what: str = "--pgbouncer") -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(f"{what} {address!r}: expected HOST:PORT")
    return host, int(port)


def check_url(url: str, what: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"{what} {url!r}: expected an http(s) URL")
    return url.rstrip("/")


def subject(
    env: Environment,
    target: TargetKind,
    options: Options,
    pods: Mapping[str, Sequence[Pod]] | None = None,
    context: str | None = None,
    no_credentials: str | None = None,
    no_containers: str | None = None,
) -> Subject:
    """Resolve the targets once: the local block or the cluster's names, with the overrides."""
    local = env.verify.local
    if target == "local":
        base = check_url(options.url or local.url, "--url")
        outpost = check_url(options.outpost_url or local.outpost_url, "--outpost-url")
        protected = (
            options.protected if options.protected is not None else tuple(local.protected_services)
        )
        pgb = options.pgbouncer or local.pgbouncer
        shm = options.shm or local.shm
    else:
        base = check_url(options.url or f"https://{env.authentik.host}", "--url")
        outpost = check_url(options.outpost_url, "--outpost-url") if options.outpost_url else ""
        protected = (
            options.protected
            if options.protected is not None
            else tuple(env.verify.protected_services)
        )
        pgb = options.pgbouncer or ""
        shm = options.shm or "/dev/shm"
    for url in protected:
        check_url(url, "protected service")
    named = options.prometheus or (env.monitoring.prometheus_url if env.monitoring else None)
    prometheus = check_url(named, "--prometheus") if named else ""
    if pgb:
        split_address(pgb)
    return Subject(
        env=env,
        target=target,
        base=base,
        outpost=outpost,
        protected=tuple(protected),
        pgbouncer=pgb or "",
        shm=shm,
        roles=roles(env),
        pods=dict(pods or {}),
        context=context,
        no_credentials=no_credentials,
        prometheus=prometheus,
        no_containers=no_containers,
    )


def build(subject: Subject, checks: Sequence[Check]) -> tuple[Probe, ...]:
    """Every probe of the run, check by check (cluster-scope checks only on the cluster).

    Where the stack's pods have no containers (``Subject.no_containers``: kwok's fake nodes), a
    check that needs one is skipped, saying why, instead of failing on a missing process.
    """
    out: list[Probe] = []
    for check in checks:
        if subject.target == "local" and check.scope == "cluster":
            continue
        for p in check.plan(subject):
            if subject.no_containers and check.needs_container and p.kind != "skip":
                p = skip(p.check, p.target, subject.no_containers)
            out.append(p)
    return tuple(out)
