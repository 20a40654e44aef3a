"""Runbooks an operator can steer: --from, a dry run that walks everything, --answer, and what
a command step may run (the allow-list and `changes: false`), enforced as the step runs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from akops.errors import InputError, RunbookError
from akops.runbook import load, validation

from .drill import PY, Answers, Drill

pytestmark = pytest.mark.integration


def results(result: object) -> dict[str, str]:
    t = result.transcript  # type: ignore[attr-defined]
    return {rec.step: rec.result for rec in t.attempts[-1].steps}


def test_from_starts_at_a_step_and_records_the_earlier_ones_as_skipped(drill: Drill) -> None:
    drill.flag.touch()
    result, out = drill.run(yes=True, start_at="gate")
    assert result.status == "succeeded"
    assert drill.ran() == ["gate", "secret", "last"]
    attempt = result.transcript.attempts[0]
    assert attempt.start_at == "gate"
    assert results(result) == {
        "first": "skipped",
        "flaky": "skipped",
        "change": "skipped",
        "gate": "passed",
        "secret": "passed",
        "last": "passed",
    }
    assert attempt.steps[0].note == "before --from gate"
    assert "starting at step gate" in out
    assert "started at step `gate` (--from)" in result.md_path.read_text()


def test_from_an_unknown_step_is_an_error_naming_the_steps(drill: Drill) -> None:
    with pytest.raises(RunbookError, match=r"--from nope: .* no such step \(steps: first, flaky"):
        drill.run(start_at="nope")
    assert not drill.runs.exists()  # refused before a transcript was opened


def test_resume_from_another_step(drill: Drill) -> None:
    first, _ = drill.run(yes=True)
    assert first.status == "failed" and results(first)["gate"] == "failed"
    # The operator did by hand what `gate` checks, and goes on after it.
    second, _ = drill.run(yes=True, resume=True, start_at="secret")
    assert second.status == "succeeded"
    assert second.transcript.attempts[1].resumed_from == "secret"
    assert [r.step for r in second.transcript.attempts[1].steps] == ["secret", "last"]


def test_dry_run_walks_past_failures_to_the_end_and_sums_up(drill: Drill) -> None:
    # No flag: `gate` fails. A real run stops there; a dry run records it and goes on.
    result, out = drill.run(dry_run=True)
    assert drill.ran() == ["first", "flaky", "gate", "secret"]
    assert results(result) == {
        "first": "passed",
        "flaky": "failed",  # allowed to fail: not a failure of the dry run
        "change": "would-run",
        "gate": "failed",
        "secret": "passed",
        "last": "would-run",
    }
    assert result.status == "failed" and result.exit_code == 1
    assert "Dry run" in out
    assert "  Failed: gate\n" in out
    assert "  Shown, not run: change, last\n" in out


def test_dry_run_shows_every_step_of_every_branch_once(drill: Drill) -> None:
    drill.write("branch", BRANCH)
    result, _ = drill.run("branch", dry_run=True)
    assert [r.step for r in result.transcript.attempts[0].steps] == ["ask", "look", "left", "right"]
    ask_rec = result.transcript.attempts[0].steps[0]
    assert ask_rec.result == "would-run" and "left → look, right → right" in ask_rec.note
    assert drill.ran() == ["left", "right"]  # read-only steps of both branches ran


BRANCH = f"""
title: Branch
summary: a decision, a manual step and two branches
when: {{symptoms: [test]}}
steps:
  - id: ask
    title: Which way?
    why: branching
    decision:
      question: Left or right?
      choices: {{left: look, right: right}}
      default: right
  - id: look
    title: Look at something
    why: a read-only manual step
    changes: false
    manual: Look at the dashboard.
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
"""


def test_a_decision_without_a_terminal_needs_an_answer(drill: Drill) -> None:
    drill.write("branch", BRANCH)
    result, _ = drill.run("branch")  # not interactive, no --yes, no --answer: default or not
    assert result.status == "refused" and result.exit_code == 2
    rec = result.transcript.attempts[0].steps[0]
    assert rec.result == "refused"
    assert "--answer ask=CHOICE (left/right) or --yes" in rec.note
    assert drill.ran() == []
    result, _ = drill.run("branch", answers={"ask": "left", "look": "yes"})
    assert result.status == "succeeded"
    assert drill.ran() == ["left"]
    assert result.transcript.attempts[0].steps[0].note == "--answer ask=left"
    assert result.transcript.attempts[0].steps[1].note == "confirmed by --answer look=yes"


def test_answers_are_checked_before_anything_runs(drill: Drill) -> None:
    drill.write("branch", BRANCH)
    with pytest.raises(InputError, match="--answer ask=up: expected one of left, right"):
        drill.run("branch", answers={"ask": "up"})
    with pytest.raises(InputError, match="nothing asks 'right'"):
        drill.run("branch", answers={"right": "yes"})  # a read-only command asks nothing
    assert drill.ran() == [] and not drill.runs.exists()


def test_enter_at_a_read_only_manual_step_goes_on(drill: Drill) -> None:
    drill.write("branch", BRANCH)
    operator = Answers(replies=["left", ""])  # "" is Enter
    result, _ = drill.run("branch", operator=operator)
    assert result.status == "succeeded"
    assert [q.hint() for q in operator.asked] == ["(left/RIGHT)", "[Y/n]"]
    assert results(result)["look"] == "confirmed"
    assert drill.ran() == ["left"]


def test_n_at_a_manual_step_stops_the_run_there(drill: Drill) -> None:
    drill.write("branch", BRANCH)
    result, _ = drill.run("branch", operator=Answers(replies=["left", "n"]))
    assert result.status == "stopped" and result.exit_code == 1
    assert results(result)["look"] == "declined"
    assert drill.ran() == []


def test_answer_no_to_a_change_declines_it(drill: Drill) -> None:
    drill.flag.touch()
    result, _ = drill.run(answers={"change": "no"}, yes=True)  # --answer wins over --yes
    assert results(result)["change"] == "declined"
    assert result.status == "stopped"
    assert "change" not in drill.ran()


# -- what a command step may run ------------------------------------------------------


@pytest.fixture
def stand_in_kubectl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `kubectl` on PATH that only records its arguments (a stand-in for the real one)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "kubectl.log"
    kubectl = bin_dir / "kubectl"
    kubectl.write_text(f'#!/bin/sh\necho "$*" >> {log}\necho kubectl "$@"\n')
    kubectl.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return log


VERB = """
title: Verb
summary: kubectl with a templated verb
when: {symptoms: [test]}
inputs:
  - {name: verb, description: the kubectl verb}
