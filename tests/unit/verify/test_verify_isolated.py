"""``pgbouncer.isolated``: the pure verdict on a connect from a pod that must be kept out,
and its probes (outpost pods only, never locally, skipped with the environment's waiver)."""

from __future__ import annotations

import pytest

from akops.environment import load_environment
from akops.verify import probes, registry
from akops.verify.check import Options, Pod
from akops.verify.checks import pgbouncer
from akops.verify.commands import ExecResult
from akops.verify.results import Status

A = "pgbouncer:6432"


@pytest.mark.parametrize(
    ("result", "status", "detail"),
    [
        # allowed: the policy is missing or not enforced
        (ExecResult(0, ""), Status.FAIL, "TCP connect to pgbouncer:6432 succeeded: this pod"),
        # blocked, as the CNI reports it
        (ExecResult(1, "", "bash: connect: Connection refused"), Status.PASS, "blocked: bash"),
        (ExecResult(124, ""), Status.PASS, "timed out: blocked"),
        (ExecResult(1, "nc: connect to pgbouncer port 6432 (tcp) timed out"), Status.PASS, "blocked"),
        (ExecResult(1, "", "bash: connect: No route to host"), Status.PASS, "No route to host"),
        (ExecResult(1, ""), Status.PASS, "connect failed, exit 1"),  # nc -z: silent
        # proves nothing
        (ExecResult(1, "nc: bad address 'pgbouncer'"), Status.ERROR, "cannot resolve"),
        (
            ExecResult(1, "", "bash: pgbouncer: Name or service not known"),
            Status.ERROR,
            "cannot resolve",
        ),
        (ExecResult(127, "neither nc nor bash in this container"), Status.ERROR, "cannot test"),
        (ExecResult(2, "sh: syntax error"), Status.ERROR, "another reason"),
    ],
    ids=["connected", "refused", "timeout-124", "nc-timed-out", "no-route", "nc-silent",
         "busybox-dns", "bash-dns", "no-tool", "other"],
)  # fmt: skip
def test_isolated_verdicts(result: ExecResult, status: Status, detail: str) -> None:
    outcome = pgbouncer.isolated(result, A)
    assert outcome.status is status
    assert detail in outcome.detail


def outpost_pods(n: int) -> list[Pod]:
    return [Pod(f"outpost-{i}", "authentik", "proxy", f"node{i}") for i in range(n)]


def plan(env, target="cluster", pods=None):  # type: ignore[no-untyped-def]
    subject = probes.subject(env, target, Options(), pods or {}, "ctx", None)
    return [p for p in probes.build(subject, registry.select()) if p.check == "pgbouncer.isolated"]


@pytest.fixture
def prod(layout):  # type: ignore[no-untyped-def]
    return load_environment("prod", layout.environments)


def test_probes_exec_into_each_outpost_pod(prod) -> None:  # type: ignore[no-untyped-def]
    planned = plan(prod, pods={"outpost": outpost_pods(2)})
    assert [p.target for p in planned] == [f"outpost-{i} -> pgbouncer:6432" for i in range(2)]
    assert {p.kind for p in planned} == {"exec"}
    assert all("container=proxy" in (p.host or "") for p in planned)
    check = registry.BY_ID["pgbouncer.isolated"]
    assert check.scope == "cluster" and check.roles == ("outpost",)


def test_no_outpost_pod_is_a_failing_row(prod) -> None:  # type: ignore[no-untyped-def]
    (p,) = plan(prod)
    assert p.kind == "absent"


def test_a_waived_policy_skips_with_its_reason(prod) -> None:  # type: ignore[no-untyped-def]
    policy = prod.pgbouncer.network_policy.model_copy(
        update={"enabled": False, "waiver": "the lab CNI enforces no policy"}
    )
    waived = prod.model_copy(
        update={"pgbouncer": prod.pgbouncer.model_copy(update={"network_policy": policy})}
    )
    (p,) = plan(waived, pods={"outpost": outpost_pods(1)})
    assert p.kind == "skip" and "the lab CNI enforces no policy" in p.args["why"]


def test_never_planned_on_the_local_target(prod) -> None:  # type: ignore[no-untyped-def]
    assert "pgbouncer.isolated" not in {c.id for c in registry.REGISTRY if c.scope == "any"}
