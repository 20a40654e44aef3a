"""akops.process with real children: group kills on timeout, interrupt, SIGTERM and SIGHUP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from akops import process
from akops.errors import Interrupted, ProcessTimeout, ToolMissingError
from tests.integration.leftovers import MARK, pids_with, wait_gone

ROOT = Path(__file__).resolve().parents[3]


def marked(marker: str) -> dict[str, str]:
    """An environment whose every descendant carries ``marker`` (found again in /proc)."""
    return {**os.environ, MARK: marker, "PYTHONPATH": str(ROOT)}


#: A shell that starts a grandchild ignoring TERM and then sleeps: a stubborn process tree.
FAMILY = "(trap '' TERM; exec sleep 300) & sleep 301; wait"


def test_run_captures_output_and_status() -> None:
    done = process.run([sys.executable, "-c", "import sys; print('out'); sys.exit(3)"], timeout=30)
    assert (done.returncode, done.stdout.strip(), done.ok) == (3, "out", False)


def test_run_masks_output_and_streams_lines() -> None:
    seen: list[str] = []
    done = process.shell(
        "echo token=canary-7f3a; echo two >&2",
        timeout=30,
        mask=lambda s: s.replace("canary-7f3a", "***"),
        on_line=seen.append,
    )
    assert "canary-7f3a" not in done.stdout + "".join(seen)
    assert seen == ["token=***", "two"]


def test_run_feeds_input() -> None:
    done = process.run(["cat"], timeout=30, input="hello\n")
    assert done.stdout == "hello\n"


def test_missing_program_is_tool_missing() -> None:
    with pytest.raises(ToolMissingError, match="no-such-program-xyz: program not found"):
        process.run(["no-such-program-xyz"], timeout=5)


@pytest.mark.parametrize("streamed", [False, True], ids=["captured", "streamed"])
def test_timeout_kills_the_whole_group(streamed: bool) -> None:
    marker = f"akops-test-{uuid.uuid4().hex}"
    with pytest.raises(ProcessTimeout, match=r"no answer within 0\.5s"):
        process.shell(
            FAMILY,
            timeout=0.5,
            env=marked(marker),
            on_line=(lambda _: None) if streamed else None,
        )
    # The grandchild ignores TERM: only the KILL of the group reaches it.
    assert wait_gone(marker) == []


def test_a_leftover_grandchild_dies_with_a_finished_run() -> None:
    marker = f"akops-test-{uuid.uuid4().hex}"
    done = process.shell("(exec sleep 300) & echo started", timeout=10, env=marked(marker))
    assert done.stdout.strip() == "started"
    assert wait_gone(marker) == []


def test_spawn_stop_and_freeze(tmp_path: Path) -> None:
    marker = f"akops-test-{uuid.uuid4().hex}"
    log = tmp_path / "child.log"
    with process.spawn(
        ["/bin/sh", "-c", f"echo up; {FAMILY}"], log=log, env=marked(marker)
    ) as child:
        deadline = time.monotonic() + 10
        while len(pids_with(marker)) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert child.alive()
        child.signal(signal.SIGSTOP)  # a frozen server is still stopped as a group
    assert not child.alive()
    assert wait_gone(marker) == []
    assert "up" in log.read_text()


def test_interrupted_carries_the_signal() -> None:
    e = Interrupted(signal.SIGHUP)
    assert isinstance(e, KeyboardInterrupt)
    assert (e.name, e.exit_code) == ("SIGHUP", 129)


GUARDED_SCRIPT = textwrap.dedent(
    """
    import sys, threading
    from akops import process
    from akops.errors import Interrupted
    cmd = "(trap '' TERM; exec sleep 300) & sleep 301; wait"
    try:
        with process.signal_guard():
            # One child from a worker thread (as verify's pool does), one from the main thread.
            threading.Thread(
                target=lambda: process.shell(cmd, timeout=600), daemon=True
            ).start()
            print("ready", flush=True)
            process.shell(cmd, timeout=600)
    except Interrupted as e:
        print("interrupted", e.name, flush=True)
        sys.exit(e.exit_code)
    """
)


@pytest.mark.parametrize(
    "sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name
)
def test_signal_guard_stops_every_child(sig: signal.Signals) -> None:
    marker = f"akops-test-{uuid.uuid4().hex}"
    proc = subprocess.Popen(
        [sys.executable, "-c", GUARDED_SCRIPT],
        cwd=ROOT,
        env=marked(marker),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 10
        # The parent, and two shells each with a sleep and a TERM-proof grandchild.
        while len(pids_with(marker)) < 7 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(pids_with(marker)) == 7
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert out.strip() == f"interrupted {sig.name}"
    assert proc.returncode == 128 + sig
    assert wait_gone(marker) == []


def test_without_the_guard_children_outlive_the_parent() -> None:
    """The defence above is what stops them: without signal_guard the grandchildren survive."""
    marker = f"akops-test-{uuid.uuid4().hex}"
    script = GUARDED_SCRIPT.replace("with process.signal_guard():", "if True:")
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=marked(marker),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 10
        while len(pids_with(marker)) < 7 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
        assert pids_with(marker), "expected orphans without the guard"
    finally:
        for pid in pids_with(marker):
            os.kill(pid, signal.SIGKILL)


def test_signal_guard_leaves_children_started_before_it_alone(tmp_path: Path) -> None:
    """A guarded run inside a longer-lived owner (a rehearsal, a test fixture) stops what it
    started, not the owner's servers."""
    outer_marker = f"akops-test-{uuid.uuid4().hex}"
    inner_marker = f"akops-test-{uuid.uuid4().hex}"
    with process.spawn(["sleep", "300"], env=marked(outer_marker)) as outer:
        with pytest.raises(RuntimeError), process.signal_guard():
            process.spawn(["sleep", "301"], env=marked(inner_marker))
            raise RuntimeError("the guarded run fails")
        assert wait_gone(inner_marker) == []
        assert outer.alive()
    assert wait_gone(outer_marker) == []


LATE_START = textwrap.dedent(
    """
    import os, signal, threading
    from akops import process
    from akops.errors import Interrupted

    try:
        with process.signal_guard(exiting=True):
            os.kill(os.getpid(), signal.SIGTERM)
            signal.pause()
    except Interrupted:
        pass
    # Another thread's child whose start finishes after the cleanup ran: under load a verify
    # worker's exec can be started but not yet registered when the signal's cleanup runs.
    said = []
    def late():
        try:
            process.spawn(["sleep", "300"])
            said.append("started")
        except Interrupted:
            said.append("killed")
    thread = threading.Thread(target=late)
    thread.start()
    thread.join()
    print(said[0], flush=True)
    """
)


def test_a_child_started_after_a_stopped_tasks_cleanup_does_not_outlive_it() -> None:
    marker = f"akops-test-{uuid.uuid4().hex}"
    done = subprocess.run(
        [sys.executable, "-c", LATE_START],
        cwd=ROOT,
        env=marked(marker),
        capture_output=True,
        text=True,
        timeout=60,
    )
    try:
        assert done.stdout.strip() == "killed", done.stdout + done.stderr
        assert wait_gone(marker) == []
    finally:
        for pid in pids_with(marker):
            os.kill(pid, signal.SIGKILL)
