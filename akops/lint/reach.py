"""Who may reach whom under Kubernetes NetworkPolicies: the policies' meaning, not their shape.

Rule: pure (Kubernetes objects as data in, a connectivity table out). ``Cluster`` holds
namespaces, pods (endpoints) and addresses outside the cluster, and the NetworkPolicies;
``Cluster.allowed`` answers whether one peer may open one port of another, by the
``networking.k8s.io/v1`` semantics:

* A pod is isolated for ingress (egress) when a policy of its namespace selects it (an
  empty ``podSelector`` selects every pod) and that policy's ``policyTypes`` name Ingress
  (Egress). Without ``policyTypes``, Ingress always, Egress when ``egress`` has a rule.
* A connection needs both ends: the source's egress and the destination's ingress. An
  isolated side admits it only when some rule of a policy selecting it matches the peer
  and the port; the rules of all such policies add up (no rule denies).
* A rule without ``from``/``to`` matches every peer; without ``ports``, every port. A peer
  ``podSelector`` alone means pods of the policy's namespace; ``namespaceSelector`` alone,
  every pod of the selected namespaces; both, the selected pods of the selected namespaces;
  ``ipBlock``, addresses in ``cidr`` and not in ``except`` (outside the cluster: pod
  addresses are not modelled, as np-guard's analyser does not either).
* A port is a number (with ``endPort``, a range) or a container port's name, looked up on
  the destination pod; ``protocol`` defaults to TCP.

The same objects go to np-guard's netpol-analyzer in the integration tests
(``akops.tools.netpolicy``), and the two tables are held equal there, on the rendered
stack, on every mutation the tests make and on a table of edge cases.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

PROTOCOLS = ("TCP", "UDP", "SCTP")
#: The label the API server puts on every namespace (Kubernetes 1.21+).
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _labels(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in _dict(value).items()}


@dataclass(frozen=True)
class Port:
    """A container port: its number, protocol and (optional) name."""

    number: int
    protocol: str = "TCP"
    name: str | None = None


@dataclass(frozen=True)
class Endpoint:
    """A pod (or the pods of one workload: same labels, same namespace)."""

    namespace: str
    name: str
    labels: tuple[tuple[str, str], ...] = ()
    ports: tuple[Port, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)


@dataclass(frozen=True)
class Address:
    """An address outside the cluster (an ipBlock can match it): the internet, a node-local
    DNS cache."""

    ip: str

    @property
    def key(self) -> str:
        return self.ip


Peer = Endpoint | Address


def endpoint(
    namespace: str, name: str, labels: Mapping[str, str], ports: Iterable[Port] = ()
) -> Endpoint:
    return Endpoint(namespace, name, tuple(sorted(labels.items())), tuple(ports))


def ports_of(containers: Iterable[Any]) -> tuple[Port, ...]:
    """The container ports of a pod spec's ``containers`` list."""
    out = []
    for c in containers:
        for p in _list(_dict(c).get("ports")):
            p = _dict(p)
            number = p.get("containerPort")
            if isinstance(number, int) and not isinstance(number, bool):
                name = p.get("name")
                out.append(
                    Port(number, str(p.get("protocol") or "TCP"), str(name) if name else None)
                )
    return tuple(out)


# --- selectors ---------------------------------------------------------------------------


def selects(selector: Any, labels: Mapping[str, str]) -> bool:
    """A LabelSelector as NetworkPolicies read it: ``{}`` selects everything."""
    sel = _dict(selector)
    for k, v in _dict(sel.get("matchLabels")).items():
        if labels.get(str(k)) != str(v):
            return False
    for e in _list(sel.get("matchExpressions")):
        e = _dict(e)
        key, op = str(e.get("key")), e.get("operator")
        values = {str(v) for v in _list(e.get("values"))}
        present = key in labels
        if op == "In":
            ok = present and labels[key] in values
        elif op == "NotIn":
            ok = not present or labels[key] not in values
        elif op == "Exists":
            ok = present
        elif op == "DoesNotExist":
            ok = not present
        else:
            ok = False  # the API server refuses any other operator
        if not ok:
            return False
    return True


def _in_block(ip: str, block: Mapping[str, Any]) -> bool:
    try:
        addr = ipaddress.ip_address(ip)
        if addr not in ipaddress.ip_network(str(block.get("cidr")), strict=False):
            return False
        return not any(
            addr in ipaddress.ip_network(str(x), strict=False) for x in _list(block.get("except"))
        )
    except ValueError:
        return False


# --- policies ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One ingress or egress rule: its peers (``None``: every peer) and ports (``None``: all)."""

    peers: tuple[dict[str, Any], ...] | None
    ports: tuple[dict[str, Any], ...] | None
    index: int


@dataclass(frozen=True)
class Policy:
    """A NetworkPolicy as data: where it is, whom it selects, its rules per direction."""

    ref: str
    namespace: str
    selector: dict[str, Any]
    ingress: tuple[Rule, ...] | None  # None: does not govern ingress
    egress: tuple[Rule, ...] | None
    source: Any = field(default=None, compare=False)  # the object it was read from

    def rules(self, direction: str) -> tuple[Rule, ...] | None:
        return self.ingress if direction == "ingress" else self.egress


