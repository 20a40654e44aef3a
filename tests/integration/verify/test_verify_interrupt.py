"""Ctrl-C or SIGTERM during `invoke verify` stops the task and the commands it started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

FAKE_DF = """#!/bin/sh
# A df that hangs, like a kubectl exec into a wedged pod; its child sleeps too.
echo $$ > "{pids}/df"
sleep 60 &
echo $! > "{pids}/child"
wait
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie left for its parent to reap is gone for our purposes
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_kills_the_running_exec_and_its_children(repo, tmp_path, sig) -> None:
    bin_dir = tmp_path / "bin"
    pids = tmp_path / "pids"
    bin_dir.mkdir()
    pids.mkdir()
    df = bin_dir / "df"
    df.write_text(FAKE_DF.format(pids=pids))
    df.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "invoke", "verify", "--env", "prod", "--target", "local",
         "--only", "shm.usage", "--shm", str(tmp_path), "--timeout", "60"],
        cwd=repo.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not (pids / "child").exists():
            assert time.monotonic() < deadline, "the check never started"
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        children = [int((pids / name).read_text()) for name in ("df", "child")]
        assert all(alive(p) for p in children)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + sig, err
    assert f"interrupted by {sig.name}" in err
    deadline = time.monotonic() + 5
    while any(alive(p) for p in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(p) for p in children), "the exec outlived the interrupted task"
