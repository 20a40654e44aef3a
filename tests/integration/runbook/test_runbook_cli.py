"""`invoke runbook.*` as operators run it: real subprocesses, Ctrl-C, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from akops.layout import Layout

from .drill import CANARY, PY, SECRET_VAR, drill_yaml
from .terminal import Terminal

INVOKE = [sys.executable, "-m", "invoke"]

pytestmark = pytest.mark.integration


def add_drill_env(repo: Layout) -> None:
    """Environment ``drill``: lab, with its database password from SECRET_VAR."""
    text = (repo.environments / "lab.yaml").read_text()
    text = text.replace("name: lab", "name: drill", 1)
    start = text.index("secrets:")
    end = text.index("\n\n", start) if "\n\n" in text[start:] else len(text)
    text = (
        text[:start]
        + f"secrets:\n  postgres_password: {{env: {SECRET_VAR}}}\n"
        + f"  stats_password: {{env: {SECRET_VAR}_STATS}}\n"
        + text[end:]
    )
    (repo.environments / "drill.yaml").write_text(text)


#: The name the drill's Python one-liners run under: a program on the runbook allow-list, so
#: the CLI (which holds command steps to the allow-list) runs them. A stand-in on PATH.
STAND_IN = "psql"


@pytest.fixture
def drill_repo(repo: Layout, tmp_path: Path) -> tuple[Layout, dict[str, str]]:
    add_drill_env(repo)
    (repo.runbooks / "drill.yaml").write_text(drill_yaml(STAND_IN))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stand_in = bin_dir / STAND_IN
    stand_in.write_text(f'#!/bin/sh\nexec {shlex.quote(PY)} "$@"\n')
    stand_in.chmod(0o755)
    env = {
        "DRILL_LOG": str(tmp_path / "drill.log"),
        "DRILL_FLAG": str(tmp_path / "flag"),
        SECRET_VAR: CANARY,
        f"{SECRET_VAR}_STATS": CANARY + "-stats",
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
    }
    return repo, env


def transcripts(repo: Layout) -> list[dict[str, object]]:
    return [json.loads(p.read_text()) for p in sorted((repo.root / "runs").glob("*.json"))]


def test_not_interactive_without_yes_stops_at_the_first_change(
    cli: Any, drill_repo: tuple[Layout, dict[str, str]]
) -> None:
    repo, env = drill_repo
    result = cli("runbook.run", "drill", "--env", "drill", env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "refused" in result.stdout and "--yes" in result.stdout
    (t,) = transcripts(repo)
    assert t["attempts"][0]["status"] == "refused"  # type: ignore[index]


def test_yes_runs_to_the_end_and_no_secret_leaks(
    cli: Any, drill_repo: tuple[Layout, dict[str, str]], runs_text: Callable[[Path], str]
) -> None:
    repo, env = drill_repo
    Path(env["DRILL_FLAG"]).touch()
    result = cli("runbook.run", "drill", "--env", "drill", "--yes", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "password is ***" in result.stdout
    assert CANARY not in result.stdout + result.stderr
    assert CANARY not in runs_text(repo.root / "runs")


def test_a_failed_run_exits_1_and_resume_finishes_it(
    cli: Any, drill_repo: tuple[Layout, dict[str, str]]
) -> None:
    repo, env = drill_repo
    failed = cli("runbook.run", "drill", "--env", "drill", "--yes", env=env)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    Path(env["DRILL_FLAG"]).touch()
    resumed = cli("runbook.run", "drill", "--env", "drill", "--yes", "--resume", env=env)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    (t,) = transcripts(repo)
    attempts = t["attempts"]
    assert [a["status"] for a in attempts] == ["failed", "succeeded"]  # type: ignore[union-attr]
    assert Path(env["DRILL_LOG"]).read_text().split().count("first") == 1


def test_the_resume_hint_resumes_exactly_that_run(
    cli: Any, drill_repo: tuple[Layout, dict[str, str]], tmp_path: Path
) -> None:
    repo, env = drill_repo
    books, runs = tmp_path / "other runbooks", tmp_path / "elsewhere" / "runs"
    books.mkdir()
    (repo.runbooks / "drill.yaml").rename(books / "drill.yaml")
    failed = cli("runbook.run", "drill", "--env", "drill", "--dry-run", "--runbooks", str(books),
                 "--runs-dir", str(runs), "--skip", "first", "--verify-args",
                 "--target local --timeout 5", "--input", "greeting=hi there", env=env)  # fmt: skip
    assert failed.returncode == 1, failed.stdout + failed.stderr
    prefix = "Continue from the stopped step with: "
    (hint,) = [line for line in failed.stdout.splitlines() if line.startswith(prefix)]
    argv = shlex.split(hint.removeprefix(prefix))
    assert argv[:6] == ["invoke", "runbook.run", "drill", "--env", "drill", "--resume"]
    assert "--input" not in argv and "--yes" not in argv  # kept by the run; the operator's call
    for flag, value in (("--runs-dir", str(runs)), ("--runbooks", str(books)), ("--skip", "first"),
                        ("--verify-args", "--target local --timeout 5")):  # fmt: skip
        assert argv[argv.index(flag) + 1] == value
    assert "--dry-run" in argv
    Path(env["DRILL_FLAG"]).touch()
    resumed = cli(*argv[1:], env=env)  # exactly as printed
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    (path,) = runs.glob("*.json")
    attempts = json.loads(path.read_text())["attempts"]
    assert [(a["status"], a["dry_run"]) for a in attempts] == [
        ("failed", True),
        ("succeeded", True),
    ]
    assert attempts[1]["resumed_from"] == "gate"
    assert not (repo.root / "runs").exists()


def test_ctrl_c_stops_the_step_and_leaves_a_complete_transcript(
    repo: Layout, drill_repo: tuple[Layout, dict[str, str]], tmp_path: Path
) -> None:
    _, env = drill_repo
    pidfile = tmp_path / "step.pid"
    script = tmp_path / "slow.py"
    script.write_text(
        "import os, time\n"
        f"open({str(pidfile)!r}, 'w').write(str(os.getpid()))\n"
        "print('working', flush=True)\n"
        "time.sleep(120)\n"
    )
    (repo.runbooks / "slow.yaml").write_text(
        f"""
