"""NetworkPolicy by meaning: the connectivity table of the rendered stack, and the rule
``netpol.reach`` that holds it to what the stack needs.

The table is computed from the rendered objects (``akops.lint.reach``); a wrong pod label,
namespace selector or port in the rendered policy changes it, and lint fails. The
evaluator itself is held to np-guard's analyser on the same objects in
``tests/integration/security/test_netpol_analyzer.py``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from akops.environment import Environment, load_environment
from akops.layout import Layout
from akops.lint import engine, network_intent
from akops.lint.documents import SourceText, classify
from akops.lint.index import Index
from akops.lint.reach import Cluster, render_table
from akops.lint.rules.netpol import StackWorld, stack_world, upstream_namespace
from akops.render import render_env
from tests.unit.lint.conftest import StackFiles
from tests.unit.lint.netpol_cases import CASES, Case

# --- the semantics ---------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_kubernetes_networkpolicy_semantics(case: Case) -> None:
    c = case.cluster()
    wrong = [
        (src, dst, conn, expected)
        for src, dst, conn, expected in case.checks
        if bool(c.allowed(case.peer(c, src), case.peer(c, dst), case.connection(conn))) != expected
    ]
    assert wrong == []


# --- the rendered stack's table --------------------------------------------------------

PROD_TABLE = """\
authentik/goauthentik-server -> authentik/pgbouncer : TCP 6432
authentik/goauthentik-worker -> authentik/pgbouncer : TCP 6432
authentik/pgbouncer -> dbaas/postgresql : TCP 5432
authentik/pgbouncer -> kube-system/dns : TCP 53
authentik/pgbouncer -> kube-system/dns : UDP 53
monitoring/prometheus-server -> authentik/pgbouncer : TCP 9127
"""


def world_of(texts: dict[str, str], env: Environment) -> StackWorld:
    """The stack's world as ``lint --env`` builds it, from (possibly edited) rendered texts."""
    settings = engine.Settings(chart_version_given=True, network=network_intent(env))
    sources = classify(
        [SourceText(name, text, not name.endswith(".ini")) for name, text in texts.items()],
        engine.classifier(settings),
    )
    ix = Index(sources.objects, sources.values, sources.patches, sources.inis, settings)
    world = stack_world(ix)
    assert world is not None
    return world


def table(world: StackWorld) -> str:
    c = world.cluster
    return render_table(c.table(c.probe_connections(), focus=[world.peers["pgbouncer"].key]))


@pytest.fixture(scope="module")
def prod_env(layout: Layout) -> Environment:
    return load_environment("prod", layout.environments)


def test_prod_table_is_who_needs_what(prod_texts: dict[str, str], prod_env: Environment) -> None:
    # Only Authentik's server and worker reach PgBouncer, only on 6432; Prometheus' namespace
    # only the exporter; PgBouncer only the database's namespace on 5432 and DNS on 53.
    # Probed on every port a policy or pod names, its neighbours, 1, 80 and 65535, in TCP,
    # UDP and SCTP, from the outpost, another pod of authentik, a pod of another namespace
    # and an address outside the cluster too.
    assert table(world_of(prod_texts, prod_env)) == PROD_TABLE


def test_lab_table_follows_its_environment(layout: Layout) -> None:
    env, stack = render_env(layout, "lab")
    expected = _rows(PROD_TABLE.replace("dbaas/", "lab/"))
    assert _rows(table(world_of(stack.by_name(), env))) == expected


def test_a_node_local_dns_cache_is_an_address(layout: Layout, prod_env: Environment) -> None:
    data = prod_env.model_dump(mode="json")
    data["pgbouncer"]["network_policy"]["dns"] = {"address": "169.254.20.10"}
    env = Environment.model_validate(data)
    from akops.stack import render_stack

    texts = render_stack(env, layout.templates).by_name()
    assert "cidr: 169.254.20.10/32" in texts["pgbouncer-networkpolicy.yaml"]
    assert _rows(table(world_of(texts, env))) == _rows(
        PROD_TABLE.replace("kube-system/dns", "169.254.20.10")
    )
    stack = StackFiles(dict(texts))
    stack.settings["network"] = network_intent(env)
    assert stack.findings("netpol.reach") == []
    # The kube-dns policy where the environment says the DNS is a node-local cache.
    kube_dns = dict(texts)
    kube_dns["pgbouncer-networkpolicy.yaml"] = render_stack(prod_env, layout.templates).by_name()[
        "pgbouncer-networkpolicy.yaml"
    ]
    stack.texts = kube_dns
    found = stack.findings("netpol.reach")
    assert {f.message.split(" is refused")[0] for f in found} == {
        "Deployment/pgbouncer -> the node-local DNS cache 169.254.20.10 on UDP 53",
        "Deployment/pgbouncer -> the node-local DNS cache 169.254.20.10 on TCP 53",
    }
    assert "address: 169.254.20.10" in found[0].hint