def _rules(spec: dict[str, Any], key: str, peers_key: str) -> tuple[Rule, ...]:
    out = []
    for i, r in enumerate(_list(spec.get(key))):
        r = _dict(r)
        peers = _list(r.get(peers_key))
        ports = _list(r.get("ports"))
        out.append(
            Rule(
                tuple(_dict(p) for p in peers) if peers else None,
                tuple(_dict(p) for p in ports) if ports else None,
                i,
            )
        )
    return tuple(out)


def policy(data: Mapping[str, Any], default_namespace: str, source: Any = None) -> Policy:
    """A NetworkPolicy object (as parsed YAML) as a ``Policy``."""
    meta = _dict(data.get("metadata"))
    spec = _dict(data.get("spec"))
    types = spec.get("policyTypes")
    if isinstance(types, list):
        governs_in, governs_out = "Ingress" in types, "Egress" in types
    else:
        governs_in, governs_out = True, bool(_list(spec.get("egress")))
    return Policy(
        ref=f"NetworkPolicy/{meta.get('name') or '(unnamed)'}",
        namespace=str(meta.get("namespace") or default_namespace),
        selector=_dict(spec.get("podSelector")),
        ingress=_rules(spec, "ingress", "from") if governs_in else None,
        egress=_rules(spec, "egress", "to") if governs_out else None,
        source=source,
    )


# --- the cluster -------------------------------------------------------------------------


@dataclass(frozen=True)
class Connection:
    protocol: str
    port: int

    def __str__(self) -> str:
        return f"{self.protocol} {self.port}"


@dataclass(frozen=True, order=True)
class Row:
    """One line of the connectivity table: ``source`` may open ``connection`` on
    ``destination``."""

    source: str
    destination: str
    connection: str

    def __str__(self) -> str:
        return f"{self.source} -> {self.destination} : {self.connection}"


@dataclass(frozen=True)
class Verdict:
    """Whether a connection is allowed, and which side's policies refuse it otherwise."""

    allowed: bool
    refused_by: str = ""  # "egress" or "ingress" (the first refusing side)
    policies: tuple[Policy, ...] = ()  # the policies isolating that side

    def __bool__(self) -> bool:
        return self.allowed


