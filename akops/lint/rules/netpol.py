"""NetworkPolicy by meaning: the stack's pods reach what they need and nothing else.

Rule: pure. A stack rule: the stack's pods (PgBouncer from its Deployment, Authentik's
server and worker from the chart, the embedded outpost with the labels Authentik gives
it) are placed in a small cluster (``StackWorld``) beside the peers the environment names
(Prometheus' namespace, the database's namespace, the cluster DNS) and a pod of no one in
particular, here and in another namespace. Every NetworkPolicy of the stack is evaluated
there (``akops.lint.reach``), and each connection the stack needs is asked about:

* Authentik's server and worker reach PgBouncer on its ``listen_port``;
* Prometheus' namespace reaches the exporter's port (with ``monitoring``);
* PgBouncer reaches the upstream's namespace on its port, and the DNS on 53 UDP and TCP;
* the outpost, another pod of the namespace and pods of other namespaces do not reach
  PgBouncer, and PgBouncer reaches nothing else (judged where a policy isolates it).

A wrong pod label, namespace selector or port in the policy is a refused connection the
stack needs, or an open one it forbids: an error naming the policy and the rule. What the
files alone cannot tell (``lint --path``: the monitoring namespace, the cluster's DNS) is
not judged; ``lint --env`` takes it from the environment.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from akops import names
from akops.lint.findings import Finding
from akops.lint.index import Index, located
from akops.lint.pgbouncer import connection_settings
from akops.lint.reach import (
    NAMESPACE_NAME_LABEL,
    Address,
    Cluster,
    Connection,
    Endpoint,
    NetworkIntent,
    Peer,
    Policy,
    endpoint,
    policy,
    ports_of,
    selects,
)
from akops.lint.registry import rule
from akops.lint.workloads import OUTPOST, SERVER, WORKER, Workload

#: A namespace of no one in particular, and an address outside the cluster (TEST-NET-3).
ELSEWHERE = "akops-probe-elsewhere"
INTERNET = "203.0.113.10"
DEFAULT_OUTPOST = "authentik-embedded-outpost"


def _ns(w: Workload, default: str) -> str:
    if w.from_values:
        return default  # the chart installs into the stack's namespace
    meta = w.source.data.get("metadata") if isinstance(w.source.data, dict) else None
    ns = meta.get("namespace") if isinstance(meta, dict) else None
    return str(ns) if ns else default


def _pod(w: Workload, default: str) -> Endpoint:
    containers = [{"ports": list(c.ports)} for c in (w.security.containers if w.security else ())]
    return endpoint(_ns(w, default), w.name, w.labels, ports_of(containers))


def upstream_namespace(host: str, own: str) -> str | None:
    """The namespace a Service host name points into: ``svc`` (own), ``svc.ns``,
    ``svc.ns.svc[.cluster.local]``; None for an address or a name outside the cluster."""
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    parts = host.rstrip(".").split(".")
    if len(parts) == 1:
        return own
    if len(parts) == 2 or (len(parts) >= 3 and parts[2] == "svc"):
        return parts[1]
    return None


def intent_of(ix: Index, namespace: str) -> NetworkIntent:
    """What the files tell of the stack's connections (``lint --path``)."""
    ini = ix.ini()
    listen = (ini.integer("listen_port") if ini else None) or 6432
    up_ns: str | None = None
    up_port: int | None = None
    for value in ini.databases.values() if ini else ():
        conn = connection_settings(value)
        host = conn.get("host", "")
        if host and not host.startswith("/"):
            up_ns = upstream_namespace(host, namespace)
            up_port = int(conn["port"]) if conn.get("port", "").isdigit() else 5432
            break
    return NetworkIntent(namespace, listen, up_ns, up_port)


@dataclass(frozen=True)
class StackWorld:
    """The stack's pods and the peers around them, with the stack's NetworkPolicies."""

    intent: NetworkIntent
    peers: dict[str, Peer]  # role -> peer
    cluster: Cluster
    refs: dict[str, str]  # role -> what a finding calls it

    def objects(self, policies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The world as Kubernetes objects (Namespaces, Pods) plus ``policies``: what
        np-guard's analyser reads."""
        out: list[dict[str, Any]] = [
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": ns, "labels": labels},
            }
            for ns, labels in sorted(self.cluster.namespaces.items())
        ]
        for p in self.peers.values():
            if isinstance(p, Endpoint):
                ports = [
                    {"containerPort": x.number, "protocol": x.protocol}
                    | ({"name": x.name} if x.name else {})
                    for x in p.ports
                ]
                out.append(
                    {
                        "apiVersion": "v1",
                        "kind": "Pod",
                        "metadata": {
                            "name": p.name,
                            "namespace": p.namespace,
                            "labels": p.label_map,
                        },
                        "spec": {
                            "containers": [
                                {"name": "c", "image": "probe"}
                                | ({"ports": ports} if ports else {})
                            ]
                        },
                    }
                )
        return out + policies