steps:
  - id: look
    title: Look at the pods
    why: read-only, by its own account
    command: [kubectl, --context, ctx, -n, ns, "{{ inputs.verb }}", pods]
    changes: false
    on_failure: none
"""


def test_a_read_only_step_runs_a_reading_kubectl(drill: Drill, stand_in_kubectl: Path) -> None:
    drill.write("verb", VERB)
    result, _ = drill.run("verb", inputs={"verb": "get"}, programs=frozenset({"kubectl"}))
    assert result.status == "succeeded"
    assert stand_in_kubectl.read_text() == "--context ctx -n ns get pods\n"


@pytest.mark.parametrize("verb", ["delete", "drain", "apply", "patch", "scale", "cordon"])
def test_a_read_only_step_never_runs_a_changing_kubectl(
    drill: Drill, stand_in_kubectl: Path, verb: str
) -> None:
    drill.write("verb", VERB)
    # --yes confirms changes, but this step claims to change nothing: no answer lets it run.
    result, _ = drill.run("verb", inputs={"verb": verb}, yes=True, programs=frozenset({"kubectl"}))
    assert result.status == "refused" and result.exit_code == 2
    rec = result.transcript.attempts[0].steps[0]
    assert rec.result == "refused"
    assert (
        f"kubectl {verb} changes the cluster, and step 'look' is marked 'changes: false'"
        in rec.note
    )
    assert not stand_in_kubectl.exists()  # never started


def test_only_programs_on_the_allow_list_run(drill: Drill, tmp_path: Path) -> None:
    witness = tmp_path / "ran"
    drill.write(
        "shell",
        f"""
title: Shell
summary: a program that is not on the allow-list
when: {{symptoms: [test]}}
steps:
  - id: sh
    title: A shell
    why: not allowed
    command: [sh, -c, "touch {witness}"]
    changes: true
    on_failure: none
""",
    )
    result, out = drill.run("shell", yes=True)  # the drill's allow-list: python, kubectl, psql
    assert result.status == "refused" and result.exit_code == 2
    assert "'sh' is not on the runbook allow-list" in result.transcript.attempts[0].steps[0].note
    assert not witness.exists()
    # In a dry run the refusal is shown too, and the walk goes on.
    result, out = drill.run("shell", dry_run=True)
    assert results(result) == {"sh": "refused"} and "Failed: sh" in out


def test_the_cli_holds_commands_to_the_allow_list(drill: Drill) -> None:
    """Without the drill's own list, the library uses the runbook allow-list: kubectl, psql."""
    result, _ = drill.run(yes=True, programs=validation.commands.PROGRAMS)
    assert results(result)["first"] == "refused"
    assert drill.ran() == []


def test_lint_flags_a_read_only_step_that_changes_the_cluster(drill: Drill) -> None:
    drill.write("verb", VERB.replace('"{{ inputs.verb }}"', "delete"))
    rb = load.find(drill.runbooks, "verb")
    found = validation.problems(rb, checks=(), tasks={}, envs=[], needs={})
    assert any(
        "steps[0].changes: kubectl delete changes the cluster: a step that does must say" in p
        for p in found
    ), found
