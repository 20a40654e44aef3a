"""Process ownership: a part of a task stops exactly the children it started.

Before, a runbook check step's cleanup stopped "every child that appeared while it ran" (a
difference of PID sets), so during a rehearsal a timed-out check also stopped the child
another thread had started meanwhile (the outpost stand-in's writer).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from akops import process
from akops.layout import Layout
from akops.requests import VerifyRequest
from akops.runbook.checking import run_check


def test_stop_owned_stops_its_own_children_only() -> None:
    mine, theirs = process.Owner("mine"), process.Owner("theirs")
    with process.owned(theirs):
        other = process.spawn(["sleep", "60"])
    with process.owned(mine):
        child = process.spawn(["sleep", "60"])
    nobodys = process.spawn(["sleep", "60"])
    try:
        process.stop_owned(mine)
        assert child.wait(10) is not None
        assert other.alive() and nobodys.alive()
    finally:
        for c in (other, child, nobodys):
            c.stop(grace=1)


def test_threads_carry_their_owner() -> None:
    owner = process.Owner("check")
    started: list[process.Child] = []
    with process.owned(owner):
        carried = threading.Thread(
            target=process.carried(lambda: started.append(process.spawn(["sleep", "60"])))
        )
    plain = threading.Thread(target=lambda: started.append(process.spawn(["sleep", "60"])))
    for t in (carried, plain):
        t.start()
        t.join(30)
    by_thread, outside = started
    try:
        process.stop_owned(owner)
        assert by_thread.wait(10) is not None and outside.alive()
    finally:
        for c in started:
            c.stop(grace=1)


def test_a_timed_out_check_leaves_another_threads_child_alone(
    repo: Layout, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The check hangs: its `df` never answers (a stand-in on PATH, as a hung NFS mount would).
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "df").write_text("#!/bin/sh\nexec sleep 120\n")
    (bin_dir / "df").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    writer: list[process.Child] = []
    # Children this process has already: a session fixture's services in the same worker.
    before = set(process.children())

    def start_writer() -> None:  # another thread of the same task, once the check is running
        while not set(process.children()) - before:
            time.sleep(0.02)
        writer.append(process.spawn(["sleep", "120"]))

    other = threading.Thread(target=start_writer, daemon=True)
    other.start()
    req = VerifyRequest(
        env="prod", target="local", only=("shm.usage",), shm=str(tmp_path), timeout=60
    )
    try:
        report = run_check(repo.root, req, timeout=3, on_line=lambda _: None)
        other.join(30)
        assert report is None  # the step's timeout stopped the check
        [child] = writer
        assert child.alive(), "the check's cleanup stopped another thread's child"
        left = [p for p in process.children() if p != child.pid and p not in before]
        assert not left  # the check's df is gone
    finally:
        for c in writer:
            c.stop(grace=1)