def stack_world(ix: Index) -> StackWorld | None:
    """The world of ``ix``'s stack; None without a PgBouncer Deployment."""
    pgb = ix.pgbouncer()
    if pgb is None:
        return None
    given = ix.settings.network
    namespace = given.namespace if given else _ns(pgb, "default")
    intent = given or intent_of(ix, _ns(pgb, namespace))
    peers: dict[str, Peer] = {names.PGBOUNCER: _pod(pgb, namespace)}
    refs = {names.PGBOUNCER: pgb.ref}
    for w in ix.workloads:
        if w.role in (SERVER, WORKER) and w.role not in peers:
            peers[w.role] = _pod(w, namespace)
            refs[w.role] = w.ref
    if ix.patches or SERVER in peers:
        outpost = str(ix.patches[0].data.get("outpost") or DEFAULT_OUTPOST) if ix.patches else ""
        outpost = outpost or DEFAULT_OUTPOST
        peers[OUTPOST] = endpoint(namespace, f"ak-outpost-{outpost}", names.outpost_pod(outpost))
        refs[OUTPOST] = ix.patches[0].ref if ix.patches else f"the outpost {outpost}"
    if SERVER in peers:
        # Authentik's labels are no credential: the same pod in another namespace is not it.
        server = peers[SERVER]
        assert isinstance(server, Endpoint)
        peers["impostor"] = endpoint(ELSEWHERE, server.name, server.label_map)
        refs["impostor"] = f"a pod labelled as {refs[SERVER]} in another namespace"
    peers["neighbour"] = endpoint(namespace, "any-pod", {"akops.io/probe": "neighbour"})
    refs["neighbour"] = f"another pod of namespace {namespace}"
    peers["elsewhere"] = endpoint(ELSEWHERE, "any-pod", {"akops.io/probe": "elsewhere"})
    refs["elsewhere"] = "a pod of another namespace"
    peers["internet"] = Address(INTERNET)
    refs["internet"] = f"an address outside the cluster ({INTERNET})"
    if intent.monitoring_namespace:
        peers["prometheus"] = endpoint(
            intent.monitoring_namespace,
            "prometheus-server",
            {"app.kubernetes.io/name": "prometheus"},
        )
        refs["prometheus"] = f"Prometheus (namespace {intent.monitoring_namespace})"
    if intent.upstream_namespace and intent.upstream_port:
        peers["database"] = endpoint(
            intent.upstream_namespace,
            "postgresql",
            {"akops.io/probe": "database"},
            [ports_of([{"ports": [{"containerPort": intent.upstream_port}]}])[0]],
        )
        refs["database"] = (
            f"the database (namespace {intent.upstream_namespace}, port {intent.upstream_port})"
        )
    dns = intent.dns
    if dns is not None and dns.address:
        peers["dns"] = Address(dns.address)
        refs["dns"] = f"the node-local DNS cache {dns.address}"
    elif dns is not None and dns.namespace:
        labels = dict(dns.pod_labels)
        peers["dns"] = endpoint(
            dns.namespace,
            "dns",
            labels,
            ports_of(
                [{"ports": [{"containerPort": dns.port, "protocol": p} for p in ("UDP", "TCP")]}]
            ),
        )
        shown = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        refs["dns"] = f"the DNS pods ({shown} in {dns.namespace})"
    policies = [policy(obj.data, namespace, source=obj) for obj in ix.of_kind("NetworkPolicy")]
    namespaces = {ns: {NAMESPACE_NAME_LABEL: ns} for ns in (namespace, ELSEWHERE)}
    return StackWorld(intent, peers, Cluster(namespaces, list(peers.values()), policies), refs)


@dataclass(frozen=True)
class Need:
    """One connection the stack needs (``allowed``) or forbids, and why."""

    source: str  # a role of the world
    destination: str
    connection: Connection
    allowed: bool
    why: str


def needs(world: StackWorld) -> Iterator[Need]:
    intent, have = world.intent, world.peers
    pgb = names.PGBOUNCER
    db = Connection("TCP", intent.listen_port)
    for role in (SERVER, WORKER):
        if role in have:
            yield Need(role, pgb, db, True, "Authentik would be locked out of its database")
    if "prometheus" in have and intent.exporter_port:
        metrics = Connection("TCP", intent.exporter_port)
        yield Need("prometheus", pgb, metrics, True, "PgBouncer's metrics would go unscraped")
        yield Need("elsewhere", pgb, metrics, False, "only Prometheus scrapes the exporter")
    if "database" in have and intent.upstream_port:
        upstream = Connection("TCP", intent.upstream_port)
        yield Need(pgb, "database", upstream, True, "PgBouncer could not reach PostgreSQL")
        yield Need(pgb, "elsewhere", upstream, False, "PgBouncer talks to its database only")
    if "dns" in have and intent.dns is not None:
        for proto in ("UDP", "TCP"):
            yield Need(
                pgb,
                "dns",
                Connection(proto, intent.dns.port),
                True,
                "PgBouncer could not resolve the database's host name",
            )
    if OUTPOST in have:
        yield Need(OUTPOST, pgb, db, False, "only Authentik's server and worker use PgBouncer")
    if "impostor" in have:
        yield Need("impostor", pgb, db, False, "only the release's own pods use PgBouncer")
    yield Need("neighbour", pgb, db, False, "only Authentik's server and worker use PgBouncer")
    yield Need("elsewhere", pgb, db, False, "only Authentik's server and worker use PgBouncer")
    yield Need(
        pgb, "internet", Connection("TCP", 443), False, "PgBouncer talks to its database only"
    )


