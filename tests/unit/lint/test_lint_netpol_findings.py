"""``netpol.reach``'s findings whole (where they point, what they say) for each mutation of
the rendered policy in test_lint_reach.py, two policies refusing together, an ungoverned
side; and what ``lint --path`` reads from the files (``intent_of``)."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from akops.environment import Environment, load_environment
from akops.layout import Layout
from akops.lint import engine, network_intent
from akops.lint.documents import SourceText, classify
from akops.lint.index import Index
from akops.lint.reach import DnsTarget, Endpoint, NetworkIntent
from akops.lint.rules.netpol import StackWorld, intent_of, stack_world, upstream_namespace
from tests.unit.lint.test_lint_reach import MUTATIONS, world_of

if TYPE_CHECKING:
    from conftest import StackFiles  # the fixture's type, from this directory's conftest

RULE = "netpol.reach"
SERVER_LABELS = (
    "{app.kubernetes.io/component=server,app.kubernetes.io/instance=goauthentik,"
    "app.kubernetes.io/name=authentik} in namespace authentik"
)
WORKER_LABELS = SERVER_LABELS.replace("component=server", "component=worker")


def refused(who: str, port: str, labels: str, why: str, side: str = "ingress") -> str:
    return (
        f"{who} on {port} is refused: NetworkPolicy/pgbouncer selects Deployment/pgbouncer for "
        f"{side} and none of its rules admits {labels} on {port}; {why}"
    )


LOCKED_OUT = "Authentik would be locked out of its database"
CLIENTS = [
    (
        "spec.ingress",
        refused(
            "Deployment/goauthentik-server -> Deployment/pgbouncer", "TCP 6432", SERVER_LABELS,
            LOCKED_OUT,
        ),
    ),
    (
        "spec.ingress",
        refused(
            "Deployment/goauthentik-worker -> Deployment/pgbouncer", "TCP 6432", WORKER_LABELS,
            LOCKED_OUT,
        ),
    ),
]  # fmt: skip
SCRAPE = [
    (
        "spec.ingress",
        refused(
            "Prometheus (namespace monitoring) -> Deployment/pgbouncer",
            "TCP 9127",
            "{app.kubernetes.io/name=prometheus} in namespace monitoring",
            "PgBouncer's metrics would go unscraped",
        ),
    )
]
DATABASE = [
    (
        "spec.egress",
        refused(
            "Deployment/pgbouncer -> the database (namespace dbaas, port 5432)",
            "TCP 5432",
            "{akops.io/probe=database} in namespace dbaas",
            "PgBouncer could not reach PostgreSQL",
            "egress",
        ),
    )
]


def dns(proto: str) -> tuple[str, str]:
    return (
        "spec.egress",
        refused(
            "Deployment/pgbouncer -> the DNS pods (k8s-app=kube-dns in kube-system)",
            f"{proto} 53",
            "{k8s-app=kube-dns} in namespace kube-system",
            "PgBouncer could not resolve the database's host name",
            "egress",
        ),
    )


EXPECTED: dict[str, list[tuple[str, str]]] = {
    "label": CLIENTS,
    "client-port": CLIENTS,
    "client-namespace": CLIENTS,
    "component": CLIENTS[1:],
    "clients-from-everywhere": [
        (
            "spec.ingress[0]",
            "a pod labelled as Deployment/goauthentik-server in another namespace -> "
            "Deployment/pgbouncer on TCP 6432 is admitted by NetworkPolicy/pgbouncer ingress "
            "rule 1; only the release's own pods use PgBouncer",
        )
    ],
    "scrape-namespace": SCRAPE,
    "scrape-port": SCRAPE,
    "scrape-from-every-namespace": [
        (
            "spec.ingress[1]",
            "a pod of another namespace -> Deployment/pgbouncer on TCP 9127 is admitted by "
            "NetworkPolicy/pgbouncer ingress rule 2; only Prometheus scrapes the exporter",
        )
    ],
    "database-namespace": DATABASE,
    "database-port": DATABASE,
    "database-anywhere": [
        (
            "spec.egress[0]",
            "Deployment/pgbouncer -> a pod of another namespace on TCP 5432 is admitted by "
            "NetworkPolicy/pgbouncer egress rule 1; PgBouncer talks to its database only",
        )
    ],
    "dns-label": [dns("TCP"), dns("UDP")],
    "dns-udp": [dns("UDP")],
}


@pytest.fixture(scope="module")
def prod_env(layout: Layout) -> Environment:
    return load_environment("prod", layout.environments)


def whole(stack: StackFiles) -> list[tuple[str | None, str]]:
    found = stack.findings(RULE)
    assert {(f.object, f.file) for f in found} <= {
        ("NetworkPolicy/pgbouncer", "stack/pgbouncer-networkpolicy.yaml")
    }
    lines = stack.texts["pgbouncer-networkpolicy.yaml"].splitlines()
    for f in found:  # each points at the line of its key
        assert f.line is not None
        key = str(f.path).rpartition(".")[2].partition("[")[0]
        assert lines[f.line - 1].strip().startswith((f"{key}:", "- ")), (f.path, f.line)
    return sorted((f.path, f.message) for f in found)


def test_expected_covers_every_mutation() -> None:
    assert set(EXPECTED) == set(MUTATIONS)


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_each_mutated_policy_finding_whole(
    name: str, stack: StackFiles, prod_env: Environment
) -> None:
    stack.settings["network"] = network_intent(prod_env)
    edit = MUTATIONS[name][0]
    stack.edit_one("pgbouncer-networkpolicy.yaml", lambda np: edit(np["spec"]))
    assert whole(stack) == sorted(EXPECTED[name])


def test_two_policies_refusing_together_are_named_together(
    stack: StackFiles, prod_env: Environment
) -> None:
    stack.settings["network"] = network_intent(prod_env)
    (first,) = stack.load("pgbouncer-networkpolicy.yaml")
    second = copy.deepcopy(first)
    second["metadata"]["name"] = "second"
    second["spec"]["ingress"] = second["spec"]["ingress"][1:]  # the scrape rule only
    first["spec"]["ingress"][0]["ports"][0]["port"] = 6433
    stack.texts["pgbouncer-networkpolicy.yaml"] = yaml.safe_dump_all([first, second])
    expected = [
        (
            "spec.ingress",
            f"Deployment/goauthentik-{role} -> Deployment/pgbouncer on TCP 6432 is refused: "
            "NetworkPolicy/pgbouncer, NetworkPolicy/second select Deployment/pgbouncer for "
            f"ingress and none of their rules admits {labels} on TCP 6432; {LOCKED_OUT}",
        )
        for role, labels in (("server", SERVER_LABELS), ("worker", WORKER_LABELS))
    ]
    assert whole(stack) == expected


def test_an_ungoverned_side_is_open_whole(stack: StackFiles, prod_env: Environment) -> None:
    stack.settings["network"] = network_intent(prod_env)
    stack.edit_one(
        "pgbouncer-networkpolicy.yaml", lambda np: np["spec"].update(policyTypes=["Ingress"])
    )
    open_ = (
        "is open: NetworkPolicy/pgbouncer selects PgBouncer but does not govern its egress "
        "(policyTypes lacks Egress); PgBouncer talks to its database only"
    )
    assert whole(stack) == [
        (
            "spec.policyTypes",
            f"Deployment/pgbouncer -> a pod of another namespace on TCP 5432 {open_}",
        ),
        (
            "spec.policyTypes",
            "Deployment/pgbouncer -> an address outside the cluster (203.0.113.10) on TCP 443 "
            f"{open_}",
        ),
    ]


# --- lint --path: what the files tell -------------------------------------------------------


def intent(stack: StackFiles) -> NetworkIntent:
    settings = engine.Settings(chart_version_given=True)
    sources = classify(
        [SourceText(n, t, not n.endswith(".ini")) for n, t in sorted(stack.texts.items())],
        engine.classifier(settings),
    )
    ix = Index(sources.objects, sources.values, sources.patches, sources.inis, settings)
    return intent_of(ix, "authentik")


def databases(stack: StackFiles, lines: str) -> None:
    old = "authentik = host=postgresql.dbaas port=5432 dbname=authentik\n"
    stack.ini(lambda ini: ini.replace(old, lines))


def test_the_files_tell_the_listen_port_and_the_upstream(stack: StackFiles) -> None:
    assert intent(stack) == NetworkIntent("authentik", 6432, "dbaas", 5432)
    stack.ini(lambda ini: ini.replace("listen_port = 6432", "listen_port = 6543"))
    assert intent(stack).listen_port == 6543
    stack.ini(lambda ini: ini.replace("listen_port = 6543\n", ""))
    assert intent(stack).listen_port == 6432  # PgBouncer's default


@pytest.mark.parametrize(
    ("lines", "upstream"),
    [
        # A socket is no network peer: the first entry with a host name is the upstream.
        (
            "local = host=/var/run/postgresql dbname=a\n"
            "authentik = host=db.other port=5433 dbname=authentik\n"
            "later = host=db.third port=5434 dbname=x\n",
            ("other", 5433),
        ),
        ("authentik = host=postgresql.dbaas dbname=authentik\n", ("dbaas", 5432)),
        ("authentik = host=postgresql.dbaas port=x5 dbname=authentik\n", ("dbaas", 5432)),
        ("authentik = host=10.0.0.5 port=5433 dbname=authentik\n", (None, 5433)),
        ("authentik = dbname=authentik\n", (None, None)),
    ],
)
def test_the_upstream_is_the_first_networked_database(
    stack: StackFiles, lines: str, upstream: tuple[str | None, int | None]
) -> None:
    databases(stack, lines)
    found = intent(stack)
    assert (found.upstream_namespace, found.upstream_port) == upstream


def test_without_an_ini_the_defaults(stack: StackFiles) -> None:
    del stack.texts["pgbouncer-configmap.yaml"]
    assert intent(stack) == NetworkIntent("authentik", 6432, None, None)


def test_the_listen_port_from_the_files_is_the_one_judged(stack: StackFiles) -> None:
    stack.ini(lambda ini: ini.replace("listen_port = 6432", "listen_port = 6433"))
    assert [(p, m.partition(" is refused")[0]) for p, m in whole(stack)] == [
        ("spec.ingress", "Deployment/goauthentik-server -> Deployment/pgbouncer on TCP 6433"),
        ("spec.ingress", "Deployment/goauthentik-worker -> Deployment/pgbouncer on TCP 6433"),
    ]


# --- the world as objects (what np-guard reads) and as the findings name it ----------------------


def _pod(name: str, namespace: str, labels: dict[str, str], ports: list[Any] | None = None) -> Any:
    c: dict[str, Any] = {"name": "c", "image": "probe"}
    if ports:
        c["ports"] = ports
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"containers": [c]},
    }


def test_the_world_as_objects_and_refs(prod_texts: dict[str, str], prod_env: Environment) -> None:
    world = world_of(prod_texts, prod_env)
    extra = {"kind": "NetworkPolicy"}
    objects = world.objects([extra])
    assert objects[:5] == [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}},
        }
        for ns in ("akops-probe-elsewhere", "authentik", "dbaas", "kube-system", "monitoring")
    ]
    pods = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in objects[5:-1]}
    assert objects[-1] is extra
    assert pods[("authentik", "pgbouncer")] == _pod(
        "pgbouncer",
        "authentik",
        {"app": "pgbouncer"},
        [
            {"containerPort": 6432, "protocol": "TCP", "name": "pgbouncer"},
            {"containerPort": 9127, "protocol": "TCP", "name": "metrics"},
        ],
    )
    assert pods[("dbaas", "postgresql")] == _pod(
        "postgresql", "dbaas", {"akops.io/probe": "database"},
        [{"containerPort": 5432, "protocol": "TCP"}],
    )  # fmt: skip
    assert pods[("kube-system", "dns")] == _pod(
        "dns", "kube-system", {"k8s-app": "kube-dns"},
        [{"containerPort": 53, "protocol": "UDP"}, {"containerPort": 53, "protocol": "TCP"}],
    )  # fmt: skip
    assert pods[("authentik", "any-pod")] == _pod(
        "any-pod", "authentik", {"akops.io/probe": "neighbour"}
    )
    assert pods[("monitoring", "prometheus-server")] == _pod(
        "prometheus-server", "monitoring", {"app.kubernetes.io/name": "prometheus"}
    )
    assert len(pods) == 10  # and the outside address is no object
    assert world.refs == {
        "pgbouncer": "Deployment/pgbouncer",
        "authentik-server": "Deployment/goauthentik-server",
        "authentik-worker": "Deployment/goauthentik-worker",
        "outpost": "Deployment/ak-outpost-authentik-embedded-outpost",
        "impostor": "a pod labelled as Deployment/goauthentik-server in another namespace",
        "neighbour": "another pod of namespace authentik",
        "elsewhere": "a pod of another namespace",
        "internet": "an address outside the cluster (203.0.113.10)",
        "prometheus": "Prometheus (namespace monitoring)",
        "database": "the database (namespace dbaas, port 5432)",
        "dns": "the DNS pods (k8s-app=kube-dns in kube-system)",
    }


# --- what is judged when the intent is partly unknown; pods admitted that must not be -----------


@pytest.mark.parametrize(
    "intent",
    [
        # an exporter port without a monitoring namespace: no Prometheus to judge it by
        NetworkIntent("authentik", 6432, "dbaas", 5432, exporter_port=9127),
        # an upstream port without its namespace (an address outside the cluster)
        NetworkIntent("authentik", 6432, None, 5432),
        # a DNS target that names neither pods nor an address
        NetworkIntent("authentik", 6432, "dbaas", 5432, dns=DnsTarget()),
    ],
)
def test_what_the_intent_leaves_unknown_is_not_judged(
    stack: StackFiles, intent: NetworkIntent
) -> None:
    stack.settings["network"] = intent
    assert stack.findings(RULE) == []


def test_pods_admitted_from_the_whole_namespace_and_beyond(
    stack: StackFiles, prod_env: Environment
) -> None:
    stack.settings["network"] = network_intent(prod_env)

    def open_clients(np: dict[str, Any]) -> None:
        np["spec"]["ingress"][0]["from"] = [{"namespaceSelector": {}}]

    stack.edit_one("pgbouncer-networkpolicy.yaml", open_clients)
    rule1 = "on TCP 6432 is admitted by NetworkPolicy/pgbouncer ingress rule 1"
    assert whole(stack) == sorted(
        ("spec.ingress[0]", f"{who} -> Deployment/pgbouncer {rule1}; {why}")
        for who, why in (
            ("Deployment/ak-outpost-authentik-embedded-outpost", OURS),
            ("a pod labelled as Deployment/goauthentik-server in another namespace", RELEASE),
            ("another pod of namespace authentik", OURS),
            ("a pod of another namespace", OURS),
        )
    )


OURS = "only Authentik's server and worker use PgBouncer"
RELEASE = "only the release's own pods use PgBouncer"


@pytest.mark.parametrize(
    ("host", "namespace"),
    [
        ("postgresql.dbaas.", "dbaas"),  # a fully qualified name's trailing dot
        ("postgresql.", "authentik"),
        ("::1", None),
        ("2001:db8::5", None),
    ],
)
def test_the_upstream_namespace_of_odd_host_names(host: str, namespace: str | None) -> None:
    assert upstream_namespace(host, "authentik") == namespace


def test_a_bare_service_name_is_in_the_stacks_namespace(stack: StackFiles) -> None:
    databases(stack, "authentik = host=postgresql port=5432 dbname=authentik\n")
    assert intent(stack).upstream_namespace == "authentik"


def test_a_refused_pod_is_shown_by_the_keys_the_rules_look_at(
    stack: StackFiles, prod_env: Environment
) -> None:
    """A selector of expressions only: the worker is shown by its component label alone."""
    stack.settings["network"] = network_intent(prod_env)
    only_server = {
        "matchExpressions": [
            {"key": "app.kubernetes.io/component", "operator": "In", "values": ["server"]}
        ]
    }
    stack.edit_one(
        "pgbouncer-networkpolicy.yaml",
        lambda np: np["spec"]["ingress"][0]["from"][0].update(podSelector=only_server),
    )
    assert whole(stack) == [
        (
            "spec.ingress",
            refused(
                "Deployment/goauthentik-worker -> Deployment/pgbouncer",
                "TCP 6432",
                "{app.kubernetes.io/component=worker} in namespace authentik",
                LOCKED_OUT,
            ),
        )
    ]


# --- lint --path: the world the files alone give ----------------------------------------------


def path_world(texts: dict[str, str]) -> StackWorld:
    settings = engine.Settings(chart_version_given=True)  # no environment: no network intent
    sources = classify(
        [SourceText(n, t, not n.endswith(".ini")) for n, t in sorted(texts.items())],
        engine.classifier(settings),
    )
    world = stack_world(
        Index(sources.objects, sources.values, sources.patches, sources.inis, settings)
    )
    assert world is not None
    return world


def pods_of(world: StackWorld) -> list[tuple[str, str]]:
    return sorted((p.namespace, p.name) for p in world.peers.values() if isinstance(p, Endpoint))


def test_the_files_alone_place_the_stack_in_pgbouncers_namespace(stack: StackFiles) -> None:
    world = path_world(stack.texts)
    assert world.intent == NetworkIntent("authentik", 6432, "dbaas", 5432)
    assert pods_of(world) == [
        ("akops-probe-elsewhere", "any-pod"),
        ("akops-probe-elsewhere", "goauthentik-server"),
        ("authentik", "ak-outpost-authentik-embedded-outpost"),
        ("authentik", "any-pod"),
        ("authentik", "goauthentik-server"),
        ("authentik", "goauthentik-worker"),
        ("authentik", "pgbouncer"),
        ("dbaas", "postgresql"),
    ]
    assert world.refs["outpost"] == "Deployment/ak-outpost-authentik-embedded-outpost"
    assert set(world.refs) == {
        "pgbouncer", "authentik-server", "authentik-worker", "outpost", "impostor",
        "neighbour", "elsewhere", "internet", "database",
    }  # fmt: skip
    # A bare service name in the ini is PgBouncer's own namespace.
    stack.ini(lambda ini: ini.replace("host=postgresql.dbaas", "host=postgresql"))
    assert path_world(stack.texts).intent.upstream_namespace == "authentik"


def test_a_pgbouncer_without_a_namespace_is_in_default(stack: StackFiles) -> None:
    stack.deployment(lambda d: d["metadata"].pop("namespace"))
    stack.ini(lambda ini: ini.replace("host=postgresql.dbaas", "host=postgresql"))
    world = path_world(stack.texts)
    assert world.intent.namespace == "default"
    assert world.intent.upstream_namespace == "default"
    assert ("default", "pgbouncer") in pods_of(world)
    assert ("default", "goauthentik-server") in pods_of(world)  # the chart's: the stack's


def test_the_outpost_peer_without_its_patches(stack: StackFiles) -> None:
    texts = dict(stack.texts)
    del texts["outpost-patches.yaml"]
    world = path_world(texts)  # Authentik's server runs the embedded outpost
    assert world.refs["outpost"] == "the outpost authentik-embedded-outpost"
    assert ("authentik", "ak-outpost-authentik-embedded-outpost") in pods_of(world)
    del texts["authentik-values.yaml"]
    assert set(path_world(texts).refs) == {
        "pgbouncer", "neighbour", "elsewhere", "internet", "database"
    }  # fmt: skip


@pytest.mark.parametrize(("name", "pod"), [("other", "ak-outpost-other"), ("", None)])
def test_the_outpost_peer_is_named_by_its_patches(
    stack: StackFiles, name: str, pod: str | None
) -> None:
    stack.edit_one("outpost-patches.yaml", lambda p: p.update(outpost=name))
    world = path_world(stack.texts)
    expected = pod or "ak-outpost-authentik-embedded-outpost"  # unnamed: the embedded one
    assert ("authentik", expected) in pods_of(world)
    assert world.refs["outpost"].startswith("Deployment/ak-outpost-")