@pytest.mark.parametrize(
    ("dns", "message"),
    [
        ({"address": "169.254.20.10", "namespace": "kube-system"}, "not both"),
        ({"address": "node-local"}, "is not an IP address"),
    ],
)
def test_the_dns_setting_is_validated(prod_env: Environment, dns: Any, message: str) -> None:
    data = prod_env.model_dump(mode="json", exclude_unset=True)
    data["pgbouncer"]["network_policy"] = {"dns": dns}
    with pytest.raises(ValidationError, match=message):
        Environment.model_validate(data)


# --- mutations of the rendered policy ----------------------------------------------------

Edit = Callable[[dict[str, Any]], None]


def _ingress(i: int) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda spec: spec["ingress"][i]


def _set(path: tuple[Any, ...], value: Any) -> Edit:
    def edit(spec: dict[str, Any]) -> None:
        node = spec
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return edit


AUTHENTIK = ("ingress", 0, "from", 0, "podSelector")
MUTATIONS: dict[str, tuple[Edit, set[str], set[str]]] = {
    # name: (edit of spec, rows lost, rows gained)
    "label": (
        _set((*AUTHENTIK, "matchLabels", "app.kubernetes.io/instance"), "authentik"),
        {
            "authentik/goauthentik-server -> authentik/pgbouncer : TCP 6432",
            "authentik/goauthentik-worker -> authentik/pgbouncer : TCP 6432",
        },
        set(),
    ),
    "component": (
        _set((*AUTHENTIK, "matchExpressions", 0, "values"), ["server"]),
        {"authentik/goauthentik-worker -> authentik/pgbouncer : TCP 6432"},
        set(),
    ),
    "client-port": (
        _set(("ingress", 0, "ports", 0, "port"), 6433),
        {
            "authentik/goauthentik-server -> authentik/pgbouncer : TCP 6432",
            "authentik/goauthentik-worker -> authentik/pgbouncer : TCP 6432",
        },
        {
            "authentik/goauthentik-server -> authentik/pgbouncer : TCP 6433",
            "authentik/goauthentik-worker -> authentik/pgbouncer : TCP 6433",
        },
    ),
    "client-namespace": (
        _set(
            ("ingress", 0, "from", 0, "namespaceSelector"),
            {"matchLabels": {"kubernetes.io/metadata.name": "goauthentik"}},
        ),
        {
            "authentik/goauthentik-server -> authentik/pgbouncer : TCP 6432",
            "authentik/goauthentik-worker -> authentik/pgbouncer : TCP 6432",
        },
        set(),
    ),
    "clients-from-everywhere": (
        _set(("ingress", 0, "from", 0, "namespaceSelector"), {}),
        set(),
        # Authentik's labels on a pod of any namespace now open PgBouncer.
        {"akops-probe-elsewhere/goauthentik-server -> authentik/pgbouncer : TCP 6432"},
    ),
    "scrape-namespace": (
        _set(
            ("ingress", 1, "from", 0, "namespaceSelector", "matchLabels"),
            {"kubernetes.io/metadata.name": "monitor"},
        ),
        {"monitoring/prometheus-server -> authentik/pgbouncer : TCP 9127"},
        set(),
    ),
    "scrape-from-every-namespace": (
        _set(("ingress", 1, "from", 0, "namespaceSelector"), {}),
        set(),
        {
            "authentik/any-pod -> authentik/pgbouncer : TCP 9127",
            "akops-probe-elsewhere/any-pod -> authentik/pgbouncer : TCP 9127",
            "authentik/ak-outpost-authentik-embedded-outpost -> authentik/pgbouncer : TCP 9127",
            "authentik/goauthentik-server -> authentik/pgbouncer : TCP 9127",
            "authentik/goauthentik-worker -> authentik/pgbouncer : TCP 9127",
            "akops-probe-elsewhere/goauthentik-server -> authentik/pgbouncer : TCP 9127",
            "dbaas/postgresql -> authentik/pgbouncer : TCP 9127",
            "kube-system/dns -> authentik/pgbouncer : TCP 9127",
        },
    ),
    "scrape-port": (
        _set(("ingress", 1, "ports", 0, "port"), 9187),
        {"monitoring/prometheus-server -> authentik/pgbouncer : TCP 9127"},
        {"monitoring/prometheus-server -> authentik/pgbouncer : TCP 9187"},
    ),
    "database-namespace": (
        _set(
            ("egress", 0, "to", 0, "namespaceSelector", "matchLabels"),
            {"kubernetes.io/metadata.name": "dbass"},
        ),
        {"authentik/pgbouncer -> dbaas/postgresql : TCP 5432"},
        set(),
    ),
    "database-port": (
        _set(("egress", 0, "ports", 0, "port"), 5433),
        {"authentik/pgbouncer -> dbaas/postgresql : TCP 5432"},
        {"authentik/pgbouncer -> dbaas/postgresql : TCP 5433"},
    ),
    "database-anywhere": (
        _set(("egress", 0, "to", 0, "namespaceSelector"), {}),
        set(),
        {
            "authentik/pgbouncer -> akops-probe-elsewhere/any-pod : TCP 5432",
            "authentik/pgbouncer -> authentik/any-pod : TCP 5432",
            "authentik/pgbouncer -> authentik/ak-outpost-authentik-embedded-outpost : TCP 5432",
            "authentik/pgbouncer -> authentik/goauthentik-server : TCP 5432",
            "authentik/pgbouncer -> authentik/goauthentik-worker : TCP 5432",
            "authentik/pgbouncer -> kube-system/dns : TCP 5432",
            "authentik/pgbouncer -> monitoring/prometheus-server : TCP 5432",
            "authentik/pgbouncer -> akops-probe-elsewhere/goauthentik-server : TCP 5432",
        },
    ),
    "dns-label": (
        _set(("egress", 1, "to", 0, "podSelector", "matchLabels"), {"k8s-app": "coredns"}),
        {
            "authentik/pgbouncer -> kube-system/dns : TCP 53",
            "authentik/pgbouncer -> kube-system/dns : UDP 53",
        },
        set(),
    ),
    "dns-udp": (
        _set(("egress", 1, "ports", 0, "protocol"), "TCP"),
        {"authentik/pgbouncer -> kube-system/dns : UDP 53"},
        set(),
    ),
}


