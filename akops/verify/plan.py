"""The plan of a verify run: which check runs against which target, with which arguments.

Rule: pure. From an environment, the selected checks, the pods resolved by label (for
the cluster target) and the operator's overrides, build the list of ``Probe``s. A probe
is one row of the final table. Exec probes name a testinfra host spec
(``kubectl://POD?namespace=…&container=…`` or ``local://``); the runner batches the
exec probes of one host into one exec.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlencode, urlsplit

from akops.environment import Environment
from akops.errors import InputError
from akops.verify.catalogue import CheckSpec
from akops.verify.verdicts import PdbExpectation

TargetKind = Literal["cluster", "local"]
Kind = Literal["exec", "http", "api", "db", "skip", "absent"]

READY = "/-/health/ready/"
LIVE = "/-/health/live/"
CONFIG = "/api/v3/root/config/"
FLOW = "/api/v3/flows/executor/default-authentication-flow/?query="
PING = "/outpost.goauthentik.io/ping"


@dataclass(frozen=True)
class Role:
    """A kind of pod the checks exec into, found by its label selector."""

    name: str
    selector: str
    container: str


def roles(env: Environment) -> dict[str, Role]:
    outpost = env.authentik.outpost
    return {
        "server": Role(
            "server",
            "app.kubernetes.io/name=authentik,app.kubernetes.io/component=server",
            "server",
        ),
        "worker": Role(
            "worker",
            "app.kubernetes.io/name=authentik,app.kubernetes.io/component=worker",
            "worker",
        ),
        "pgbouncer": Role("pgbouncer", "app=pgbouncer", "pgbouncer"),
        "outpost": Role(
            "outpost", f"goauthentik.io/outpost-name={outpost.name}", outpost.container
        ),
    }


@dataclass(frozen=True)
class Pod:
    """A running pod to exec into."""

    name: str
    namespace: str
    container: str
    node: str | None = None

    def spec(self, context: str | None = None) -> str:
        query = {"namespace": self.namespace, "container": self.container}
        if context:
            query["context"] = context
        return f"kubectl://{self.name}?{urlencode(query)}"


LOCAL = "local://"


@dataclass(frozen=True)
class Options:
    """Operator overrides. For the local target these are the addresses of the services."""

    url: str | None = None
    outpost_url: str | None = None
    pgbouncer: str | None = None
    shm: str | None = None
    protected: tuple[str, ...] | None = None
    timeout: float | None = None
    deadline: float | None = None


@dataclass(frozen=True)
class Probe:
    check: str
    target: str
    kind: Kind
    host: str | None = None
    args: Mapping[str, Any] = field(default_factory=dict)
    converges: bool = False


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


def _shown(url: str) -> str:
    """A URL without its scheme, for the table (the JSON report keeps it whole)."""
    return url.split("://", 1)[-1]


def _loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


def build(
    env: Environment,
    checks: Sequence[CheckSpec],
    target: TargetKind,
    options: Options,
    pods: Mapping[str, Sequence[Pod]] | None = None,
    context: str | None = None,
    credentials: str | None = None,
) -> tuple[Probe, ...]:
    """Every probe of the run. ``credentials`` is why the database checks cannot run, if so."""
    local = env.verify.local
    ns = env.kube.namespace
    settings = env.pgbouncer.settings
    pods = pods or {}
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
    pgb_host, pgb_port = split_address(pgb) if pgb else ("", 0)
    auth_host = urlsplit(base).hostname or ""
    chart = env.authentik.chart
    role = roles(env)

    def exec_targets(*names: str) -> list[tuple[str, str | None]]:
        """(shown name, host spec) per pod; a role without pods gives (role, None): a failure."""
        if target == "local":
            return [("local", LOCAL)]
        found: list[tuple[str, str | None]] = []
        for n in names:
            found.extend((p.name, p.spec(context)) for p in pods.get(n, ()))
            if not pods.get(n):
                found.append((f"({n} pods)", None))
        return found

    def exec_probe(cid: str, shown: str, host: str | None, args: dict[str, Any]) -> Probe:
        if host is None:
            name = shown.split(" ", 1)[0].strip("(")
            why = f"no ready {name} pod matches {role[name].selector}"
            return Probe(cid, shown, "absent", args={"why": why})
        return Probe(cid, shown, "exec", host, args)

    out: list[Probe] = []
    for spec in checks:
        cid = spec.id
        if target == "local" and spec.scope == "cluster":
            continue
        add = out.append
        if cid == "rollout.converged":
            for name in (
                chart.server,
                chart.worker,
                "pgbouncer",
                env.authentik.outpost.deployment,
            ):
                add(
                    Probe(
                        cid,
                        f"Deployment/{name}",
                        "api",
                        args={"namespace": ns, "name": name},
                        converges=True,
                    )
                )
        elif cid == "rollout.pods":
            selectors = tuple(r.selector for r in role.values())
            add(
                Probe(
                    cid,
                    f"namespace/{ns}",
                    "api",
                    args={"namespace": ns, "selectors": selectors},
                    converges=True,
                )
            )
        elif cid == "spread.replicas":
            expected = {
                "server": env.authentik.server.replicas,
                "worker": env.authentik.worker.replicas,
                "pgbouncer": env.pgbouncer.replicas,
            }
            for name, replicas in expected.items():
                args = {"namespace": ns, "selector": role[name].selector, "expected": replicas}
                add(Probe(cid, name, "api", args=args, converges=True))
        elif cid == "pdb.budget":
            wants = (
                PdbExpectation(chart.server, min_available=env.authentik.server.pdb_min_available),
                PdbExpectation(
                    chart.worker, max_unavailable=env.authentik.worker.pdb_max_unavailable
                ),
                PdbExpectation("pgbouncer", min_available=env.pgbouncer.pdb_min_available),
            )
            for want in wants:
                add(
                    Probe(
                        cid,
                        f"PDB/{want.name}",
                        "api",
                        args={"namespace": ns, "want": want},
                        converges=True,
                    )
                )
        elif cid in ("http.ready", "http.live", "http.config", "http.flow"):
            path = {
                "http.ready": READY,
                "http.live": LIVE,
                "http.config": CONFIG,
                "http.flow": FLOW,
            }[cid]
            add(Probe(cid, _shown(base + path), "http", args={"url": base + path}))
        elif cid == "http.outpost-ping":
            if outpost:
                add(Probe(cid, _shown(outpost + PING), "http", args={"url": outpost + PING}))
            else:
                svc = env.authentik.outpost.deployment
                args = {"namespace": ns, "service": svc, "port": "http", "path": PING}
                add(Probe(cid, f"service/{svc}{PING}", "api", args=args))
        elif cid == "http.forward-auth":
            if not protected:
                add(Probe(cid, "(none)", "skip", args={"why": "no protected services configured"}))
            for url in protected:
                add(Probe(cid, url, "http", args={"url": url, "auth_host": auth_host}))
        elif cid == "pgbouncer.reachable":
            if target == "local":
                if not pgb:
                    add(
                        Probe(
                            cid, "local", "skip", args={"why": "no PgBouncer address (--pgbouncer)"}
                        )
                    )
                    continue
                address = (pgb_host, pgb_port)
            else:
                address = (
                    "pgbouncer",
                    settings.listen_port,
                )  # the Service, as Authentik reaches it
            for name, host in exec_targets("server"):
                args = {"address": f"{address[0]}:{address[1]}"}
                add(exec_probe(cid, f"{name} -> {address[0]}:{address[1]}", host, args))
        elif cid == "pgbouncer.listening":
            if target == "local" and not (pgb and _loopback(pgb_host)):
                add(Probe(cid, "local", "skip", args={"why": "PgBouncer is not on this machine"}))
                continue
            port = pgb_port if target == "local" else settings.listen_port
            for name, host in exec_targets("pgbouncer"):
                add(exec_probe(cid, f"{name}:{port}", host, {"port": port}))
        elif cid == "shm.usage":
            for name, host in exec_targets("outpost", "server"):
                args = {"path": shm, "threshold": env.verify.shm_threshold}
                add(exec_probe(cid, f"{name}:{shm}", host, args))
        elif cid in ("db.idle-in-transaction", "db.pool-waiting"):
            where = pgb or "PgBouncer"
            if not pgb:
                why = "no PgBouncer address from this machine (--pgbouncer, e.g. after kubectl port-forward)"
                add(Probe(cid, where, "skip", args={"why": why}))
            elif credentials:
                add(Probe(cid, where, "skip", args={"why": credentials}))
            elif cid == "db.idle-in-transaction":
                args = {"address": pgb, "max_seconds": env.verify.idle_in_transaction_max_seconds}
                add(Probe(cid, where, "db", args=args))
            else:
                add(Probe(cid, where, "db", args={"address": pgb}))
        else:  # pragma: no cover - the catalogue and this function change together
            raise AssertionError(f"no plan for check {cid}")
    return tuple(out)
