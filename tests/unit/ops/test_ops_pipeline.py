"""The pipelines' orchestration: stage order, skips, the first failure's exit code (pure)."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from akops.errors import ClusterError, InputError, StepFailed
from akops.ops.confirm import confirm
from akops.ops.pipeline import Skip, Stage, run_stages


def clock() -> Callable[[], float]:
    ticks = itertools.count(0.0, 0.5)
    return lambda: next(ticks)


def test_all_stages_ok() -> None:
    ran: list[str] = []

    def stage(name: str) -> Stage:
        def run(state: list[str]) -> str:
            state.append(name)
            return f"{name} done"

        return Stage(name, run)

    stages = [stage(n) for n in ("render", "lint", "plan")]
    summary = run_stages(stages, ran, clock=clock())
    assert ran == ["render", "lint", "plan"]
    assert summary.exit_code == 0 and summary.ok
    assert summary.to_text() == (
        "summary:\n"
        "  render  ok         0.5s  render done\n"
        "  lint    ok         0.5s  lint done\n"
        "  plan    ok         0.5s  plan done\n"
        "result: ok\n"
    )


def test_first_failure_decides_the_exit_code_and_the_rest_is_skipped() -> None:
    ran: list[str] = []

    def fail(error: Exception) -> str:
        raise error

    stages: list[Stage[list[str]]] = [
        Stage("render", lambda s: "ok"),
        Stage("plan", lambda s: fail(ClusterError("cannot reach the Kubernetes API"))),
        Stage("apply", lambda s: s.pop()),
        Stage("verify", lambda s: fail(StepFailed("checks failed"))),
    ]
    summary = run_stages(stages, ran, clock=clock())
    assert ran == []
    assert summary.exit_code == 2
    assert [(r.name, r.status) for r in summary.results] == [
        ("render", "ok"),
        ("plan", "failed"),
        ("apply", "skipped"),
        ("verify", "skipped"),
    ]
    assert summary.results[2].detail == "after plan failed"
    assert summary.to_text().endswith("result: failed at plan (exit 2)\n")


def test_step_failure_is_exit_1() -> None:
    def lint(state: None) -> str:
        raise StepFailed("lint found errors")

    summary = run_stages([Stage("lint", lint)], None)
    assert summary.exit_code == 1
    with pytest.raises(StepFailed, match="lint found errors"):
        summary.raise_failure()  # single operations re-raise the stage's own error


def test_when_and_skip() -> None:
    def nothing(state: None) -> str:
        raise Skip("no Deployment changed")

    summary = run_stages(
        [
            Stage("apply", lambda s: "x", when=lambda s: "no changes"),
            Stage("rollout", nothing),
            Stage("verify", lambda s: "passed", when=lambda s: None),
        ],
        None,
    )
    assert [(r.name, r.status, r.detail) for r in summary.results] == [
        ("apply", "skipped", "no changes"),
        ("rollout", "skipped", "no Deployment changed"),
        ("verify", "ok", "passed"),
    ]
    assert summary.exit_code == 0


def test_confirm() -> None:
    confirm("Apply?", yes=True, interactive=False)  # --yes needs no terminal
    with pytest.raises(InputError, match="stdin is not a terminal; pass --yes"):
        confirm("Apply?", yes=False, interactive=False)
    confirm("Apply?", yes=False, interactive=True, ask=lambda q: "yes")
    with pytest.raises(StepFailed, match="nothing was changed"):
        confirm("Apply?", yes=False, interactive=True, ask=lambda q: "y")

    def eof(q: str) -> str:
        raise EOFError

    with pytest.raises(StepFailed):
        confirm("Apply?", yes=False, interactive=True, ask=eof)


def test_apply_is_the_deploy_pipeline_without_lint_and_verify() -> None:
    from akops.ops import operations

    deploy = [(st.name, st.run, st.when) for st in operations.DEPLOY]
    assert [st[0] for st in deploy] == [
        "render", "lint", "plan", "confirm", "apply", "rollout", "verify",
    ]  # fmt: skip
    assert [(st.name, st.run, st.when) for st in operations.APPLY] == [
        st for st in deploy if st[0] not in ("lint", "verify")
    ]
    assert [st.name for st in operations.PLAN] == ["render", "plan"]
