"""Executor semantics against the drill runbook: real subprocesses, real transcripts."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from akops.runbook import store

from .drill import CANARY, PY, Answers, Drill

pytestmark = pytest.mark.integration


def results(result: object) -> dict[str, str]:
    t = result.transcript  # type: ignore[attr-defined]
    return {rec.step: rec.result for rec in t.attempts[-1].steps}


def test_runs_steps_in_order_and_goes_on_where_a_step_allows(drill: Drill) -> None:
    drill.flag.touch()
    result, out = drill.run(yes=True)
    assert result.status == "succeeded"
    assert drill.ran() == ["first", "flaky", "change", "gate", "secret", "last"]
    assert results(result) == {
        "first": "passed",
        "flaky": "failed",
        "change": "passed",
        "gate": "passed",
        "secret": "passed",
        "last": "passed",
    }
    assert "hello lab" in out  # the input default, rendered from the environment
    flaky = result.transcript.attempts[0].steps[1]
    assert flaky.exit_code == 3
    assert "allows going on" in out


def test_stops_at_the_first_failure(drill: Drill) -> None:
    result, out = drill.run(yes=True)
    assert result.status == "failed"
    assert drill.ran() == ["first", "flaky", "change", "gate"]
    assert list(results(result)) == ["first", "flaky", "change", "gate"]
    assert results(result)["gate"] == "failed"
    assert "create the flag file, then resume" in out  # the step's on_failure advice
    assert "--resume" in out


def test_dry_run_runs_no_changing_step(drill: Drill) -> None:
    drill.flag.touch()
    result, _ = drill.run(dry_run=True)
    assert result.status == "succeeded"
    assert "change" not in drill.ran() and "last" not in drill.ran()
    assert drill.ran() == ["first", "flaky", "gate", "secret"]
    r = results(result)
    assert r["change"] == r["last"] == "would-run"
    assert result.transcript.attempts[0].dry_run
    # It still says exactly what the changing step would run.
    change = result.transcript.attempts[0].steps[2]
    assert change.command is not None and change.command[0] == PY


def test_refuses_a_changing_step_when_nobody_can_confirm(drill: Drill) -> None:
    result, out = drill.run()  # not interactive, no --yes
    assert result.status == "refused"
    assert drill.ran() == ["first", "flaky"]
    assert results(result)["change"] == "refused"
    assert "--yes" in out


def test_asks_before_each_changing_step_and_stops_when_declined(drill: Drill) -> None:
    drill.flag.touch()
    operator = Answers(replies=["y", "n"])
    result, _ = drill.run(operator=operator)
    assert len(operator.asked) == 2 and all("changes something" in q.text for q in operator.asked)
    assert result.status == "stopped"
    assert drill.ran() == ["first", "flaky", "change", "gate", "secret"]
    assert results(result)["last"] == "declined"


def test_resume_continues_from_the_failed_step_and_keeps_both_attempts(drill: Drill) -> None:
    first, _ = drill.run(yes=True)
    assert first.status == "failed"
    drill.flag.touch()
    second, _ = drill.run(yes=True, resume=True)
    assert second.status == "succeeded"
    assert second.json_path == first.json_path  # the same run, one more attempt
    # Steps before the failed one did not run again.
    assert drill.ran() == ["first", "flaky", "change", "gate", "gate", "secret", "last"]
    saved = store.load(second.json_path)
    assert [a.status for a in saved.attempts] == ["failed", "succeeded"]
    assert saved.attempts[1].resumed_from == "gate"
    assert [r.step for r in saved.attempts[1].steps] == ["gate", "secret", "last"]
    md = second.md_path.read_text()
    assert "## Attempt 1: failed" in md and "## Attempt 2: succeeded" in md
    assert "resumed from step `gate`" in md
    assert md.index("Attempt 1") < md.index("Attempt 2")


def test_resume_without_a_stopped_run_is_an_error(drill: Drill) -> None:
    from akops.errors import RunbookError

    with pytest.raises(RunbookError, match="no stopped run"):
        drill.run(yes=True, resume=True)
    drill.flag.touch()
    drill.run(yes=True)
    with pytest.raises(RunbookError, match="no stopped run"):
        drill.run(yes=True, resume=True)


def test_a_secret_never_reaches_output_or_transcript(
    drill: Drill, runs_text: Callable[[Path], str]
) -> None:
    drill.flag.touch()
    result, out = drill.run(yes=True)
    assert result.status == "succeeded"
    assert CANARY not in out
    assert "password is ***" in out
    stored = runs_text(drill.runs)
    assert CANARY not in stored
    assert "password is ***" in stored


def test_a_step_past_its_timeout_is_stopped_with_its_children(drill: Drill, tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    script = tmp_path / "slow.py"
    script.write_text(
        "import subprocess, sys, time\n"
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pidfile)!r}, 'w').write(str(p.pid))\n"
        "print('started', flush=True)\n"
        "time.sleep(60)\n"
    )
    drill.write(
        "slow",
        f"""
