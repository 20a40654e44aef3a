"""``invoke TASK --help`` works for every task, those with a positional argument included.

Invoke hands ``--help`` typed after a task with a positional argument to that argument;
before the tasks were generated from their requests, ``invoke rehearse --help`` and
``invoke runbook.run --help`` answered "expected a scenario name" with exit 2.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def invoke(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "AKOPS_ENV"},
    )


def tasks() -> list[str]:
    listing = json.loads(invoke("--list", "--list-format", "json").stdout)
    names = [t["name"] for t in listing["tasks"]]
    for collection in listing["collections"]:
        names += [f"{collection['name']}.{t['name']}" for t in collection["tasks"]]
    return names


@pytest.mark.parametrize("task", tasks())
@pytest.mark.parametrize("word", ["--help", "-h"])
def test_help_after_the_task_name(task: str, word: str) -> None:
    after = invoke(task, word)
    assert (after.returncode, after.stderr) == (0, ""), after.stderr
    assert after.stdout == invoke("--help", task).stdout
    assert f"Usage: inv[oke] [--core-opts] {task} " in after.stdout
