"""Runner semantics: concurrency, budgets, retries until the deadline, errors, exec timeouts, reports."""

from __future__ import annotations

import itertools
import json
import threading
import time
import xml.etree.ElementTree as ET

import pytest

from akops.errors import CallTimeout, ClusterError, ExecTimeout
from akops.verify import execute
from akops.verify.results import Result, Status, VerifyReport, failed, passed
from akops.verify.run import Job, run_jobs


def sleeper(seconds: float, log: list[tuple[float, float]]):
    def work():
        start = time.monotonic()
        time.sleep(seconds)
        log.append((start, time.monotonic()))
        return [passed("slept")]

    return work


def test_jobs_run_concurrently() -> None:
    log: list[tuple[float, float]] = []
    jobs = [Job((("http.live", f"t{i}"),), sleeper(0.3, log), timeout=5) for i in range(8)]
    results = run_jobs(jobs)
    assert [r.target for r in results] == [f"t{i}" for i in range(8)]  # job order, not finish order
    latest_start = max(s for s, _ in log)
    earliest_end = min(e for _, e in log)
    assert latest_start < earliest_end  # all eight were in flight at once


def test_workers_bound_the_concurrency() -> None:
    log: list[tuple[float, float]] = []
    run_jobs(
        [Job((("http.live", f"t{i}"),), sleeper(0.1, log), timeout=5) for i in range(4)], workers=1
    )
    spans = sorted(log)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))  # one at a time


def test_a_job_past_its_budget_fails_and_the_others_still_report() -> None:
    release = threading.Event()

    def hangs():
        release.wait(30)
        return [passed("late")]

    seen: list[Result] = []
    try:
        results = run_jobs(
            [
                Job((("db.pool-waiting", "bouncer"),), hangs, timeout=0.2),
                Job((("http.live", "x"),), lambda: [passed("ok")], 5),
            ],
            on_result=seen.append,
        )
    finally:
        release.set()
    hung, other = results
    assert hung.status is Status.FAIL and hung.detail == "no answer within 1.2s (abandoned)"
    assert other.status is Status.PASS
    assert {r.target for r in seen} == {"bouncer", "x"}


def test_convergence_checks_retry_until_they_pass() -> None:
    calls = []

    def converges_on_third():
        calls.append(time.monotonic())
        return [passed("3/3 ready") if len(calls) >= 3 else failed("1/3 ready")]

    [r] = run_jobs(
        [
            Job(
                (("rollout.converged", "Deployment/pgbouncer"),),
                converges_on_third,
                1,
                deadline=5,
                interval=0.05,
            )
        ]
    )
    assert (r.status, r.detail, r.attempts) == (Status.PASS, "3/3 ready", 3)


def test_convergence_checks_give_up_at_the_deadline() -> None:
    [r] = run_jobs(
        [
            Job(
                (("spread.replicas", "server"),),
                lambda: [failed("2/3 ready")],
                1,
                deadline=0.3,
                interval=0.05,
            )
        ]
    )
    assert r.status is Status.FAIL and r.detail == "2/3 ready"
    assert r.attempts >= 3
    assert 0.2 <= r.duration < 0.3 + 1.0


def test_checks_without_deadline_run_once() -> None:
    calls = []
    [r] = run_jobs([Job((("http.ready", "x"),), lambda: calls.append(1) or [failed("503")], 1)])
    assert (r.status, r.attempts, len(calls)) == (Status.FAIL, 1, 1)


def test_errors_in_a_check_become_results() -> None:
    def api_down():
        raise ClusterError("Deployment/pgbouncer: the API answered 500: boom")

    def bug():
        raise KeyError("oops")

    a, b = run_jobs(
        [Job((("rollout.converged", "a"),), api_down, 1), Job((("pdb.budget", "b"),), bug, 1)]
    )
    assert (a.status, a.detail) == (
        Status.ERROR,
        "Deployment/pgbouncer: the API answered 500: boom",
    )
    assert (b.status, b.detail) == (Status.ERROR, "KeyError: 'oops'")


def test_batched_job_yields_one_result_per_key() -> None:
    keys = (("shm.usage", "pod:/dev/shm"), ("pgbouncer.reachable", "pod -> pgbouncer:6432"))
    results = run_jobs([Job(keys, lambda: [passed("a"), failed("b")], 1)])
    assert [(r.check, r.status) for r in results] == [
        ("shm.usage", Status.PASS),
        ("pgbouncer.reachable", Status.FAIL),
    ]