title: Slow
summary: a step that outlives its timeout
when: {{symptoms: [test]}}
steps:
  - id: sleep
    title: Sleeps
    why: timeout
    timeout: 1
    command: [{json.dumps(PY)}, {json.dumps(str(script))}]
    changes: false
    on_failure: wait longer
""",
    )
    t0 = time.monotonic()
    result, _ = drill.run("slow")
    assert time.monotonic() - t0 < 15
    assert result.status == "failed"
    rec = result.transcript.attempts[0].steps[0]
    assert rec.result == "timed-out"
    assert "started" in rec.output
    grandchild = int(pidfile.read_text())
    assert (
        not Path(f"/proc/{grandchild}").exists()
        or "Z" in Path(f"/proc/{grandchild}/stat").read_text().split()[2]
    )


def test_decisions_pick_the_next_step(drill: Drill) -> None:
    drill.write(
        "branch",
        f"""
title: Branch
summary: a decision
when: {{symptoms: [test]}}
steps:
  - id: ask
    title: Which way?
    why: branching
    decision:
      question: "Go left or right on {{{{ env.name }}}}?"
      choices: {{left: left, right: right}}
      default: right
  - id: left
    title: Left
    why: one branch
    command: [{json.dumps(PY)}, -c, "import os; open(os.environ['DRILL_LOG'],'a').write('left\\\\n')"]
    changes: false
    on_failure: none
    next: end
  - id: right
    title: Right
    why: the other
    command: [{json.dumps(PY)}, -c, "import os; open(os.environ['DRILL_LOG'],'a').write('right\\\\n')"]
    changes: false
    on_failure: none
    next: left
""",
    )
    result, _ = drill.run("branch", operator=Answers(replies=["left"]))
    assert drill.ran() == ["left"]
    assert result.transcript.attempts[0].steps[0].answer == "left"
    drill.log.unlink()
    result, _ = drill.run("branch", yes=True)  # --yes takes the default answer
    assert drill.ran() == ["right", "left"]
    assert "default answer" in result.transcript.attempts[0].steps[0].note


def test_a_captured_value_feeds_later_steps_and_when_skips_on_empty(drill: Drill) -> None:
    drill.write(
        "capture",
        f"""
title: Capture
summary: capture and when
when: {{symptoms: [test]}}
steps:
  - id: find
    title: Finds PIDs
    why: capture
    command: [{json.dumps(PY)}, -c, "print('12,34')"]
    capture: {{name: pids, pattern: '^([0-9]+(,[0-9]+)*)?$'}}
    changes: false
    on_failure: none
  - id: none
    title: Finds nothing
    why: capture empty
    command: [{json.dumps(PY)}, -c, "print('')"]
    capture: {{name: nothing}}
    changes: false
    on_failure: none
  - id: use
    title: Uses them
    why: template
    when: "{{{{ vars.pids }}}}"
    command: [{json.dumps(PY)}, -c, "import sys; print('got', sys.argv[1])", "{{{{ vars.pids }}}}"]
    changes: false
    on_failure: none
  - id: skipped
    title: Skipped when nothing was found
    why: when
    when: "{{{{ vars.nothing }}}}"
    command: [{json.dumps(PY)}, -c, "raise SystemExit(9)"]
    changes: false
    on_failure: none
""",
    )
    result, _ = drill.run("capture")
    assert result.status == "succeeded"
    steps = {r.step: r for r in result.transcript.attempts[0].steps}
    assert steps["find"].captured == {"pids": "12,34"}
    assert steps["use"].output == "got 12,34"
    assert steps["skipped"].result == "skipped"


def test_a_capture_that_does_not_match_its_pattern_fails_the_step(drill: Drill) -> None:
    drill.write(
        "badcapture",
        f"""
title: Bad capture
summary: capture pattern
when: {{symptoms: [test]}}
steps:
  - id: find
    title: Finds PIDs
    why: capture
    command: [{json.dumps(PY)}, -c, "print('1; DROP TABLE x')"]
    capture: {{name: pids, pattern: '^[0-9,]*$'}}
    changes: false
    on_failure: none
""",
    )
    result, _ = drill.run("badcapture")
    assert result.status == "failed"
    assert "does not match" in result.transcript.attempts[0].steps[0].note


def test_templated_arguments_stay_single_arguments(drill: Drill) -> None:
    drill.write(
        "argv",
        f"""