def _rows(text: str) -> set[str]:
    return set(text.splitlines())


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_a_mutated_policy_changes_the_table_and_fails_lint(
    name: str, prod_texts: dict[str, str], prod_env: Environment, stack: StackFiles
) -> None:
    edit, lost, gained = MUTATIONS[name]
    stack.settings["network"] = network_intent(prod_env)
    assert stack.findings("netpol.reach") == []
    stack.edit_one("pgbouncer-networkpolicy.yaml", lambda np: edit(np["spec"]))
    after = table(world_of(stack.texts, prod_env))
    assert _rows(PROD_TABLE) - _rows(after) == lost
    assert _rows(after) - _rows(PROD_TABLE) == gained
    found = stack.findings("netpol.reach")
    assert found and all(f.severity == "error" and f.waived is None for f in found)
    assert all(f.object == "NetworkPolicy/pgbouncer" for f in found)
    assert not stack.lint().ok


def test_a_policy_that_selects_other_pods_leaves_pgbouncer_open(
    stack: StackFiles, prod_texts: dict[str, str], prod_env: Environment
) -> None:
    stack.settings["network"] = network_intent(prod_env)
    stack.edit_one(
        "pgbouncer-networkpolicy.yaml",
        lambda np: np["spec"].__setitem__("podSelector", {"matchLabels": {"app": "pgbouncr"}}),
    )
    after = _rows(table(world_of(stack.texts, prod_env)))
    assert (
        "authentik/ak-outpost-authentik-embedded-outpost -> authentik/pgbouncer : TCP 6432" in after
    )
    assert "authentik/pgbouncer -> 203.0.113.10 : TCP 443" in after
    # No policy selects PgBouncer: that is security.network-policy's finding.
    unwaived = [f for f in stack.findings("security.network-policy") if f.waived is None]
    assert [f.object for f in unwaived] == ["Deployment/pgbouncer"]
    assert stack.findings("netpol.reach") == []  # said once, by that rule


