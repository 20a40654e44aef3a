"""The deploy pipeline's orchestration: stage order, skips, the first failure's exit code (pure)."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from akops.cluster.deploy import confirm
from akops.cluster.pipeline import Skip, Stage, run_stages
from akops.errors import ClusterError, InputError, StepFailed


def clock() -> Callable[[], float]:
    ticks = itertools.count(0.0, 0.5)
    return lambda: next(ticks)


def test_all_stages_ok() -> None:
    ran: list[str] = []

    def stage(name: str) -> Stage:
        def run() -> str:
            ran.append(name)
            return f"{name} done"

        return Stage(name, run)

    stages = [stage(n) for n in ("render", "lint", "plan")]
    summary = run_stages(stages, clock=clock())
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

    stages = [
        Stage("render", lambda: "ok"),
        Stage("plan", lambda: fail(ClusterError("cannot reach the Kubernetes API"))),
        Stage("apply", lambda: ran.pop()),
        Stage("verify", lambda: fail(StepFailed("checks failed"))),
    ]
    summary = run_stages(stages, clock=clock())
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
    def lint() -> str:
        raise StepFailed("lint found errors")

    assert run_stages([Stage("lint", lint)]).exit_code == 1


def test_when_and_skip() -> None:
    def nothing() -> str:
        raise Skip("no Deployment changed")

    summary = run_stages(
        [
            Stage("apply", lambda: "x", when=lambda: "no changes"),
            Stage("rollout", nothing),
            Stage("verify", lambda: "passed", when=lambda: None),
        ]
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