title: Argv
summary: no shell
when: {{symptoms: [test]}}
inputs:
  - {{name: value, description: anything}}
steps:
  - id: echo
    title: Echo argv
    why: argv stays a list
    command: [{json.dumps(PY)}, -c, "import sys, json; print(json.dumps(sys.argv[1:]))", "{{{{ inputs.value }}}}"]
    changes: false
    on_failure: none
""",
    )
    hostile = "x; touch pwned $(id) `id`"
    result, _ = drill.run("argv", inputs={"value": hostile})
    assert json.loads(result.transcript.attempts[0].steps[0].output) == [hostile]
    assert not (Path.cwd() / "pwned").exists()


def test_skip_records_the_step_as_skipped(drill: Drill) -> None:
    drill.flag.touch()
    result, _ = drill.run(yes=True, skip=frozenset({"change"}))
    assert "change" not in drill.ran()
    rec = {r.step: r for r in result.transcript.attempts[0].steps}["change"]
    assert rec.result == "skipped" and "--skip" in rec.note


def test_transcript_has_who_when_where_and_each_command(drill: Drill) -> None:
    drill.flag.touch()
    result, _ = drill.run(yes=True)
    data = json.loads(result.json_path.read_text())
    for key in (
        "run_id",
        "runbook",
        "env",
        "user",
        "host",
        "revision",
        "started",
        "inputs",
        "attempts",
    ):
        assert data[key], key
    assert data["env"] == "lab" and data["runbook"] == "drill"
    step = data["attempts"][0]["steps"][0]
    for key in ("command", "output", "duration", "result", "started", "exit_code"):
        assert key in step
    assert step["output"] == "hello lab"
    md = result.md_path.read_text()
    assert "| environment | `lab` |" in md and "hello lab" in md
    assert sys.executable in md  # each step's command


def test_every_secret_of_the_environment_is_masked(
    drill: Drill, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The outpost API token is a SecretRef outside `secrets:`; a step that happens to print it
    # (here: from the environment it inherits) must not show it either.
    from akops.environment import OutpostApi, SecretRef

    token = "canary-token-Vb81mQ"
    outpost = drill.env.authentik.outpost.model_copy(
        update={
            "api": OutpostApi(
                enabled=True, url="http://127.0.0.1:9", token=SecretRef(env="DRILL_TOKEN")
            )
        }
    )
    authentik = drill.env.authentik.model_copy(update={"outpost": outpost})
    drill.env = drill.env.model_copy(update={"authentik": authentik})
    drill.write(
        "leak",
        f"""
title: Leak
summary: prints an inherited secret
when: {{symptoms: [test]}}
steps:
  - id: env
    title: Prints the token
    why: masking
    command: [{json.dumps(PY)}, -c, "import os; print('token=' + os.environ['DRILL_TOKEN'])"]
    changes: false
    on_failure: none
""",
    )
    monkeypatch.setenv("DRILL_TOKEN", token)
    result, out = drill.run("leak")
    assert result.status == "succeeded"
    assert token not in out and "token=***" in out
    assert token not in result.json_path.read_text() + result.md_path.read_text()


def test_a_resume_notes_that_the_runbook_changed_in_between(drill: Drill) -> None:
    first, _ = drill.run(yes=True)
    assert first.status == "failed"
    path = drill.runbooks / "drill.yaml"
    path.write_text(path.read_text().replace("why: shows order", "why: shows the order"))
    drill.flag.touch()
    second, out = drill.run(yes=True, resume=True)
    assert second.status == "succeeded"
    assert "changed since attempt 1" in second.transcript.attempts[1].note
    assert "changed since attempt 1" in out


def test_a_step_that_could_not_run_is_not_given_its_failure_advice(
    drill: Drill, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The check cannot even start (no kubeconfig): exit 2, "could not run". Its on_failure
    # text is about a real finding and would send the operator after the wrong problem.
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-such-kubeconfig"))
    drill.write(
        "cannot",
        """\
name: cannot
title: A check that cannot run
summary: exit 2 from a check step
when:
  symptoms: [a test]
steps:
  - id: converged
    title: The stack has converged
    why: the check needs the cluster
    changes: false
    check: rollout.converged
    on_failure: Look at the rollout of the Deployment named in the table.
""",
    )
    result, out = drill.run("cannot", yes=True)
    assert result.status == "failed"
    (rec,) = result.transcript.attempts[-1].steps
    assert (rec.result, rec.exit_code) == ("failed", 2)
    assert "Could not run (exit 2)" in out
    assert "Look at the rollout" not in out