title: Slow
summary: a long step to interrupt
when: {{symptoms: [test]}}
steps:
  - id: quick
    title: Quick
    why: passes before the interrupt
    command: [{STAND_IN}, -c, "print('quick done')"]
    changes: false
    on_failure: none
  - id: slow
    title: Slow
    why: gets interrupted
    timeout: 300
    command: [{STAND_IN}, {json.dumps(str(script))}]
    changes: false
    on_failure: none
  - id: never
    title: Never reached
    why: after the interrupt
    command: [{STAND_IN}, -c, "print('should not run')"]
    changes: false
    on_failure: none
"""
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "invoke", "runbook.run", "slow", "--env", "drill"],
        cwd=repo.root,
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    seen = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "working" in line:
                seen.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert seen.wait(30), "".join(lines)
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
        reader.join(5)
        assert proc.stdout is not None
        proc.stdout.close()
    out = "".join(lines)
    assert code == 130, out
    assert "Traceback" not in out
    assert "should not run" not in out
    step_pid = int(pidfile.read_text())
    assert not Path(f"/proc/{step_pid}").exists(), "the interrupted step's process still runs"
    (t,) = transcripts(repo)
    attempt = t["attempts"][0]  # type: ignore[index]
    assert attempt["status"] == "interrupted"
    assert attempt["finished"]
    steps = attempt["steps"]
    assert [s["step"] for s in steps] == ["quick", "slow"]
    assert [s["result"] for s in steps] == ["passed", "interrupted"]
    assert steps[1]["output"] == "working"
    md = next((repo.root / "runs").glob("*.md")).read_text()
    assert "## Attempt 1: interrupted" in md and "working" in md
    # And it can be resumed from the interrupted step.
    (repo.runbooks / "slow.yaml").write_text(
        (repo.runbooks / "slow.yaml")
        .read_text()
        .replace(json.dumps(str(script)), "-c, \"print('fast now')\"")
    )
    t0 = time.monotonic()
    resumed = subprocess.run(
        [sys.executable, "-m", "invoke", "runbook.run", "slow", "--env", "drill", "--resume"],
        cwd=repo.root,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert time.monotonic() - t0 < 60
    (t,) = transcripts(repo)
    assert [s["step"] for s in t["attempts"][1]["steps"]] == ["slow", "never"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("args", "parts"),
    [
        (["runbook.run", "nope", "--env", "drill"], ["unknown runbook 'nope'", "drill"]),
        (["runbook.show", "nope"], ["unknown runbook 'nope'"]),
        (["runbook.run", "drill"], ["--env is required"]),
        (["runbook.run", "drill", "--env", "nope"], ["unknown environment 'nope'"]),
        (
            ["runbook.run", "drill", "--env", "drill", "--input", "nope=1"],
            ["unknown input(s) nope"],
        ),
        (["runbook.run", "drill", "--env", "drill", "--input", "novalue"], ["expected NAME=VALUE"]),
        (
            ["runbook.run", "drill", "--env", "drill", "--skip", "nope"],
            ["--skip nope", "no such step"],
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    cli: Any,
    drill_repo: tuple[Layout, dict[str, str]],
    one_line_error: Callable[..., str],
    args: list[str],
    parts: list[str],
) -> None:
    _, env = drill_repo
    one_line_error(cli(*args, env=env), parts)


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("title: [unclosed\n", ["runbooks/broken.yaml:", "invalid YAML"]),
        (
            "title: T\nsummary: s\nwhen: {symptoms: [x]}\nsteps:\n  - id: a\n    title: A\n    why: w\n"
            "    command: [kubectl, get, pods]\n    on_failure: f\n",
            ["runbooks/broken.yaml:5:", "steps[0]", "changes"],
        ),
        (
            "title: T\nsummary: s\nwhen: {symptoms: [x]}\nsteps:\n  - id: a\n    title: A\n    why: w\n"
            "    check: http.ready\n    on_failure: f\n    colour: red\n",
            ["runbooks/broken.yaml:10:", "steps[0].colour", "unknown field"],
        ),
        (
            "title: T\nsummary: s\nwhen: {symptoms: [x]}\nsteps:\n  - id: a\n    title: A\n    why: w\n"
            "    decision:\n      question: q\n      choices: {x: a, y: nowhere}\n",
            ["runbooks/broken.yaml:10:", "steps[0].decision.choices.y", "no step 'nowhere'"],
        ),
    ],
)
def test_a_broken_runbook_is_one_line_naming_file_and_line(
    cli: Any,
    repo: Layout,
    one_line_error: Callable[..., str],
    text: str,
    parts: list[str],
) -> None:
    (repo.runbooks / "broken.yaml").write_text(text)
    one_line_error(cli("runbook.show", "broken"), parts)
    one_line_error(cli("runbook.run", "broken", "--env", "lab"), parts)


def test_at_a_terminal_it_asks_and_a_no_stops_the_run(
    repo: Layout, drill_repo: tuple[Layout, dict[str, str]]
) -> None:
    _, env = drill_repo
    term = Terminal(
        [*INVOKE, "runbook.run", "drill", "--env", "drill"], repo.root, {**os.environ, **env}
    )
    try:
        shown = term.read_until("[y/n]")
        assert "Step change changes something. Run it? [y/n]" in shown
        term.type("n")
        code = term.wait()
    finally:
        term.close()
    assert code == 1
    (t,) = transcripts(repo)
    attempt = t["attempts"][0]  # type: ignore[index]
    assert attempt["status"] == "stopped" and attempt["interactive"] is True
    assert attempt["steps"][-1]["result"] == "declined"
    assert "change" not in Path(env["DRILL_LOG"]).read_text().split()


PROMPTS = f"""
title: Prompts
summary: every kind of prompt, answered with Enter at a real terminal
when: {{symptoms: [test]}}
steps:
  - id: look
    title: Look at the dashboard
    why: a read-only manual step
    changes: false
    manual: Open the dashboard.
  - id: which
    title: Which way?
    why: a decision with a default
    decision:
      question: Restart or wait?
      choices: {{wait: change, restart: change}}
      default: wait
  - id: change
    title: Changes something
    why: a change without a default
    command: [{STAND_IN}, -c, "import os; open(os.environ['DRILL_LOG'],'a').write('change\\\\n')"]
    changes: true
    on_failure: undo it
