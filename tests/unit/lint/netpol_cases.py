"""Edge cases of Kubernetes NetworkPolicy semantics: a small cluster and policies over it.

Each case is a list of NetworkPolicies and the connections they must allow or refuse in
``WORLD``. The unit tests check the verdicts with ``akops.lint.reach``; the integration
test hands the same objects to np-guard's analyser and holds the two whole tables equal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from akops.lint.reach import Address, Cluster, Connection, Peer


def ns(name: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name, **labels}},
    }


def pod(
    namespace: str, name: str, labels: dict[str, str], *ports: dict[str, Any]
) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "c", "image": "probe"}
    if ports:
        container["ports"] = list(ports)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"containers": [container]},
    }


WORLD: list[dict[str, Any]] = [
    ns("a", team="blue"),
    ns("b", team="red"),
    ns("c"),
    pod(
        "a",
        "web",
        {"app": "web", "tier": "front"},
        {"containerPort": 8080, "name": "http"},
        {"containerPort": 53, "protocol": "UDP", "name": "dns"},
    ),
    pod("a", "db", {"app": "db"}, {"containerPort": 5432, "name": "pg"}),
    pod("a", "job", {"app": "job", "tier": "back"}),
    pod("b", "web", {"app": "web"}, {"containerPort": 9090, "name": "http"}),
    pod("b", "client", {"app": "client"}),
    pod("c", "tool", {"role": "tool"}),
]
ADDRESSES = (Address("10.1.2.3"), Address("192.0.2.1"), Address("169.254.20.10"))


def netpol(name: str, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


@dataclass(frozen=True)
class Case:
    id: str
    policies: list[dict[str, Any]]
    #: (source, destination, "PROTO port", allowed?) with peers as ``ns/name`` or an address
    checks: list[tuple[str, str, str, bool]]

    def objects(self) -> list[dict[str, Any]]:
        return [*WORLD, *self.policies]

    def cluster(self) -> Cluster:
        c = Cluster.from_objects(self.objects(), "default")
        return Cluster(c.namespaces, [*c.peers, *ADDRESSES], c.policies)

    @staticmethod
    def peer(c: Cluster, key: str) -> Peer:
        return next(p for p in c.peers if p.key == key)

    @staticmethod
    def connection(text: str) -> Connection:
        proto, port = text.split()
        return Connection(proto, int(port))


WEB = {"matchLabels": {"app": "web"}}
CASES = [
    Case(
        "deny-all-ingress",
        [netpol("deny", "a", {"podSelector": {}, "policyTypes": ["Ingress"]})],
        [
            ("a/job", "a/web", "TCP 8080", False),
            ("b/client", "a/db", "TCP 5432", False),
            ("a/web", "b/web", "TCP 9090", True),  # egress is not governed
            ("192.0.2.1", "a/web", "TCP 8080", False),
        ],
    ),
    Case(
        "implied-egress-type",  # no policyTypes: Egress because egress has a rule
        [
            netpol(
                "out",
                "a",
                {
                    "podSelector": WEB,
                    "egress": [{"to": [{"podSelector": {"matchLabels": {"app": "db"}}}]}],
                },
            )
        ],
        [
            ("a/web", "a/db", "TCP 5432", True),
            ("a/web", "b/web", "TCP 9090", False),
            ("a/job", "a/web", "TCP 8080", False),  # Ingress is implied too, with no rule
        ],
    ),
    Case(
        "empty-egress-list-governs-no-egress",
        [netpol("in-only", "a", {"podSelector": WEB, "egress": []})],
        [("a/web", "b/web", "TCP 9090", True), ("a/job", "a/web", "TCP 8080", False)],
    ),
    Case(
        "and-versus-or-peers",
        [
            netpol(
                "and",
                "a",
                {
                    "podSelector": WEB,
                    "ingress": [
                        {
                            "from": [
                                {
                                    "namespaceSelector": {"matchLabels": {"team": "red"}},
                                    "podSelector": {"matchLabels": {"app": "client"}},
                                }
                            ]
                        }
                    ],
                },
            ),
            netpol(
                "or",
                "a",
                {
                    "podSelector": {"matchLabels": {"app": "db"}},
                    "ingress": [
                        {
                            "from": [
                                {"namespaceSelector": {"matchLabels": {"team": "red"}}},
                                {"podSelector": {"matchLabels": {"app": "job"}}},
                            ]
                        }
                    ],
                },
            ),
        ],
        [
            ("b/client", "a/web", "TCP 8080", True),
            ("b/web", "a/web", "TCP 8080", False),
            ("a/job", "a/web", "TCP 8080", False),
            ("b/web", "a/db", "TCP 5432", True),
            ("a/job", "a/db", "TCP 5432", True),
            ("c/tool", "a/db", "TCP 5432", False),
            ("a/web", "a/db", "TCP 5432", False),
        ],
    ),
    Case(
        "pod-selector-alone-means-own-namespace",
        [
            netpol(
                "own",
                "a",
                {
                    "podSelector": WEB,
                    "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}]}],
                },
            )
        ],
        [("b/web", "a/web", "TCP 8080", False), ("a/job", "a/web", "TCP 8080", False)],
    ),
    Case(
        "empty-namespace-selector-means-every-namespace",
        [
            netpol(
                "all-ns",
                "a",
                {"podSelector": WEB, "ingress": [{"from": [{"namespaceSelector": {}}]}]},
            )
        ],
        [
            ("c/tool", "a/web", "TCP 8080", True),
            ("a/job", "a/web", "TCP 8080", True),
            ("192.0.2.1", "a/web", "TCP 8080", False),
        ],
    ),
    Case(
        "expressions",
        [
            netpol(
                "expr",
                "a",
                {
                    "podSelector": {"matchExpressions": [{"key": "tier", "operator": "Exists"}]},
                    "ingress": [
                        {
                            "from": [
                                {
                                    "namespaceSelector": {
                                        "matchExpressions": [
                                            {"key": "team", "operator": "NotIn", "values": ["red"]}
                                        ]
                                    },
                                    "podSelector": {
                                        "matchExpressions": [
                                            {
                                                "key": "app",
                                                "operator": "In",
                                                "values": ["job", "tool"],
                                            },
                                            {"key": "tier", "operator": "DoesNotExist"},
                                        ]
                                    },
                                }
                            ]
                        }
                    ],
                },
            )
        ],
        [
            ("c/tool", "a/web", "TCP 8080", False),  # no app label: In fails
            ("a/job", "a/web", "TCP 8080", False),  # has tier: DoesNotExist fails
            ("b/client", "a/job", "TCP 80", False),  # team=red: NotIn fails
            ("a/db", "b/web", "TCP 9090", True),  # b/web has no tier: not selected
        ],
    ),
    Case(
        "ports-named-ranges-protocols",
        [
            netpol(
                "ports",
                "a",
                {
                    "podSelector": WEB,
                    "ingress": [
                        {
                            "ports": [
                                {"port": "http"},
                                {"port": "dns", "protocol": "UDP"},
                                {"port": 7000, "endPort": 7010},
                                {"protocol": "SCTP"},
                            ]
                        }
                    ],
                },
            )
        ],
        [
            ("b/client", "a/web", "TCP 8080", True),
            ("b/client", "a/web", "TCP 8081", False),
            ("b/client", "a/web", "UDP 53", True),
            ("b/client", "a/web", "TCP 53", False),
            ("b/client", "a/web", "TCP 7010", True),
            ("b/client", "a/web", "TCP 7011", False),
            ("b/client", "a/web", "UDP 7005", False),
            ("b/client", "a/web", "SCTP 4000", True),
            ("192.0.2.1", "a/web", "TCP 8080", True),  # no from: every peer
        ],
    ),
    Case(
        "named-port-in-egress-is-the-destinations",
        [
            netpol(
                "egress-named",
                "b",
                {
                    "podSelector": {"matchLabels": {"app": "client"}},
                    "policyTypes": ["Egress"],
                    # Named ports need pod peers (np-guard refuses them towards addresses).
                    "egress": [{"to": [{"namespaceSelector": {}}], "ports": [{"port": "http"}]}],
                },
            )
        ],
        [
            ("b/client", "a/web", "TCP 8080", True),
            ("b/client", "b/web", "TCP 9090", True),
            ("b/client", "b/web", "TCP 8080", False),
            ("b/client", "a/db", "TCP 5432", False),
            ("b/client", "192.0.2.1", "TCP 8080", False),
        ],
    ),
    Case(
        "ip-blocks-with-except",
        [
            netpol(
                "ip",
                "a",
                {
                    "podSelector": {"matchLabels": {"app": "job"}},
                    "policyTypes": ["Egress"],
                    "egress": [
                        {
                            "to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}],
                            "ports": [{"port": 443}],
                        },
                        {
                            "to": [{"ipBlock": {"cidr": "169.254.20.10/32"}}],
                            "ports": [{"port": 53, "protocol": "UDP"}],
                        },
                    ],
                },
            )
        ],
        [
            ("a/job", "10.1.2.3", "TCP 443", False),
            ("a/job", "192.0.2.1", "TCP 443", False),
            ("a/job", "169.254.20.10", "UDP 53", True),
            ("a/job", "169.254.20.10", "TCP 53", False),
            ("a/job", "a/web", "TCP 8080", False),  # an ipBlock is not a pod
        ],
    ),
    Case(
        "policies-add-up-and-stay-in-their-namespace",
        [
            netpol("one", "a", {"podSelector": WEB, "ingress": [{"ports": [{"port": 8080}]}]}),
            netpol("two", "a", {"podSelector": {}, "ingress": [{"from": [{"podSelector": {}}]}]}),
            netpol("elsewhere", "b", {"podSelector": {}, "policyTypes": ["Ingress"]}),
        ],
        [
            ("c/tool", "a/web", "TCP 8080", True),  # policy one
            ("a/job", "a/web", "TCP 53", True),  # policy two
            ("c/tool", "a/web", "TCP 53", False),  # neither
            ("a/job", "b/web", "TCP 9090", False),  # b denies all ingress
            ("c/tool", "a/job", "TCP 1", False),  # two: own namespace only
        ],
    ),
]
