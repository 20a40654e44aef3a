"""The drill: a runbook of real local subprocesses that exercises the executor, and its helpers."""

from __future__ import annotations

import io
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from akops.ask import Question
from akops.environment import Environment, SecretRef
from akops.runbook import load, runner
from akops.runbook.runner import RunOptions, RunResult

CANARY = "canary-Rb7qT2mK9x"
SECRET_VAR = "AKOPS_DRILL_POSTGRES_PASSWORD"
PY = sys.executable
#: The drill's commands are Python one-liners: the allow-list the library runs them with.
PROGRAMS = frozenset({PY, "kubectl", "psql"})

# Each step appends its ID to $DRILL_LOG, so tests see exactly which steps ran, in order.
# `gate` passes only once $DRILL_FLAG exists: the failed-then-resumed scenario.
DRILL = """
title: Drill
summary: exercises the executor with local commands
when:
  symptoms: [a test wants to see the executor work]
inputs:
  - {{name: greeting, description: what the first step prints, default: "hello {{{{ env.name }}}}"}}
steps:
  - id: first
    title: First, read-only
    why: shows order
    command: [{py}, -c, "import os,sys; open(os.environ['DRILL_LOG'],'a').write('first\\\\n'); print(sys.argv[1])", "{{{{ inputs.greeting }}}}"]
    changes: false
    on_failure: look at the log
  - id: flaky
    title: Fails, but the runbook allows going on
    why: shows continue_on_failure
    command: [{py}, -c, "import os,sys; open(os.environ['DRILL_LOG'],'a').write('flaky\\\\n'); sys.exit(3)"]
    changes: false
    continue_on_failure: true
    on_failure: nothing; it is allowed to fail
  - id: change
    title: Changes something
    why: shows the confirmation gate
    command: [{py}, -c, "import os; open(os.environ['DRILL_LOG'],'a').write('change\\\\n')"]
    changes: true
    on_failure: undo it
  - id: gate
    title: Passes once the flag file exists
    why: shows stop on failure and resume
    command: [{py}, -c, "import os,sys; open(os.environ['DRILL_LOG'],'a').write('gate\\\\n'); sys.exit(0 if os.path.exists(os.environ['DRILL_FLAG']) else 1)"]
    changes: false
    on_failure: create the flag file, then resume
  - id: secret
    title: Prints the database password
    why: shows masking
    command: [{py}, -c, "import os; open(os.environ['DRILL_LOG'],'a').write('secret\\\\n'); print('password is ' + os.environ['PGPASSWORD'])"]
    secret_env: {{PGPASSWORD: postgres_password}}
    changes: false
    on_failure: nothing
  - id: last
    title: Changes something, last
    why: shows the end
    command: [{py}, -c, "import os; open(os.environ['DRILL_LOG'],'a').write('last\\\\n')"]
    changes: true
    on_failure: undo it
"""


def drill_yaml(py: str = PY) -> str:
    return DRILL.format(py=json.dumps(py))


def drill_env(base: Environment, name: str = "lab") -> Environment:
    """``base`` with its database password read from SECRET_VAR (the canary in tests)."""
    return base.model_copy(
        update={"name": name, "secrets": {"postgres_password": SecretRef(env=SECRET_VAR)}}
    )


@dataclass
class Answers:
    """The operator at the terminal, typing from a script (a person, not our code): each reply
    is read as the terminal reads a typed line ("" is Enter)."""

    replies: list[str] = field(default_factory=list)
    asked: list[Question] = field(default_factory=list)
    interactive: bool = True

    def ask(self, question: Question) -> str:
        self.asked.append(question)
        choice = question.match(self.replies.pop(0))
        assert choice is not None, f"the terminal would ask again: {question.prompt()}"
        return choice


@dataclass
class Drill:
    """A drill runbook in a scratch directory, and a way to run it."""

    root: Path
    env: Environment

    @property
    def runbooks(self) -> Path:
        return self.root / "runbooks"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def log(self) -> Path:
        return self.root / "drill.log"

    @property
    def flag(self) -> Path:
        return self.root / "flag"

    def ran(self) -> list[str]:
        return self.log.read_text().split() if self.log.exists() else []

    def environ(self) -> dict[str, str]:
        import os

        return {
            **os.environ,
            "DRILL_LOG": str(self.log),
            "DRILL_FLAG": str(self.flag),
            SECRET_VAR: CANARY,
        }

    def write(self, name: str, text: str) -> None:
        self.runbooks.mkdir(exist_ok=True)
        (self.runbooks / f"{name}.yaml").write_text(text)

    def run(self, name: str = "drill", operator: Any = None, **opts: Any) -> tuple[RunResult, str]:
        rb = load.find(self.runbooks, name)
        out = io.StringIO()
        console = Console(file=out, soft_wrap=True, highlight=False, color_system=None)
        opts.setdefault("programs", PROGRAMS)
        options = RunOptions(
            env=self.env, root=self.root, runs_dir=self.runs, environ=self.environ(), **opts
        )
        result = runner.run(rb, options, console, operator or Answers(interactive=False))
        return result, out.getvalue()
