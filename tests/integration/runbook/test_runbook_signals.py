"""SIGINT, SIGTERM and SIGHUP during a runbook step and during `invoke verify` with hung execs.

Each run is `invoke` on a real terminal (a pty that is its controlling terminal): Ctrl-C is
typed, SIGTERM is sent, a hangup is the terminal closing. Every process of the test carries a
marker in its environment, so /proc shows whatever outlived the task. Afterwards: the exit
status (128 + the signal), the transcript (interrupted, by which signal), the resume hint (when
the terminal is still there) and a `--resume` that finishes the run.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from akops.layout import Layout
from tests.integration.leftovers import MARK, kill_all, new_marker, pids_with, wait_for, wait_gone

from .terminal import Terminal

pytestmark = pytest.mark.integration

INVOKE = [sys.executable, "-m", "invoke"]
SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]
#: A shell with a grandchild that ignores TERM, then a sleep: only a KILL of the group ends it.
FAMILY = "(trap '' TERM; exec sleep 300) & sleep 301; wait"


@pytest.fixture
def marker() -> object:
    found = new_marker()
    yield found
    kill_all(found)


def stand_in(directory: Path, name: str, text: str) -> None:
    directory.mkdir(exist_ok=True)
    path = directory / name
    path.write_text(text)
    path.chmod(0o755)


def environ(marker: str, bin_dir: Path) -> dict[str, str]:
    return {**os.environ, MARK: marker, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def interrupt(term: Terminal, sig: signal.Signals) -> None:
    """As an operator does it: Ctrl-C typed, SIGTERM sent (a supervisor), the terminal closing."""
    if sig == signal.SIGINT:
        os.write(term.master, b"\x03")
    elif sig == signal.SIGTERM:
        term.proc.send_signal(signal.SIGTERM)
    else:
        term.hangup()


def transcript(repo: Layout, name: str) -> dict[str, object]:
    (path,) = (repo.root / "runs").glob(f"*-{name}-lab.json")
    return json.loads(path.read_text())  # type: ignore[no-any-return]


HANG = """
title: Hang
summary: a step that hangs until a signal
when: {{symptoms: [test]}}
steps:
  - id: quick
    title: Quick
    why: passes before the interrupt
    command: [psql, -c, "print('quick done')"]
    changes: false
    on_failure: none
  - id: slow
    title: Slow
    why: gets interrupted
    timeout: 600
    {slow}
    on_failure: none
  - id: never
    title: After
    why: runs only on resume
    command: [psql, -c, "print('after the interrupt')"]
    changes: false
    on_failure: none
