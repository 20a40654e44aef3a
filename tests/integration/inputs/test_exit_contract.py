"""The exit-code contract is written once (akops.errors.EXIT_STATUSES) and every task's --help
agrees with it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from akops.errors import EXIT_STATUSES

ROOT = Path(__file__).resolve().parents[3]
PAIR = re.compile(r"\b([0-2]) ([a-z][a-z ]*?)(?=,|;|\)|\.|$)")


def invoke(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def tasks() -> list[str]:
    listing = json.loads(invoke("--list", "--list-format", "json"))
    names = [t["name"] for t in listing["tasks"]]
    for collection in listing["collections"]:
        names += [f"{collection['name']}.{t['name']}" for t in collection["tasks"]]
    return names


def test_the_contract_has_its_four_rows() -> None:
    assert [(s.code, s.meaning) for s in EXIT_STATUSES] == [
        ("0", "success"),
        ("1", "ran and failed"),
        ("2", "could not run"),
        ("128 + n", "interrupted by signal n"),
    ]


MEANING = {s.code: s.meaning for s in EXIT_STATUSES}


@pytest.mark.parametrize("task", tasks())
def test_every_help_agrees_with_the_table(task: str) -> None:
    # --help wraps lines; one line of text makes the statements searchable.
    help_text = " ".join(invoke("--help", task).split())
    for match in re.finditer(r"exit ([0-2][^.;(]*)", help_text):
        statement = match.group(1)
        # The one place where 2 means "changes": the --detailed-exitcode flag's own help.
        detailed = "--detailed-exitcode" in help_text[max(0, match.start() - 60) : match.start()]
        for code, words in PAIR.findall(statement):
            if code == "2":
                assert MEANING["2"] in words or (detailed and words == "changes"), (
                    task,
                    statement,
                )
            if code == "1":
                assert MEANING["2"] not in words and words != "changes", (task, statement)
            if code == "0":
                assert not re.search(r"fail|error|refused", words), (task, statement)


def test_every_task_is_covered() -> None:
    assert {"plan", "apply", "verify", "runbook.run", "images.check", "chart.pull"} <= set(tasks())


def test_plan_documents_both_modes() -> None:
    help_text = " ".join(invoke("--help", "plan").split())
    assert "exit 0 planned, 1 refused, 2 could not run" in help_text
    assert "exit 0 no changes, 2 changes, 1 any error" in help_text