def test_exec_timeout_kills_the_command_and_its_children(tmp_path) -> None:
    marker = tmp_path / "survived"
    host = execute.exec_host("local://", 0.5)
    start = time.monotonic()
    with pytest.raises(ExecTimeout, match=r"no answer within 0.5s"):
        host.run(execute_cmd(marker))
    assert time.monotonic() - start < 3
    time.sleep(1.2)
    assert not marker.exists()  # the backgrounded child was killed with the group


def execute_cmd(marker) -> str:
    from akops.verify.commands import sh

    return sh("(sleep 1; touch %s) & sleep 10", marker)


def test_timed_kubectl_host_builds_the_kubectl_exec_command() -> None:
    host = execute.exec_host(
        "kubectl://pod-0?namespace=authentik&container=proxy&context=nowhere", 5
    )
    assert host.argv("df -P /dev/shm") == [
        "kubectl", "--context", "nowhere", "-n", "authentik", "-c", "proxy",
        "exec", "pod-0", "--", "/bin/sh", "-c", "df -P /dev/shm",
    ]  # fmt: skip
    result = host.run("df -P /dev/shm")
    # no such context here: kubectl itself answers, quickly, and nothing hangs
    assert result.rc != 0 and "nowhere" in result.output


def report(*statuses: Status) -> VerifyReport:
    results = tuple(Result(f"c{i}", f"t{i}", s, f"d{i}", 0.5) for i, s in enumerate(statuses))
    return VerifyReport("prod", "cluster", results, 1.0, tuple(r.check for r in results))


def test_report_verdicts_and_exit_codes() -> None:
    assert report(Status.PASS, Status.SKIP).ok and report(Status.PASS).exit_code == 0
    assert not report(Status.PASS, Status.ERROR).ok
    assert report(Status.FAIL).exit_code == 1
    text = report(Status.PASS, Status.FAIL).to_text()
    assert text.splitlines()[-1] == "VERIFY RESULT: FAIL"
    assert text.index("c1") < text.index("c0")  # failures first


def test_a_run_that_only_skipped_evaluated_nothing_and_fails() -> None:
    r = report(Status.SKIP, Status.SKIP)
    assert not r.ok and r.verdict == "FAIL" and r.exit_code == 1 and r.evaluated == 0
    # the distinct reasons, once each
    assert r.reason() == "nothing was evaluated, every check was skipped: d0; d1"
    lines = r.to_text().splitlines()
    assert lines[-2:] == [r.reason(), "VERIFY RESULT: FAIL"]
    doc = json.loads(r.to_json())
    assert (doc["result"], doc["evaluated"], doc["reason"]) == ("FAIL", 0, r.reason())
    suite = ET.fromstring(r.to_junit()).find("testsuite")
    assert suite is not None
    assert [suite.get(k) for k in ("tests", "failures", "skipped")] == ["3", "1", "2"]
    case = suite.find("testcase[@classname='verify'][@name='evaluated']/failure")
    assert case is not None and case.get("message") == r.reason()


def test_a_run_with_no_results_is_not_a_pass() -> None:
    r = report()
    assert not r.ok and r.exit_code == 1
    assert r.reason() == "nothing was evaluated: no selected check runs on the cluster target"


def test_some_skips_beside_passes_still_pass() -> None:
    r = report(Status.PASS, Status.SKIP, Status.SKIP)
    assert r.ok and r.exit_code == 0 and r.evaluated == 1 and r.reason() is None
    assert r.to_text().splitlines()[-1] == "VERIFY RESULT: PASS"
    assert "d1" in r.to_text()  # the skip is still listed, with its reason
    assert json.loads(r.to_json())["reason"] is None
    suite = ET.fromstring(r.to_junit()).find("testsuite")
    assert suite is not None and suite.get("failures") == "0" and suite.get("tests") == "3"


def test_report_json_and_junit() -> None:
    r = report(Status.PASS, Status.FAIL, Status.ERROR, Status.SKIP)
    doc = json.loads(r.to_json())
    assert doc["result"] == "FAIL" and [x["status"] for x in doc["results"]] == [
        "PASS",
        "FAIL",
        "ERROR",
        "SKIP",
    ]
    suite = ET.fromstring(r.to_junit()).find("testsuite")
    assert suite is not None
    assert [suite.get(k) for k in ("tests", "failures", "errors", "skipped")] == [
        "4",
        "1",
        "1",
        "1",
    ]
    assert suite.find("testcase[@classname='c1']/failure").get("message") == "d1"


def test_bound_call_returns_raises_or_times_out() -> None:
    from akops.verify import bound

    assert bound.call(lambda: 42, 1) == 42
    with pytest.raises(KeyError):
        bound.call(lambda: {}["missing"], 1)
    release = threading.Event()
    with pytest.raises(CallTimeout, match=r"no answer within 0.2s \(query\)"):
        bound.call(lambda: release.wait(30), 0.2, "query")
    release.set()


