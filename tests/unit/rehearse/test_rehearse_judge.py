"""Expectations against observed timelines: each verdict says when and why."""

from __future__ import annotations

import pytest

from akops.environment import Environment, load_environment
from akops.layout import Layout
from akops.rehearse import judge
from akops.rehearse.scenario import Act
from akops.rehearse.timeline import ActRecord, CheckSample, Sample, Timeline
from akops.rehearse.topology import Scale

SCALE = Scale(10)


@pytest.fixture
def env(layout: Layout) -> Environment:
    return load_environment("prod", layout.environments)


def act(*expect: dict[str, object], run_runbook: bool = False) -> Act:
    return Act.model_validate(
        {
            "id": "a",
            "title": "A",
            "duration": 600,
            "run_runbook": run_runbook,
            "expect": list(expect),
        }
    )


def test_a_check_failing_in_time_holds_with_its_production_time(env: Environment) -> None:
    a = act({"id": "x", "title": "x", "check": "db.pool-waiting", "is": "fail", "within": 30})
    rec = ActRecord("a", start=0, fault=1.0, end=10)
    tl = Timeline(
        checks=[
            CheckSample(1.5, "db.pool-waiting", True, "ok"),
            CheckSample(3.0, "db.pool-waiting", False, "5 waiting"),
        ]
    )
    v = judge.judge_act(a, rec, tl, env, SCALE)[0]
    assert v.held and v.after == 20.0 and "5 waiting" in v.detail
    late = Timeline(checks=[CheckSample(5.0, "db.pool-waiting", False, "5 waiting")])
    v = judge.judge_act(a, rec, late, env, SCALE)[0]
    assert not v.held and "did not fail within 30 s" in v.detail


def test_a_deadline_from_the_environment(env: Environment) -> None:
    a = act(
        {
            "id": "g",
            "title": "g",
            "metric": "ghosts",
            "at_most": 0,
            "within": {"setting": "pgbouncer.settings.idle_transaction_timeout", "plus": 30},
        }
    )
    timeout = env.pgbouncer.settings.idle_transaction_timeout
    rec = ActRecord("a", start=0, fault=0.0, end=100)
    in_time = Timeline(samples=[Sample(1, {"ghosts": 1}), Sample(timeout / 10, {"ghosts": 0})])
    assert judge.judge_act(a, rec, in_time, env, SCALE)[0].held
    never = Timeline(samples=[Sample(t, {"ghosts": 1}) for t in range(0, 100, 5)])
    v = judge.judge_act(a, rec, never, env, SCALE)[0]
    assert not v.held and f"within {timeout + 30} s; lowest seen 1" in v.detail


def test_recovered_means_passing_until_the_end(env: Environment) -> None:
    a = act({"id": "r", "title": "r", "recovered": ["db.pool-waiting"], "within": 60})
    rec = ActRecord("a", start=0, fault=0.0, end=10)
    flaky = Timeline(
        checks=[
            CheckSample(1, "db.pool-waiting", True, ""),
            CheckSample(9, "db.pool-waiting", False, "waiting again"),
        ]
    )
    v = judge.judge_act(a, rec, flaky, env, SCALE)[0]
    assert not v.held and "still failing at the end: waiting again" in v.detail
    good = Timeline(
        checks=[
            CheckSample(1, "db.pool-waiting", False, ""),
            CheckSample(2, "db.pool-waiting", True, ""),
            CheckSample(9, "db.pool-waiting", True, ""),
        ]
    )
    v = judge.judge_act(a, rec, good, env, SCALE)[0]
    assert v.held and v.after == 20.0
    slow = Timeline(
        checks=[
            CheckSample(7, "db.pool-waiting", False, ""),
            CheckSample(8, "db.pool-waiting", True, ""),
        ]
    )
    assert not judge.judge_act(a, rec, slow, env, SCALE)[0].held


def test_runbook_and_step_expectations(env: Environment) -> None:
    a = act(
        {"id": "rb", "title": "rb", "runbook": "succeeded"},
        {"id": "st", "title": "st", "step": "terminate"},
        run_runbook=True,
    )
    rec = ActRecord(
        "a", start=0, fault=0, runbook_status="succeeded", runbook_steps={"terminate": "skipped"}
    )
    rb, st = judge.judge_act(a, rec, Timeline(), env, SCALE)
    assert rb.held and not st.held and "terminate skipped" in st.detail


def test_after_runbook_without_a_runbook_run_fails(env: Environment) -> None:
    a = act(
        {
            "id": "r",
            "title": "r",
            "recovered": ["db.pool-waiting"],
            "within": 60,
            "after": "runbook",
        },
        run_runbook=True,
    )
    v = judge.judge_act(a, ActRecord("a", start=0, fault=0), Timeline(), env, SCALE)[0]
    assert not v.held and "did not run" in v.detail


def test_first_detection() -> None:
    rec = ActRecord("a", start=0, fault=2.0, end=10)
    tl = Timeline(checks=[CheckSample(1, "x", False, ""), CheckSample(4, "x", False, "")])
    assert judge.first_detection(rec, tl, SCALE) == 20.0
    assert judge.first_detection(ActRecord("a", start=0), tl, SCALE) is None


def test_throughout_holds_only_when_every_sample_keeps_the_bound(env: Environment) -> None:
    a = act(
        {
            "id": "e",
            "title": "e",
            "metric": "errors",
            "at_most": 0,
            "throughout": True,
            "within": 60,
        }
    )
    rec = ActRecord("a", start=0, fault=0.0, end=10)
    clean = Timeline(samples=[Sample(t, {"errors": 0}) for t in range(0, 6)])
    v = judge.judge_act(a, rec, clean, env, SCALE)[0]
    assert v.held and "in all 6 samples" in v.detail
    one = Timeline(
        samples=[Sample(1, {"errors": 0}), Sample(2, {"errors": 3}), Sample(3, {"errors": 0})]
    )
    v = judge.judge_act(a, rec, one, env, SCALE)[0]
    assert not v.held and "errors = 3 at 20 s" in v.detail
    late = Timeline(samples=[Sample(1, {"errors": 0}), Sample(7, {"errors": 3})])
    assert judge.judge_act(a, rec, late, env, SCALE)[0].held  # after the deadline: not judged