"""

#: The slow step: a stubborn process family, then a line that says it is running.
SLOW_SCRIPT = f"""
import subprocess, time
subprocess.Popen(["/bin/sh", "-c", {FAMILY!r}])
print("working", flush=True)
time.sleep(600)
"""


def hang_repo(repo: Layout, tmp_path: Path, slow: str) -> Path:
    bin_dir = tmp_path / "bin"
    # psql is on the runbook allow-list; the stand-in runs Python.
    stand_in(bin_dir, "psql", f'#!/bin/sh\nexec {shlex.quote(sys.executable)} "$@"\n')
    (repo.runbooks / "hang.yaml").write_text(HANG.format(slow=slow))
    return bin_dir


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_a_signal_during_a_runbook_step(
    repo: Layout, tmp_path: Path, marker: str, sig: signal.Signals
) -> None:
    script = tmp_path / "slow.py"
    script.write_text(SLOW_SCRIPT)
    bin_dir = hang_repo(
        repo, tmp_path, f"command: [psql, {json.dumps(str(script))}]\n    changes: false"
    )
    env = environ(marker, bin_dir)
    term = Terminal([*INVOKE, "runbook.run", "hang", "--env", "lab"], repo.root, env)
    try:
        term.read_until("working")
        # invoke, the step, its shell, the TERM-proof grandchild and the sleep
        assert len(wait_for(marker, 5)) == 5, term.text
        interrupt(term, sig)
        code = term.wait()
    finally:
        term.close()
    assert code == 128 + sig, term.text
    assert wait_gone(marker) == [], "a process of the interrupted run is still there"
    t = transcript(repo, "hang")
    attempt = t["attempts"][0]  # type: ignore[index]
    assert (attempt["status"], attempt["signal"]) == ("interrupted", sig.name)
    assert attempt["finished"]
    steps = attempt["steps"]
    assert [(s["step"], s["result"]) for s in steps] == [
        ("quick", "passed"),
        ("slow", "interrupted"),
    ]
    assert steps[1]["output"] == "working" and steps[1]["note"] == f"stopped by {sig.name}"
    md = next((repo.root / "runs").glob("*.md")).read_text()
    assert f"## Attempt 1: interrupted by {sig.name}" in md
    if sig != signal.SIGHUP:  # the terminal is still there: the operator sees how to go on
        assert f"Interrupted by {sig.name}" in term.text
        assert (
            "Continue from the stopped step with: invoke runbook.run hang --env lab --resume"
            in term.text
        )
    assert "Traceback" not in term.text
    # --resume picks the run up at the interrupted step.
    (repo.runbooks / "hang.yaml").write_text(
        HANG.format(slow="command: [psql, -c, \"print('fast now')\"]\n    changes: false")
    )
    resumed = subprocess.run(
        [*INVOKE, "runbook.run", "hang", "--env", "lab", "--resume"],
        cwd=repo.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    t = transcript(repo, "hang")
    second = t["attempts"][1]  # type: ignore[index]
    assert second["resumed_from"] == "slow"
    assert [s["step"] for s in second["steps"]] == ["slow", "never"]
    assert pids_with(marker) == []


#: A `df` that hangs (as an exec into a wedged container does), with a TERM-proof grandchild.
HUNG_DF = f'#!/bin/sh\necho started > "$DF_STARTED"\n{FAMILY}\n'
VERIFY = ["verify", "--env", "lab", "--target", "local", "--only", "shm.usage", "--timeout", "600"]


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_a_signal_during_verify_with_a_hung_exec(
    repo: Layout, tmp_path: Path, marker: str, sig: signal.Signals
) -> None:
    bin_dir = tmp_path / "bin"
    stand_in(bin_dir, "df", HUNG_DF)
    started = tmp_path / "df.started"
    env = {**environ(marker, bin_dir), "DF_STARTED": str(started)}
    term = Terminal([*INVOKE, *VERIFY, "--shm", str(tmp_path)], repo.root, env)
    try:
        # invoke, the stand-in df (under testinfra's shell, if the shell does not exec it),
        # its TERM-proof grandchild and its sleep
        assert len(wait_for(marker, 4)) >= 4, term.text
        assert started.exists()
        interrupt(term, sig)
        code = term.wait()
    finally:
        term.close()
    assert code == 128 + sig, term.text
    assert wait_gone(marker) == [], "an exec of the interrupted verify is still there"
    if sig != signal.SIGHUP:
        assert f"interrupted by {sig.name}" in term.text
    assert "Traceback" not in term.text


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_a_signal_during_a_runbook_check_step_with_a_hung_exec(
    repo: Layout, tmp_path: Path, marker: str, sig: signal.Signals
) -> None:
    """The check runs in the runbook's own process (the verify registry); its exec goes."""
    bin_dir = hang_repo(repo, tmp_path, "check: shm.usage")
    stand_in(bin_dir, "df", HUNG_DF)
    started = tmp_path / "df.started"
    env = {**environ(marker, bin_dir), "DF_STARTED": str(started)}
    argv = [*INVOKE, "runbook.run", "hang", "--env", "lab", "--verify-args",
            f"--target local --timeout 600 --shm {tmp_path}"]  # fmt: skip
    term = Terminal(argv, repo.root, env)
    try:
        term.read_until("$ invoke verify")
        # invoke, df (and maybe its shell), its TERM-proof grandchild and its sleep
        running = wait_for(marker, 4)
        assert len(running) >= 4, term.text
        # In-process: no second `invoke` (no `invoke verify` child) among them.
        assert [p for p in running if b"invoke" in cmdline(p)] == [term.proc.pid]
        assert started.exists()
        interrupt(term, sig)
        code = term.wait()
    finally:
        term.close()
    assert code == 128 + sig, term.text
    assert wait_gone(marker) == [], "a process of the interrupted check step is still there"
    attempt = transcript(repo, "hang")["attempts"][0]  # type: ignore[index]
    assert (attempt["status"], attempt["signal"]) == ("interrupted", sig.name)
    assert [s["result"] for s in attempt["steps"]] == ["passed", "interrupted"]