def test_the_pool_is_sized_to_the_jobs_within_a_ceiling() -> None:
    from akops.errors import InputError
    from akops.verify.run import MAX_WORKERS, pool_size

    assert pool_size(250) == 250  # 30 pods + 200 services: one wave, not four
    assert pool_size(3) == 3
    assert pool_size(5000) == MAX_WORKERS
    assert pool_size(250, workers=8) == 8
    assert pool_size(0) == 1
    with pytest.raises(InputError, match="--workers 0: expected 1 to 1024"):
        pool_size(10, workers=0)


def test_more_jobs_than_the_old_fixed_pool_still_run_in_one_wave() -> None:
    # Every job waits until all 100 are running at once: a pool capped below the number of
    # jobs (the old fixed 64) would leave the barrier short and every waiting job failing.
    barrier = threading.Barrier(100)

    def meet() -> list:
        barrier.wait(timeout=20)
        return [passed("all running")]

    results = run_jobs([Job((("http.forward-auth", f"s{i}"),), meet, 30) for i in range(100)])
    assert [r.status for r in results] == [Status.PASS] * 100


# --- slots, the run's deadline, batches (issue 22) -------------------------------------------


def finishes(fn, within: float = 60):  # type: ignore[no-untyped-def]
    """``fn()``'s value, or an AssertionError if it has not returned within ``within`` s: a
    bound on a hang, not a timing assertion."""
    box: list[object] = []
    worker = threading.Thread(target=lambda: box.append(fn()), daemon=True)
    worker.start()
    worker.join(within)
    assert box, f"did not return within {within:g}s"
    return box[0]


def test_an_abandoned_job_gives_its_slot_to_the_next() -> None:
    # Before: the hung job kept its worker slot, so with --workers 1 the next job never
    # started and the run never ended.
    never = threading.Event()

    def hangs():
        never.wait()
        return [passed("never")]

    try:
        results = finishes(
            lambda: run_jobs(
                [
                    Job((("http.live", "hung"),), hangs, timeout=0.2),
                    Job((("http.ready", "next"),), lambda: [passed("ok")], timeout=5),
                ],
                workers=1,
            )
        )
    finally:
        never.set()
    hung, nxt = results
    assert (hung.status, nxt.status, nxt.detail) == (Status.FAIL, Status.PASS, "ok")
    assert "abandoned" in hung.detail


def test_the_runs_deadline_reports_every_unfinished_check() -> None:
    # Before: there was no overall deadline; a job that never returned held the run.
    never = threading.Event()

    def hangs():
        never.wait()
        return [passed("never")]

    try:
        results = finishes(
            lambda: run_jobs(
                [
                    Job((("http.live", "a"),), lambda: [passed("ok")], timeout=5),
                    Job((("http.ready", "b"),), hangs, timeout=600),
                    Job((("shm.usage", "c"),), lambda: [passed("ok")], timeout=5),
                ],
                workers=1,
                deadline=0.5,
            )
        )
    finally:
        never.set()
    a, b, c = results
    assert a.status is Status.PASS
    assert (b.status, b.detail) == (
        Status.FAIL,
        "no answer before the run's deadline of 0.5s (abandoned)",
    )
    assert (c.status, c.detail) == (
        Status.ERROR,
        "not run: the run's deadline of 0.5s passed first",
    )


def test_an_exec_probe_without_a_shell_never_reaches_a_batch(layout) -> None:  # type: ignore[no-untyped-def]
    # Before: the probe without a command was filtered out of the batch but its output was
    # split by the unfiltered count, so every later probe on that host read the wrong frame.
    from akops.environment import load_environment
    from akops.verify import run
    from akops.verify.check import LOCAL, Probe

    env = load_environment("prod", layout.environments)
    shm = {"path": "/", "threshold": 101}
    probes = (
        Probe("http.ready", "no-shell", "exec", LOCAL, {}),  # an observe check: no shell
        Probe("shm.usage", "first", "exec", LOCAL, shm),
        Probe("shm.usage", "second", "exec", LOCAL, {"path": "/nonexistent-akops", "threshold": 1}),
    )
    prepared = run.Prepared(
        env=env, target="local", checks=(), probes=probes, timeout=10, deadline=0
    )
    jobs, known = run.jobs_for(prepared)
    [bad] = known
    assert (bad.target, bad.status) == ("no-shell", Status.ERROR)
    assert "no shell command" in bad.detail
    [job] = jobs
    assert [t for _, t in job.keys] == ["first", "second"]
    first, second = job.work()
    assert first.status is Status.PASS and "% used" in first.detail
    assert second.status is not Status.PASS and "/nonexistent-akops" in second.detail