class Cluster:
    """Namespaces, pods, outside addresses and NetworkPolicies; who may reach whom."""

    def __init__(
        self,
        namespaces: Mapping[str, Mapping[str, str]],
        peers: Sequence[Peer],
        policies: Sequence[Policy],
    ) -> None:
        self.namespaces = {
            ns: {NAMESPACE_NAME_LABEL: ns, **dict(labels)} for ns, labels in namespaces.items()
        }
        for p in peers:
            if isinstance(p, Endpoint):
                self.namespaces.setdefault(p.namespace, {NAMESPACE_NAME_LABEL: p.namespace})
        self.peers = tuple(peers)
        self.policies = tuple(policies)
        by_ns: dict[str, list[Policy]] = {}
        for pol in self.policies:
            by_ns.setdefault(pol.namespace, []).append(pol)
        self._by_ns = by_ns

    @classmethod
    def from_objects(cls, objects: Iterable[Mapping[str, Any]], default_namespace: str) -> Cluster:
        """Namespaces, Pods and NetworkPolicies of a list of objects (what np-guard reads)."""
        namespaces: dict[str, dict[str, str]] = {}
        peers: list[Peer] = []
        policies: list[Policy] = []
        for obj in objects:
            kind = obj.get("kind")
            meta = _dict(obj.get("metadata"))
            if kind == "Namespace":
                namespaces[str(meta.get("name"))] = _labels(meta.get("labels"))
            elif kind == "Pod":
                spec = _dict(obj.get("spec"))
                peers.append(
                    endpoint(
                        str(meta.get("namespace") or default_namespace),
                        str(meta.get("name")),
                        _labels(meta.get("labels")),
                        ports_of(_list(spec.get("containers"))),
                    )
                )
            elif kind == "NetworkPolicy":
                policies.append(policy(obj, default_namespace))
        return cls(namespaces, peers, policies)

    def isolating(self, pod: Endpoint, direction: str) -> list[Policy]:
        """The policies that select ``pod`` and govern ``direction``."""
        labels = pod.label_map
        return [
            p
            for p in self._by_ns.get(pod.namespace, ())
            if p.rules(direction) is not None and selects(p.selector, labels)
        ]

    def _peer_matches(self, entry: Mapping[str, Any], peer: Peer, namespace: str) -> bool:
        if "ipBlock" in entry:
            return isinstance(peer, Address) and _in_block(peer.ip, _dict(entry["ipBlock"]))
        if not isinstance(peer, Endpoint):
            return False
        pods, spaces = entry.get("podSelector"), entry.get("namespaceSelector")
        if pods is None and spaces is None:
            return False  # an empty peer: the API server refuses it
        if spaces is None:
            in_ns = peer.namespace == namespace
        else:
            in_ns = selects(spaces, self.namespaces.get(peer.namespace, {}))
        return in_ns and (pods is None or selects(pods, peer.label_map))

    @staticmethod
    def _port_matches(entry: Mapping[str, Any], conn: Connection, target: Peer) -> bool:
        if str(entry.get("protocol") or "TCP") != conn.protocol:
            return False
        port = entry.get("port")
        if port is None:
            return True
        if isinstance(port, bool):
            return False
        if isinstance(port, int):
            end = entry.get("endPort")
            last = end if isinstance(end, int) and not isinstance(end, bool) else port
            return port <= conn.port <= last
        # A named port means the destination pod's container port of that name.
        if not isinstance(target, Endpoint):
            return False
        return any(
            p.name == str(port) and p.number == conn.port and p.protocol == conn.protocol
            for p in target.ports
        )

    def admitted_by(
        self, policies: Sequence[Policy], direction: str, other: Peer, conn: Connection, dst: Peer
    ) -> tuple[Policy, Rule] | None:
        """The first rule of ``policies`` that admits ``other`` (the far end) on ``conn``."""
        for pol in policies:
            for r in pol.rules(direction) or ():
                if r.peers is not None and not any(
                    self._peer_matches(e, other, pol.namespace) for e in r.peers
                ):
                    continue
                if r.ports is not None and not any(
                    self._port_matches(e, conn, dst) for e in r.ports
                ):
                    continue
                return pol, r
        return None

    def allowed(self, src: Peer, dst: Peer, conn: Connection) -> Verdict:
        """May ``src`` open ``conn`` on ``dst``?"""
        if isinstance(src, Endpoint):
            out = self.isolating(src, "egress")
            if out and self.admitted_by(out, "egress", dst, conn, dst) is None:
                return Verdict(False, "egress", tuple(out))
        if isinstance(dst, Endpoint):
            into = self.isolating(dst, "ingress")
            if into and self.admitted_by(into, "ingress", src, conn, dst) is None:
                return Verdict(False, "ingress", tuple(into))
        return Verdict(True)

    def table(
        self, connections: Iterable[Connection], focus: Iterable[str] | None = None
    ) -> frozenset[Row]:
        """Every allowed (source, destination, connection) among the peers, for each of
        ``connections``; with ``focus`` (peer keys), only rows with one of them at an end."""
        wanted = set(focus) if focus is not None else None
        conns = list(connections)
        rows: set[Row] = set()
        for src in self.peers:
            for dst in self.peers:
                if src is dst or (isinstance(src, Address) and isinstance(dst, Address)):
                    continue
                if wanted is not None and src.key not in wanted and dst.key not in wanted:
                    continue
                for c in conns:
                    if self.allowed(src, dst, c):
                        rows.add(Row(src.key, dst.key, str(c)))
        return frozenset(rows)

    def probe_connections(self) -> list[Connection]:
        """Connections worth asking about: every port a policy or a pod names, its
        neighbours, both ends of each range, for every protocol, and a few ports nothing names."""
        numbers = {1, 80, 443, 65535}
        for p in self.peers:
            if isinstance(p, Endpoint):
                numbers.update(port.number for port in p.ports)
        for pol in self.policies:
            for rules in (pol.ingress or (), pol.egress or ()):
                for r in rules:
                    for e in r.ports or ():
                        for key in ("port", "endPort"):
                            v = e.get(key)
                            if isinstance(v, int) and not isinstance(v, bool):
                                numbers.update({v - 1, v, v + 1})
        return [
            Connection(proto, n) for proto in PROTOCOLS for n in sorted(numbers) if 1 <= n <= 65535
        ]


def render_table(rows: Iterable[Row]) -> str:
    """The table as lines, sorted: what a test or an operator reads."""
    return "".join(f"{r}\n" for r in sorted(rows))


def rows_between(rows: Iterable[Row], keys: Iterable[str]) -> Iterator[Row]:
    wanted = set(keys)
    return (r for r in rows if r.source in wanted or r.destination in wanted)


# --- what the stack needs ----------------------------------------------------------------


@dataclass(frozen=True)
class DnsTarget:
    """Where PgBouncer resolves names: DNS pods (namespace and labels) or one address."""

    namespace: str | None = None
    pod_labels: tuple[tuple[str, str], ...] = ()
    address: str | None = None
    port: int = 53


@dataclass(frozen=True)
class NetworkIntent:
    """Who must reach whom in the stack, from what the environment (or the tree) says.

    ``None`` fields are unknown (``lint --path`` knows neither the monitoring namespace nor
    the cluster's DNS): the connections that need them are not judged.
    """

    namespace: str
    listen_port: int = 6432
    upstream_namespace: str | None = None
    upstream_port: int | None = None
    dns: DnsTarget | None = None
    monitoring_namespace: str | None = None
    exporter_port: int | None = None
    source: str = "the files given"  # where these facts come from, for messages
