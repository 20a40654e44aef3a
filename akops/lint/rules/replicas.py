"""Replicas, disruption budgets, rollouts and node spread of critical workloads.

Rule: pure. The budget rules are stack rules: a PDB may sit in any file, so they run
once over everything kept, finding each workload's PDB through ``Index.budget_for``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from akops.lint.findings import CONVENTION_HA, Finding
from akops.lint.index import Index, at
from akops.lint.registry import finding, rule
from akops.lint.workloads import SERVER, Workload, anti_affinity_terms, selector_matches
from akops.quantities import scaled
from akops.yamldoc import dotted

MIN_REPLICAS = 3
MIN_PDB_AVAILABLE = 2
HOSTNAME = "kubernetes.io/hostname"


@rule(
    "replicas.minimum",
    "error",
    "critical-path workload runs fewer than 3 replicas",
    hint="run at least 3 replicas",
    why=CONVENTION_HA,
)
def replicas_minimum(ix: Index) -> Iterator[Finding]:
    for w in ix.workloads:
        if w.critical and w.long_running and w.replicas is not None and w.replicas < MIN_REPLICAS:
            yield at(
                w,
                "replicas.minimum",
                w.replicas_path,
                f"{w.ref} runs {w.replicas} replica(s); critical-path workloads run at least {MIN_REPLICAS}",
            )


@rule(
    "pdb.missing",
    "error",
    "critical-path workload has no PodDisruptionBudget",
    hint="add a PDB selecting the workload's pods (minAvailable 2 with 3 replicas)",
    why=CONVENTION_HA,
    scope="stack",
    keeps={"PodDisruptionBudget"},
)
def pdb_missing(ix: Index) -> Iterator[Finding]:
    for w in ix.workloads:
        if w.critical and w.long_running and w.replicas is not None and ix.budget_for(w) is None:
            where = (
                ("server" if w.role == SERVER else "worker", "pdb")
                if w.from_values
                else w.replicas_path
            )
            yield at(w, "pdb.missing", where, f"no PodDisruptionBudget selects the pods of {w.ref}")


def _budget_problem(budget_min: Any, budget_max: Any, replicas: int) -> tuple[str, str] | None:
    """The budget's field at fault and what is wrong with it, or None when it is sound."""
    if budget_max is None and budget_min is None:
        return "minAvailable", "sets neither minAvailable nor maxUnavailable"
    if budget_max is not None:
        allowed = scaled(budget_max, replicas, round_up=True)
        if allowed is None:
            return "maxUnavailable", "maxUnavailable is not an integer or percentage"
        if allowed < 1:
            return "maxUnavailable", f"maxUnavailable {allowed} blocks every node drain"
        if allowed >= replicas:
            return "maxUnavailable", f"maxUnavailable {allowed} lets all {replicas} pods go at once"
        return None
    floor = scaled(budget_min, replicas, round_up=True)
    if floor is None:
        return "minAvailable", "minAvailable is not an integer or percentage"
    if floor < MIN_PDB_AVAILABLE:
        return "minAvailable", (
            f"minAvailable {floor} with {replicas} replicas keeps fewer than "
            f"{MIN_PDB_AVAILABLE} pods serving during a drain"
        )
    if floor >= replicas:
        return (
            "minAvailable",
            f"minAvailable {floor} with {replicas} replicas blocks every node drain",
        )
    return None


@rule(
    "pdb.budget",
    "error",
    "PDB budget protects nothing or blocks every drain",
    hint="minAvailable >= 2 and below the replica count, or maxUnavailable >= 1",
    why=CONVENTION_HA,
    scope="stack",
    keeps={"PodDisruptionBudget"},
)
def pdb_budget(ix: Index) -> Iterator[Finding]:
    for w in ix.workloads:
        if not (w.critical and w.replicas is not None):
            continue
        budget = ix.budget_for(w)
        if budget is None:
            continue
        fault = _budget_problem(budget.min_available, budget.max_unavailable, w.replicas)
        if fault is not None:
            field, problem = fault
            src = budget.source
            path = (*budget.path, field)
            yield finding(
                "pdb.budget",
                f"{budget.ref}: {problem}",
                file=src.file,
                line=src.line(path),
                object=budget.ref,
                path=dotted(path),
            )


@rule(
    "pdb.rollout",
    "error",
    "the rolling update cannot progress, or breaks the PDB's promise while it does",
    hint="use RollingUpdate with maxUnavailable <= replicas - minAvailable and maxSurge + maxUnavailable >= 1",
    why=CONVENTION_HA,
    scope="stack",
    keeps={"PodDisruptionBudget"},
)
def pdb_rollout(ix: Index) -> Iterator[Finding]:
    for w in ix.workloads:
        if w.strategy is None or w.replicas is None or not w.critical:
            continue
        if w.strategy.get("type") == "Recreate":  # no type is RollingUpdate
            yield at(
                w,
                "pdb.rollout",
                w.strategy_path,
                f"{w.ref} uses Recreate: every pod stops before the new ones start",
            )
            continue
        given = w.strategy.get("rollingUpdate")
        rolling: dict[str, Any] = given if isinstance(given, dict) else {}
        surge = scaled(rolling.get("maxSurge", "25%"), w.replicas, round_up=True)
        down = scaled(rolling.get("maxUnavailable", "25%"), w.replicas, round_up=False)
        if surge is None or down is None:
            continue  # the schema reports malformed values
        if surge == 0 and down == 0:
            yield at(
                w,
                "pdb.rollout",
                w.strategy_path,
                f"{w.ref}: maxSurge 0 and maxUnavailable 0, the rollout cannot progress",
            )
            continue
        budget = ix.budget_for(w)
        if budget is None:
            continue
        if budget.max_unavailable is not None:
            allowed = scaled(budget.max_unavailable, w.replicas, round_up=True)
            promised = None if allowed is None else w.replicas - allowed
        else:
            promised = scaled(budget.min_available, w.replicas, round_up=True)
        if promised is not None and w.replicas - down < promised:
            yield at(
                w,
                "pdb.rollout",
                w.strategy_path,
                f"{w.ref}: a rollout takes {down} of {w.replicas} pods down at once, leaving "
                f"{w.replicas - down} while {budget.ref} promises {promised}",
            )


def _spreads_itself(w: Workload) -> bool:
    for term in anti_affinity_terms(w.affinity):
        if term.get("topologyKey") == HOSTNAME and selector_matches(
            term.get("labelSelector"), w.labels
        ):
            return True
    return any(
        t.get("topologyKey") == HOSTNAME and selector_matches(t.get("labelSelector"), w.labels)
        for t in w.spread
    )


@rule(
    "spread.nodes",
    "error",
    "multi-replica critical workload is not spread across nodes",
    hint="add pod anti-affinity or a topologySpreadConstraint on kubernetes.io/hostname "
    "selecting the workload's own pods",
    why="the seed's PgBouncer anti-affinity only repelled other pods; all replicas could share a node",
)
def spread_nodes(ix: Index) -> Iterator[Finding]:
    for w in ix.workloads:
        if not (w.critical and w.long_running and (w.replicas or 0) > 1) or _spreads_itself(w):
            continue
        others = list(anti_affinity_terms(w.affinity))
        if others:
            why = "its pod anti-affinity selects other pods, not its own replicas"
            path = w.affinity_path
        else:
            why = "no pod anti-affinity or topology spread on kubernetes.io/hostname selects its own pods"
            path = w.affinity_path if w.affinity else w.replicas_path
        yield at(
            w, "spread.nodes", path, f"{w.ref}: {w.replicas} replicas may share one node: {why}"
        )
