"""NetworkPolicy by meaning, proven with np-guard's netpol-analyzer (the real analyser).

np-guard's ``k8snetpolicy`` (built from its Go module, tools/go/netpol-analyzer) reads the
same objects lint's evaluator reads: the rendered PgBouncer policy, PgBouncer's pods as
rendered, Authentik's server and worker pods as the real chart renders them (``helm
template`` of the pinned chart with the rendered values), the outpost's pods with the
labels Authentik gives them, and the peers the environment names. Its connectivity table
must be the one the stack needs, every mutation of the policy must change it, and lint's
own evaluator must agree with it row for row on all of these and on a table of edge cases.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from akops import chart as charts
from akops.environment import Environment
from akops.errors import ToolMissingError
from akops.layout import Layout
from akops.lint import engine, network_intent
from akops.lint.documents import SourceText, classify
from akops.lint.index import Index
from akops.lint.reach import Cluster, Row, render_table
from akops.lint.rules.netpol import StackWorld, stack_world
from akops.render import render_env
from akops.tools import netpolicy
from tests.unit.lint.netpol_cases import ADDRESSES, CASES, Case
from tests.unit.lint.test_lint_reach import MUTATIONS, PROD_TABLE

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def analyzer() -> Path:
    """np-guard's k8snetpolicy, built once per machine (``python -m akops.tools go k8snetpolicy``)."""
    from akops.tools.gobuild import ensure_go_program

    try:
        return ensure_go_program(netpolicy.PROGRAM)
    except ToolMissingError as e:
        pytest.fail(f"no np-guard analyser for the tests: {e}", pytrace=False)


def real_world(texts: dict[str, str], env: Environment, helm: Path, chart: Path) -> StackWorld:
    """The stack's world with Authentik's pods as the real chart renders them."""
    out = charts.template(
        str(helm),
        chart,
        release=env.authentik.chart.release,
        namespace=env.kube.namespace,
        values_text=texts["authentik-values.yaml"],
    )
    chart_objects = classify([SourceText("helm template", out, True)]).objects
    assert {o.name for o in chart_objects if o.kind == "Deployment"} >= {
        "goauthentik-server",
        "goauthentik-worker",
    }
    settings = engine.Settings(
        chart_version_given=True, network=network_intent(env), chart_objects=chart_objects
    )
    sources = classify(
        [SourceText(n, t, not n.endswith(".ini")) for n, t in texts.items()],
        engine.classifier(settings),
    )
    world = stack_world(
        Index(sources.objects, sources.values, sources.patches, sources.inis, settings)
    )
    assert world is not None
    return world


def both_tables(world: StackWorld, analyzer: Path) -> tuple[frozenset[Row], frozenset[Row]]:
    """(np-guard's, the evaluator's) rows with PgBouncer at one end, on the same objects."""
    c = world.cluster
    probes = c.probe_connections()
    focus = [world.peers["pgbouncer"].key]
    policies = [copy.deepcopy(p.source.data) for p in c.policies]
    real = netpolicy.analyse(world.objects(policies), list(c.peers), probes, binary=analyzer)
    return frozenset(r for r in real if focus[0] in (r.source, r.destination)), c.table(
        probes, focus
    )


@pytest.mark.parametrize("env_name", ["prod", "lab"])
def test_the_real_analyser_reads_the_table_the_stack_needs(
    env_name: str, repo: Layout, analyzer: Path, real_helm: Path, pinned_chart: Path
) -> None:
    env, stack = render_env(repo, env_name)
    world = real_world(stack.by_name(), env, real_helm, pinned_chart)
    real, ours = both_tables(world, analyzer)
    expected = PROD_TABLE if env_name == "prod" else PROD_TABLE.replace("dbaas/", "lab/")
    assert set(render_table(real).splitlines()) == set(expected.splitlines())
    assert real == ours


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_every_mutation_changes_the_real_table_as_lint_says(
    name: str, repo: Layout, analyzer: Path, real_helm: Path, pinned_chart: Path
) -> None:
    env, stack = render_env(repo, "prod")
    texts = stack.by_name()
    import yaml

    policy = yaml.safe_load(texts["pgbouncer-networkpolicy.yaml"])
    edit, lost, gained = MUTATIONS[name]
    edit(policy["spec"])
    texts["pgbouncer-networkpolicy.yaml"] = yaml.safe_dump(policy, sort_keys=False)
    world = real_world(texts, env, real_helm, pinned_chart)
    real, ours = both_tables(world, analyzer)
    rows = set(render_table(real).splitlines())
    before = set(PROD_TABLE.splitlines())
    assert (before - rows, rows - before) == (lost, gained)
    assert real == ours


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_the_evaluator_agrees_with_the_real_analyser(case: Case, analyzer: Path) -> None:
    c: Cluster = case.cluster()
    asked = {case.connection(conn) for _, _, conn, _ in case.checks}
    probes = sorted({*c.probe_connections(), *asked}, key=lambda x: (x.protocol, x.port))
    real = netpolicy.analyse(case.objects(), [*c.peers], probes, binary=analyzer)
    ours = c.table(probes)
    assert sorted(real - ours) == [] and sorted(ours - real) == []
    # And the case's own verdicts are the real analyser's too.
    for src, dst, conn, expected in case.checks:
        row = Row(src, dst, conn)
        assert (row in real) is expected, row


def test_a_broken_policy_is_one_clear_error(analyzer: Path) -> None:
    policy = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "x", "namespace": "a"},
        "spec": {"podSelector": {"matchExpressions": [{"key": "app", "operator": "Bogus"}]}},
    }
    case = CASES[0]
    with pytest.raises(ToolMissingError, match=r"k8snetpolicy list failed: .*Bogus"):
        netpolicy.analyse([*case.objects(), policy], list(ADDRESSES), [], binary=analyzer)