def _selector_keys(policies: tuple[Policy, ...], side: str) -> set[str]:
    """The label keys the pod selectors of ``policies``' ``side`` rules look at."""
    keys: set[str] = set()
    for pol in policies:
        for r in pol.rules(side) or ():
            for entry in r.peers or ():
                sel = entry.get("podSelector")
                if isinstance(sel, dict):
                    match = sel.get("matchLabels")
                    keys.update(str(k) for k in (match if isinstance(match, dict) else {}))
                    exprs = sel.get("matchExpressions")
                    for e in exprs if isinstance(exprs, list) else ():
                        if isinstance(e, dict):
                            keys.add(str(e.get("key")))
    return keys


def _labels(p: Peer, keys: set[str] | None = None) -> str:
    """A peer as a rule would have to match it: its labels (those ``keys`` name, when the
    rules name any it has) and its namespace."""
    if isinstance(p, Address):
        return p.ip
    named = [(k, v) for k, v in p.labels if keys and k in keys]
    shown = ",".join(f"{k}={v}" for k, v in (named or p.labels))
    return f"{{{shown}}} in namespace {p.namespace}"


HINT = (
    "fix the selector, namespace or port the message names (templates/pgbouncer/"
    "networkpolicy.yaml.j2 renders it from the environment); if the cluster's DNS is not "
    "kube-dns pods, set pgbouncer.network_policy.dns: the DNS pods' namespace and pod_labels, "
    "or address: 169.254.20.10 for a node-local DNS cache"
)


@rule(
    "netpol.reach",
    "error",
    "a NetworkPolicy refuses a connection the stack needs, or admits one it forbids",
    hint=HINT,
    why="issue 21: a wrong pod label in PgBouncer's policy locks Authentik out of its "
    "database, and a policy judged by its shape passed every check",
    scope="stack",
    keeps={"NetworkPolicy"},
)
def reach(ix: Index) -> Iterator[Finding]:
    world = stack_world(ix)
    if world is None:
        return
    c = world.cluster
    for need in needs(world):
        src, dst = world.peers[need.source], world.peers[need.destination]
        verdict = c.allowed(src, dst, need.connection)
        what = f"{world.refs[need.source]} -> {world.refs[need.destination]} on {need.connection}"
        if need.allowed and not verdict:
            pol = verdict.policies[0]
            side = verdict.refused_by
            far, near = (dst, need.source) if side == "egress" else (src, need.destination)
            refs = ", ".join(p.ref for p in verdict.policies)
            select, their = (
                ("selects", "its") if len(verdict.policies) == 1 else ("select", "their")
            )
            yield _at(
                pol,
                ("spec", side),
                f"{what} is refused: {refs} {select} {world.refs[near]} for {side} and none of "
                f"{their} rules admits {_labels(far, _selector_keys(verdict.policies, side))} "
                f"on {need.connection}; {need.why}",
            )
        elif not need.allowed and verdict:
            pgb = world.peers[names.PGBOUNCER]
            side = "ingress" if dst is pgb else "egress"
            found = _admitting(c, pgb, src, dst, need.connection)
            if found is not None:
                pol, index = found
                yield _at(
                    pol,
                    ("spec", side, index),
                    f"{what} is admitted by {pol.ref} {side} rule {index + 1}; {need.why}",
                )
                continue
            # No policy isolates that side of PgBouncer. With none selecting it at all,
            # security.network-policy speaks; a policy that selects it and leaves a side
            # open is this rule's.
            assert isinstance(pgb, Endpoint)
            selecting = [
                p
                for p in c.policies
                if p.namespace == pgb.namespace and selects(p.selector, pgb.label_map)
            ]
            if selecting:
                pol = selecting[0]
                yield _at(
                    pol,
                    ("spec", "policyTypes"),
                    f"{what} is open: {pol.ref} selects PgBouncer but does not govern its "
                    f"{side} (policyTypes lacks {side.capitalize()}); {need.why}",
                )


def _admitting(
    c: Cluster, pgbouncer: Peer, src: Peer, dst: Peer, conn: Connection
) -> tuple[Policy, int] | None:
    """The policy and rule index that let ``src`` open ``conn`` on ``dst`` through an
    isolated side of PgBouncer (ingress when it is the destination, else egress)."""
    side, pod, other = ("ingress", dst, src) if dst is pgbouncer else ("egress", src, dst)
    if not isinstance(pod, Endpoint):
        return None
    isolating = c.isolating(pod, side)
    hit = c.admitted_by(isolating, side, other, conn, dst) if isolating else None
    return (hit[0], hit[1].index) if hit is not None else None


def _at(pol: Policy, path: tuple[str | int, ...], message: str) -> Finding:
    return located(pol.source, "netpol.reach", path, message, pol.ref)