def test_a_policy_without_egress_lets_pgbouncer_reach_anything(
    stack: StackFiles, prod_texts: dict[str, str], prod_env: Environment
) -> None:
    stack.settings["network"] = network_intent(prod_env)
    stack.edit_one(
        "pgbouncer-networkpolicy.yaml", lambda np: np["spec"].update(policyTypes=["Ingress"])
    )
    after = _rows(table(world_of(stack.texts, prod_env)))
    assert "authentik/pgbouncer -> 203.0.113.10 : TCP 443" in after
    found = stack.findings("netpol.reach")
    assert {f.path for f in found} == {"spec.policyTypes"}
    assert any("an address outside the cluster" in f.message for f in found)


def test_the_outpost_admitted_is_named_with_the_rule(
    stack: StackFiles, prod_env: Environment
) -> None:
    stack.settings["network"] = network_intent(prod_env)

    def admit_outpost(np: dict[str, Any]) -> None:
        np["spec"]["ingress"][0]["from"].append(
            {
                "podSelector": {
                    "matchLabels": {"goauthentik.io/outpost-name": "authentik-embedded-outpost"}
                }
            }
        )

    stack.edit_one("pgbouncer-networkpolicy.yaml", admit_outpost)
    (f,) = stack.findings("netpol.reach")
    assert f.path == "spec.ingress[0]"
    assert f.message.startswith(
        "Deployment/ak-outpost-authentik-embedded-outpost -> Deployment/pgbouncer on TCP 6432 "
        "is admitted by NetworkPolicy/pgbouncer ingress rule 1"
    )


# --- lint --path: what the files tell ----------------------------------------------------


@pytest.mark.parametrize(
    ("host", "namespace"),
    [
        ("postgresql.dbaas", "dbaas"),
        ("postgresql.dbaas.svc", "dbaas"),
        ("postgresql.dbaas.svc.cluster.local", "dbaas"),
        ("postgresql", "authentik"),
        ("10.0.0.5", None),
        ("db.example.com", None),
    ],
)
def test_the_upstream_namespace_from_its_host_name(host: str, namespace: str | None) -> None:
    assert upstream_namespace(host, "authentik") == namespace


def test_without_an_environment_the_files_tell_the_upstream(stack: StackFiles) -> None:
    # `lint --path`: no monitoring namespace, no DNS target; the ini names the database.
    assert stack.findings("netpol.reach") == []
    stack.edit_one(
        "pgbouncer-networkpolicy.yaml",
        _set(("spec", "egress", 0, "ports", 0, "port"), 5433),
    )
    (f,) = stack.findings("netpol.reach")
    assert "the database (namespace dbaas, port 5432) on TCP 5432 is refused" in f.message
    stack.edit_one(
        "pgbouncer-networkpolicy.yaml",
        _set(
            (
                "spec",
                "ingress",
                0,
                "from",
                0,
                "podSelector",
                "matchLabels",
                "app.kubernetes.io/name",
            ),
            "ak",
        ),
    )
    assert len(stack.findings("netpol.reach")) == 3  # + server and worker locked out


def test_the_evaluator_reads_the_objects_np_guard_reads(
    prod_texts: dict[str, str], prod_env: Environment
) -> None:
    # The world as objects, read back, gives the same table: what the integration test
    # hands to np-guard is what lint judged.
    world = world_of(prod_texts, prod_env)
    policies = [copy.deepcopy(p.source.data) for p in world.cluster.policies]
    again = Cluster.from_objects(world.objects(policies), world.intent.namespace)
    focus = [world.peers["pgbouncer"].key]
    probes = world.cluster.probe_connections()
    rows = Cluster(again.namespaces, [*again.peers, world.peers["internet"]], again.policies)
    assert rows.table(probes, focus) == world.cluster.table(probes, focus)
