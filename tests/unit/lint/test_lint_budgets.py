"""Replicas, disruption budgets, rollouts and spread at their edges: the 1–2 replica
boundary, what is exempt (non-critical workloads, Jobs), budgets as maxUnavailable and as
percentages where rounding decides, and malformed values that must not crash the lint.

Each case is a small stack of its own (one Deployment, its PDB), so a finding can only
come from the rule under test.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from akops.lint.findings import Finding
from tests.unit.lint.small import Linted, job, lint

SPREAD = {
    "podAntiAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": [
            {
                "topologyKey": "kubernetes.io/hostname",
                "labelSelector": {"matchLabels": {"app": "pgbouncer"}},
            }
        ]
    }
}


def deployment(
    replicas: Any = 3,
    *,
    name: str = "pgbouncer",
    strategy: dict[str, Any] | None = None,
    affinity: dict[str, Any] | None = SPREAD,
    kind: str = "Deployment",
) -> dict[str, Any]:
    pod: dict[str, Any] = {
        "metadata": {"labels": {"app": name}},
        "spec": {"containers": [{"name": name, "image": "example/x:1"}]},
    }
    if affinity is not None:
        pod["spec"]["affinity"] = affinity
    spec: dict[str, Any] = {"selector": {"matchLabels": {"app": name}}, "template": pod}
    if replicas is not None:
        spec["replicas"] = replicas
    if strategy is not None:
        spec["strategy"] = strategy
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": "authentik"},
        "spec": spec,
    }


def pdb(name: str = "pgbouncer", **budget: Any) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "namespace": "authentik"},
        "spec": {"selector": {"matchLabels": {"app": name}}, **budget},
    }


def found(stack: Linted, rule: str) -> list[str]:
    return [f.message for f in stack.findings(rule)]


def one(stack: Linted, rule: str) -> Finding:
    got = stack.findings(rule)
    assert len(got) == 1, [f.message for f in got]
    return got[0]


# --- replicas.minimum, spread.nodes: the replica boundary ---------------------------------


@pytest.mark.parametrize(("replicas", "fails"), [(1, True), (2, True), (3, False)])
def test_replicas_minimum_boundary(replicas: int, fails: bool) -> None:
    stack = lint(deployment(replicas), pdb(minAvailable=2))
    messages = found(stack, "replicas.minimum")
    assert messages == (
        [f"Deployment/pgbouncer runs {replicas} replica(s); critical-path workloads run at least 3"]
        if fails
        else []
    )


@pytest.mark.parametrize(("replicas", "fails"), [(1, False), (2, True), (3, True)])
def test_spread_nodes_starts_at_two_replicas(replicas: int, fails: bool) -> None:
    stack = lint(deployment(replicas, affinity=None), pdb(minAvailable=2))
    messages = found(stack, "spread.nodes")
    assert messages == (
        [
            f"Deployment/pgbouncer: {replicas} replicas may share one node: no pod anti-affinity "
            "or topology spread on kubernetes.io/hostname selects its own pods"
        ]
        if fails
        else []
    )
    if fails:
        assert one(stack, "spread.nodes").path == "spec.replicas"


def test_spread_nodes_without_replicas_field_is_one_replica() -> None:
    assert found(lint(deployment(None, affinity=None)), "spread.nodes") == []


def test_spread_nodes_points_at_an_affinity_that_does_not_spread() -> None:
    affinity = {"nodeAffinity": {}}
    f = one(lint(deployment(3, affinity=affinity), pdb(minAvailable=2)), "spread.nodes")
    assert f.path == "spec.template.spec.affinity"
    assert f.message == (
        "Deployment/pgbouncer: 3 replicas may share one node: no pod anti-affinity or "
        "topology spread on kubernetes.io/hostname selects its own pods"
    )


def test_spread_nodes_by_another_topology_key_does_not_count() -> None:
    zone = {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {
                    "topologyKey": "topology.kubernetes.io/zone",
                    "labelSelector": {"matchLabels": {"app": "pgbouncer"}},
                }
            ]
        }
    }
    f = one(lint(deployment(3, affinity=zone), pdb(minAvailable=2)), "spread.nodes")
    assert f.message == (
        "Deployment/pgbouncer: 3 replicas may share one node: its pod anti-affinity selects "
        "other pods, not its own replicas"
    )
    assert f.path == "spec.template.spec.affinity"


# --- what is exempt ----------------------------------------------------------------------


def test_non_critical_workloads_are_exempt() -> None:
    other = deployment(1, name="web", affinity=None, strategy={"type": "Recreate"})
    stack = lint(other)
    for rule in ("replicas.minimum", "pdb.missing", "spread.nodes", "pdb.rollout"):
        assert found(stack, rule) == [], rule
    budget = lint(deployment(2, name="web"), pdb("web", minAvailable=2))
    assert found(budget, "pdb.budget") == []


def test_jobs_are_exempt_from_replicas_pdb_and_spread() -> None:
    migrate = job(
        "pgbouncer-migrate",
        containers=[{"name": "m", "image": "example/x:1"}],
        labels={"app": "pgbouncer"},
    )
    stack = lint(migrate)
    for rule in ("replicas.minimum", "pdb.missing", "spread.nodes", "pdb.rollout", "pdb.budget"):
        assert found(stack, rule) == [], rule


def test_a_critical_deployment_without_a_pdb_is_named() -> None:
    stack = lint(deployment(3))
    assert found(stack, "pdb.missing") == [
        "no PodDisruptionBudget selects the pods of Deployment/pgbouncer"
    ]
    assert one(stack, "pdb.missing").path == "spec.replicas"


# --- pdb.budget: maxUnavailable, percentages, malformed ----------------------------------


@pytest.mark.parametrize(
    ("replicas", "budget", "problem"),
    [
        (
            3,
            {"minAvailable": 1},
            "minAvailable 1 with 3 replicas keeps fewer than 2 pods serving during a drain",
        ),
        (3, {"minAvailable": 2}, None),
        (3, {"minAvailable": 3}, "minAvailable 3 with 3 replicas blocks every node drain"),
        (4, {"minAvailable": 3}, None),
        (3, {"minAvailable": "50%"}, None),  # 1.5 rounds up to 2
        (4, {"minAvailable": "50%"}, None),  # exactly 2
        (3, {"minAvailable": "34%"}, None),  # 1.02 rounds up to 2
        (
            3,
            {"minAvailable": "33%"},
            "minAvailable 1 with 3 replicas keeps fewer than 2 pods serving during a drain",
        ),
        (3, {"minAvailable": "67%"}, "minAvailable 3 with 3 replicas blocks every node drain"),
        (3, {"maxUnavailable": 1}, None),
        (3, {"maxUnavailable": 2}, None),
        (3, {"maxUnavailable": 0}, "maxUnavailable 0 blocks every node drain"),
        (3, {"maxUnavailable": 3}, "maxUnavailable 3 lets all 3 pods go at once"),
        (3, {"maxUnavailable": "34%"}, None),  # 1.02 rounds up to 2
        (3, {"maxUnavailable": "1%"}, None),  # rounds up to 1
        (3, {"maxUnavailable": "0%"}, "maxUnavailable 0 blocks every node drain"),
        (3, {"maxUnavailable": "100%"}, "maxUnavailable 3 lets all 3 pods go at once"),
        (3, {}, "sets neither minAvailable nor maxUnavailable"),
        (3, {"minAvailable": "two"}, "minAvailable is not an integer or percentage"),
        (3, {"minAvailable": "x%"}, "minAvailable is not an integer or percentage"),
        (3, {"maxUnavailable": True}, "maxUnavailable is not an integer or percentage"),
        (3, {"maxUnavailable": 1.5}, "maxUnavailable is not an integer or percentage"),
    ],
)
def test_pdb_budget(replicas: int, budget: dict[str, Any], problem: str | None) -> None:
    stack = lint(deployment(replicas), pdb(**budget))
    got = stack.findings("pdb.budget")
    if problem is None:
        assert got == []
        return
    assert [f.message for f in got] == [f"PodDisruptionBudget/pgbouncer: {problem}"]
    assert got[0].object == "PodDisruptionBudget/pgbouncer"
    field = "maxUnavailable" if "maxUnavailable" in budget else "minAvailable"
    assert got[0].path == f"spec.{field}"
    assert got[0].line > 0


def test_pdb_budget_of_a_workload_without_replicas_field() -> None:
    # No replicas field is one replica: minAvailable 2 blocks every drain.
    assert found(lint(deployment(None), pdb(minAvailable=2)), "pdb.budget") == [
        "PodDisruptionBudget/pgbouncer: minAvailable 2 with 1 replicas blocks every node drain"
    ]


# --- pdb.rollout: the PDB's promise, as minAvailable or maxUnavailable -------------------


def rolling(surge: Any, down: Any) -> dict[str, Any]:
    return {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": down}}


@pytest.mark.parametrize(
    ("strategy", "budget", "problem"),
    [
        # maxUnavailable 1 of 3 promises 2: one pod down at a time keeps it.
        (rolling(0, 1), {"maxUnavailable": 1}, None),
        (
            rolling(0, 2),
            {"maxUnavailable": 1},
            "a rollout takes 2 of 3 pods down at once, leaving 1 while "
            "PodDisruptionBudget/pgbouncer promises 2",
        ),
        (rolling(0, 2), {"maxUnavailable": 2}, None),
        (rolling(0, 1), {"maxUnavailable": "34%"}, None),  # promises 3 - 2 = 1
        (rolling(0, 2), {"maxUnavailable": "bad"}, None),  # pdb.budget reports it
        # percentages of the rollout round down (maxUnavailable) and up (maxSurge)
        (rolling(0, "50%"), {"minAvailable": 2}, None),  # 1.5 rounds down to 1
        (
            rolling(0, "67%"),
            {"minAvailable": 2},
            "a rollout takes 2 of 3 pods down at once, leaving 1 while "
            "PodDisruptionBudget/pgbouncer promises 2",
        ),
        (rolling("1%", 0), {"minAvailable": 3}, None),  # surge 1 (rounded up): progresses
        (
            rolling(0, "1%"),
            {"minAvailable": 2},
            "maxSurge 0 and maxUnavailable 0, the rollout cannot progress",
        ),
        (
            rolling(0, 1),
            {"minAvailable": "100%"},
            "a rollout takes 1 of 3 pods down at once, leaving 2 while "
            "PodDisruptionBudget/pgbouncer promises 3",
        ),
        ({"type": "RollingUpdate"}, {"minAvailable": 2}, None),  # 25 %: surge 1, down 0
        ({"type": "RollingUpdate", "rollingUpdate": "odd"}, {"minAvailable": 2}, None),
        ({}, {"minAvailable": 2}, None),
        (rolling(0, 1), {"minAvailable": "x%"}, None),  # pdb.budget reports it
    ],
)
def test_pdb_rollout(strategy: dict[str, Any], budget: dict[str, Any], problem: str | None) -> None:
    stack = lint(deployment(3, strategy=strategy), pdb(**budget))
    got = stack.findings("pdb.rollout")
    if problem is None:
        assert got == [], [f.message for f in got]
        return
    assert [f.message for f in got] == [f"Deployment/pgbouncer: {problem}"]
    assert got[0].path == "spec.strategy"


@pytest.mark.parametrize(
    ("surge", "down"),
    [("x", 1), (1, "y"), ("%", "%"), (None, 1), (True, 0), (1.5, 1), ("1.5", 0), ([1], {})],
)
def test_malformed_surge_or_unavailable_does_not_crash(surge: Any, down: Any) -> None:
    stack = lint(deployment(3, strategy=rolling(surge, down)), pdb(minAvailable=2))
    assert found(stack, "pdb.rollout") == []


def test_recreate_is_named_and_nothing_else_is_checked() -> None:
    stack = lint(deployment(3, strategy={"type": "Recreate"}))
    assert found(stack, "pdb.rollout") == [
        "Deployment/pgbouncer uses Recreate: every pod stops before the new ones start"
    ]


def test_a_rollout_that_cannot_progress_is_named_without_a_pdb() -> None:
    stack = lint(deployment(3, strategy=rolling(0, 0)))
    assert found(stack, "pdb.rollout") == [
        "Deployment/pgbouncer: maxSurge 0 and maxUnavailable 0, the rollout cannot progress"
    ]


def anti(term: dict[str, Any], preferred: bool = False) -> dict[str, Any]:
    if preferred:
        return {
            "podAntiAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 100, "podAffinityTerm": term}
                ]
            }
        }
    return {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}


OWN = {"matchLabels": {"app": "pgbouncer"}}
HOST = "kubernetes.io/hostname"


@pytest.mark.parametrize(
    ("affinity", "spreads"),
    [
        (anti({"topologyKey": HOST, "labelSelector": OWN}), True),
        (anti({"topologyKey": HOST, "labelSelector": OWN}, preferred=True), True),
        (anti({"topologyKey": HOST, "labelSelector": {}}), False),  # empty: selects nothing
        (anti({"topologyKey": HOST, "labelSelector": {"matchLabels": {"app": "x"}}}), False),
        (
            anti(
                {
                    "topologyKey": HOST,
                    "labelSelector": {
                        "matchExpressions": [
                            {"key": "app", "operator": "In", "values": ["pgbouncer"]}
                        ]
                    },
                }
            ),
            True,
        ),
        (
            anti(
                {
                    "topologyKey": HOST,
                    "labelSelector": {
                        "matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["x"]}]
                    },
                }
            ),
            True,
        ),
        (
            anti(
                {
                    "topologyKey": HOST,
                    "labelSelector": {
                        "matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]
                    },
                }
            ),
            False,
        ),
        (
            anti(
                {
                    "topologyKey": HOST,
                    "labelSelector": {"matchExpressions": [{"key": "tier", "operator": "Exists"}]},
                }
            ),
            False,
        ),
        ({"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": ["odd"]}}, False),
    ],
)
def test_spread_by_anti_affinity_must_select_the_workloads_own_pods(
    affinity: dict[str, Any], spreads: bool
) -> None:
    stack = lint(deployment(3, affinity=affinity), pdb(minAvailable=2))
    assert (found(stack, "spread.nodes") == []) == spreads


@pytest.mark.parametrize(
    ("constraint", "spreads"),
    [
        ({"topologyKey": HOST, "labelSelector": OWN}, True),
        ({"topologyKey": "topology.kubernetes.io/zone", "labelSelector": OWN}, False),
        ({"topologyKey": HOST, "labelSelector": {"matchLabels": {"app": "x"}}}, False),
    ],
)
def test_spread_by_topology_constraint(constraint: dict[str, Any], spreads: bool) -> None:
    d = deployment(3, affinity=None)
    d["spec"]["template"]["spec"]["topologySpreadConstraints"] = [
        {"maxSkew": 1, "whenUnsatisfiable": "DoNotSchedule", **constraint}
    ]
    assert (found(lint(d, pdb(minAvailable=2)), "spread.nodes") == []) == spreads


# --- one workload's verdict never hides the next one's -----------------------------------


def outpost(
    name: str, replicas: Any = 3, *, strategy: dict[str, Any] | None = None, spread: bool = True
) -> dict[str, Any]:
    """A critical Deployment of its own (an outpost, by its name), spread over nodes."""
    own = {"matchLabels": {"app": name}}
    affinity = anti({"topologyKey": HOST, "labelSelector": own}) if spread else None
    return deployment(replicas, name=name, strategy=strategy, affinity=affinity)


def critical_job(name: str = "ak-outpost-migrate") -> dict[str, Any]:
    """A critical workload without replicas (a Job): the replica rules pass it by."""
    return job(name, containers=[{"name": "m", "image": "x:1"}], labels={"app": name})


def test_pdb_budget_judges_every_workload_after_one_it_passes_by() -> None:
    stack = lint(
        critical_job(),  # no replicas: no budget to judge
        outpost("ak-outpost-a"),  # no PDB: pdb.missing's, not pdb.budget's
        outpost("ak-outpost-b"),
        pdb("ak-outpost-b", minAvailable=1),
    )
    assert found(stack, "pdb.budget") == [
        "PodDisruptionBudget/ak-outpost-b: minAvailable 1 with 3 replicas keeps fewer than "
        "2 pods serving during a drain"
    ]


def test_pdb_rollout_judges_every_workload_after_one_it_passes_by() -> None:
    statefulset = outpost("ak-outpost-s")
    statefulset["kind"] = "StatefulSet"  # replicas, but no Deployment strategy
    stack = lint(
        critical_job(),
        statefulset,
        outpost("ak-outpost-a", strategy={"type": "Recreate"}),
        outpost("ak-outpost-b", strategy=rolling("x", 1)),  # malformed: the schema's
        outpost("ak-outpost-c", strategy=rolling(0, 0)),
        outpost("ak-outpost-d", strategy=rolling(0, 2)),  # no PDB: nothing promised
        outpost("ak-outpost-e", strategy=rolling(0, 2)),
        pdb("ak-outpost-e", minAvailable=2),
    )
    assert found(stack, "pdb.rollout") == [
        "Deployment/ak-outpost-a uses Recreate: every pod stops before the new ones start",
        "Deployment/ak-outpost-c: maxSurge 0 and maxUnavailable 0, the rollout cannot progress",
        "Deployment/ak-outpost-e: a rollout takes 2 of 3 pods down at once, leaving 1 while "
        "PodDisruptionBudget/ak-outpost-e promises 2",
    ]


def test_spread_nodes_judges_every_workload_after_one_that_spreads() -> None:
    # spread.nodes is a file rule: both workloads in one file, the one that spreads first.
    one_file = yaml.safe_dump_all([outpost("ak-outpost-a"), outpost("ak-outpost-b", spread=False)])
    stack = lint(one_file)
    assert found(stack, "spread.nodes") == [
        "Deployment/ak-outpost-b: 3 replicas may share one node: no pod anti-affinity or "
        "topology spread on kubernetes.io/hostname selects its own pods"
    ]


@pytest.mark.parametrize(
    ("given", "budget", "problem"),
    [
        # maxUnavailable unset is 25 %, of 3 rounded down: 0; with maxSurge 0 nothing moves.
        ({"maxSurge": 0}, {"minAvailable": 2}, "maxSurge 0 and maxUnavailable 0"),
        # maxSurge unset is 25 % (rounded up: 1): the rollout is judged against the PDB.
        ({"maxUnavailable": 2}, {"minAvailable": 2}, "takes 2 of 3 pods down"),
    ],
)
def test_an_unset_surge_or_unavailable_is_25_percent(
    given: dict[str, Any], budget: dict[str, Any], problem: str
) -> None:
    strategy = {"type": "RollingUpdate", "rollingUpdate": given}
    messages = found(lint(deployment(3, strategy=strategy), pdb(**budget)), "pdb.rollout")
    assert len(messages) == 1 and problem in messages[0], messages


@pytest.mark.parametrize(
    ("down", "budget", "problem"),
    [
        # maxUnavailable "34%" of 3 is 1.02, rounded up to 2: the PDB promises only 1.
        (2, {"maxUnavailable": "34%"}, None),
        # minAvailable "50%" of 3 is 1.5, rounded up to 2: two down at once leaves 1.
        (2, {"minAvailable": "50%"}, "leaving 1 while PodDisruptionBudget/pgbouncer promises 2"),
    ],
)
def test_the_pdb_promise_rounds_percentages_up(
    down: int, budget: dict[str, Any], problem: str | None
) -> None:
    messages = found(lint(deployment(3, strategy=rolling(0, down)), pdb(**budget)), "pdb.rollout")
    if problem is None:
        assert messages == []
    else:
        assert len(messages) == 1 and messages[0].endswith(problem), messages