"""


def test_enter_at_every_prompt_of_a_real_terminal(
    repo: Layout, drill_repo: tuple[Layout, dict[str, str]]
) -> None:
    _, env = drill_repo
    (repo.runbooks / "prompts.yaml").write_text(PROMPTS)
    term = Terminal(
        [*INVOKE, "runbook.run", "prompts", "--env", "drill"], repo.root, {**os.environ, **env}
    )
    try:
        assert "Done? ('no' stops the run here) [Y/n]" in term.read_until("[Y/n]")
        term.type("")  # Enter at a read-only manual step: done, go on
        assert "Answer (WAIT/restart)" in term.read_until("(WAIT/restart)")
        term.type("")  # Enter at a decision: its default
        term.read_until("Run it? [y/n]")
        term.type("")  # Enter at a change: no default, asked again
        term.read_until("Answer one of: yes, no")
        term.read_until("Run it? [y/n]")
        term.type("y")
        code = term.wait()
    finally:
        term.close()
    assert code == 0, term.text
    (t,) = transcripts(repo)
    steps = {s["step"]: s for s in t["attempts"][0]["steps"]}  # type: ignore[index]
    assert [s["result"] for s in steps.values()] == ["confirmed", "answered", "passed"]
    assert steps["which"]["answer"] == "wait"
    assert Path(env["DRILL_LOG"]).read_text().split() == ["change"]


def test_without_a_terminal_a_decision_needs_answer_and_refuses_with_exit_2(
    cli: Any, repo: Layout, drill_repo: tuple[Layout, dict[str, str]]
) -> None:
    _, env = drill_repo
    (repo.runbooks / "prompts.yaml").write_text(PROMPTS)
    refused = cli("runbook.run", "prompts", "--env", "drill", "--answer", "look=y", env=env)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "--answer which=CHOICE (wait/restart) or --yes" in refused.stdout
    done = cli("runbook.run", "prompts", "--env", "drill", "--answer", "look=y",
               "--answer", "which=restart", "--answer", "change=yes", env=env)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    bad = cli("runbook.run", "prompts", "--env", "drill", "--answer", "which=maybe", env=env)
    assert bad.returncode == 2
    assert bad.stderr.strip() == "error: --answer which=maybe: expected one of wait, restart"


def test_list_piped_keeps_every_alert_name_whole(cli: Any, layout: Layout) -> None:
    from akops.runbook import load

    result = cli("runbook.list")  # stdout is a pipe here
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    docs = load.load_all(layout.runbooks)
    assert [line.split("\t")[0] for line in lines] == [rb.runbook.name for rb in docs]
    for line, rb in zip(lines, docs, strict=True):
        _, title, _, alerts = line.split("\t")
        assert alerts.split(",") == (rb.runbook.when.alerts or [""])
        assert title == rb.runbook.title and "…" not in line
    grep = [line for line in lines if "AuthentikOutpostMemoryCritical" in line]
    assert [g.split("\t")[0] for g in grep] == ["outpost-shm-full"]


def test_list_as_json_and_by_alert(cli: Any, one_line_error: Callable[..., str]) -> None:
    everything = json.loads(cli("runbook.list", "--format", "json").stdout)
    assert {"db-boot-storm", "outpost-shm-full", "pgbouncer-down"} <= {
        r["name"] for r in everything
    }
    shm = next(r for r in everything if r["name"] == "outpost-shm-full")
    assert "AuthentikOutpostDevShmFull" in shm["alerts"] and shm["symptoms"]
    found = cli("runbook.list", "--alert", "pgbouncerdown", "--format", "json")
    assert found.returncode == 0, found.stderr
    assert {r["name"] for r in json.loads(found.stdout)} == {
        r["name"] for r in everything if "PgBouncerDown" in r["alerts"]
    }
    one_line_error(
        cli("runbook.list", "--alert", "NoSuchAlert"), ["no runbook", "'NoSuchAlert'"], code=1
    )
    one_line_error(cli("runbook.list", "--format", "xml"), ["--format must be table or json"])


def test_list_on_a_missing_runbooks_directory_is_exit_2(
    cli: Any, tmp_path: Path, one_line_error: Callable[..., str]
) -> None:
    missing = tmp_path / "nowhere"
    for args in (
        ["runbook.list"],
        ["runbook.list", "--check"],
        ["runbook.run", "x", "--env", "lab"],
    ):
        one_line_error(cli(*args, "--runbooks", str(missing)), [str(missing), "does not exist"])
