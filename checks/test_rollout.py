"""Rollout floor, replicas and spread, PDBs (cluster target; retried until the deadline)."""

from __future__ import annotations

import pytest

from akops.verify import checks


@pytest.mark.check("rollout.converged")
def test_deployment_converged(probe, api, plan) -> None:
    outcome = checks.converge(lambda: checks.rollout_converged(api, **probe.args), plan.deadline)
    assert outcome.ok, outcome.detail


@pytest.mark.check("rollout.pods")
def test_no_pod_stuck(probe, api, plan) -> None:
    outcome = checks.converge(lambda: checks.rollout_pods(api, **probe.args), plan.deadline)
    assert outcome.ok, outcome.detail


@pytest.mark.check("spread.replicas")
def test_replicas_spread(probe, api, plan) -> None:
    outcome = checks.converge(lambda: checks.spread_replicas(api, **probe.args), plan.deadline)
    assert outcome.ok, outcome.detail


@pytest.mark.check("pdb.budget")
def test_pdb_budget(probe, api, plan) -> None:
    outcome = checks.converge(lambda: checks.pdb_budget(api, **probe.args), plan.deadline)
    assert outcome.ok, outcome.detail
