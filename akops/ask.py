"""Asking the operator: one convention for every prompt of the project.

Rule: I/O edge (the operator's terminal). A ``Question`` has a key (what ``--answer KEY=CHOICE``
names: a runbook step ID, or e.g. ``apply``), its choices and at most one default. The default is
shown in capitals (``[Y/n]``, ``(LEFT/right)``) and Enter takes it; a question without a default
asks again on Enter. A default never stops a run unless whoever wrote the question chose so (a
runbook author's decision default, a cautious ``[y/N]`` before an apply). Where the answer comes
from, in order: ``--answer KEY=CHOICE``, ``--yes`` (the question's ``yes`` choice, if it has one),
the person at the terminal; with none of them, ``NoAnswer`` (exit 2) names the flag to pass.
Output to a terminal that went away (a hangup) is dropped, never raised.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Protocol

from rich.console import Console
from rich.text import Text

from akops.errors import InputError, NoAnswer

YES, NO = "yes", "no"


@dataclass(frozen=True)
class Question:
    """One thing to ask; ``choices`` are lowercase words (``yes``/``no``, a runbook's slugs)."""

    key: str
    text: str
    choices: tuple[str, ...] = (YES, NO)
    default: str | None = None
    #: The choice ``--yes`` gives (None: ``--yes`` does not answer this question).
    yes: str | None = YES

    def __post_init__(self) -> None:
        if len(self.choices) < 2 or len(set(self.choices)) != len(self.choices):
            raise ValueError(f"question {self.key!r}: needs two or more distinct choices")
        for choice in (self.default, self.yes):
            if choice is not None and choice not in self.choices:
                raise ValueError(f"question {self.key!r}: {choice!r} is not one of its choices")

    @property
    def yes_no(self) -> bool:
        return self.choices == (YES, NO)

    def hint(self) -> str:
        """``[y/N]``-style for yes/no, ``(LEFT/right)`` otherwise: the default in capitals."""
        if self.yes_no:
            words = [c[0].upper() if c == self.default else c[0] for c in self.choices]
            return "[" + "/".join(words) + "]"
        return "(" + "/".join(c.upper() if c == self.default else c for c in self.choices) + ")"

    def prompt(self) -> str:
        return f"{self.text} {self.hint()} "

    def match(self, typed: str) -> str | None:
        """The choice ``typed`` means: Enter is the default, case does not matter, a unique
        prefix (``y``) will do; None when it means nothing (the question is asked again)."""
        word = typed.strip().lower()
        if not word:
            return self.default
        if word in self.choices:
            return word
        found = [c for c in self.choices if c.startswith(word)]
        return found[0] if len(found) == 1 else None


@dataclass(frozen=True)
class Answered:
    choice: str
    #: Who answered: "--answer", "--yes" or "the operator".
    by: str


class Operator(Protocol):
    """Whoever answers at the terminal."""

    @property
    def interactive(self) -> bool: ...

    def ask(self, question: Question) -> str: ...


class Terminal:
    """The person at the terminal: interactive only when stdin is a TTY.

    Prompts go to ``console``; answers are read a line at a time from ``stdin``. End of input
    (the terminal went away) is ``NoAnswer``, never an answer.
    """

    def __init__(
        self,
        console: Console | None = None,
        stdin: IO[str] | None = None,
        interactive: bool | None = None,
    ) -> None:
        self.console = console or Console(highlight=False)
        self.stdin = stdin or sys.stdin
        if interactive is None:
            interactive = _isatty(self.stdin)
        self._interactive = interactive

    @property
    def interactive(self) -> bool:
        return self._interactive

    def ask(self, question: Question) -> str:
        while True:
            say(self.console, question.prompt(), end="")
            try:
                line = self.stdin.readline()
            except OSError:
                line = ""
            if not line:
                self._interactive = False
                say(self.console, "")
                raise NoAnswer(f"{question.key}: the terminal went away before an answer")
            choice = question.match(line)
            if choice is not None:
                return choice
            say(self.console, f"Answer one of: {', '.join(question.choices)}")


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (OSError, ValueError):
        return False


def answer(
    question: Question,
    operator: Operator,
    *,
    yes: bool = False,
    answers: Mapping[str, str] | None = None,
) -> Answered:
    """Where the answer comes from: ``--answer``, then ``--yes``, then the terminal.

    Raises ``NoAnswer`` (exit 2) when none of them can answer, naming the flag that would."""
    given = (answers or {}).get(question.key)
    if given is not None:
        choice = question.match(given)
        if choice is None or not given.strip():
            raise InputError(
                f"--answer {question.key}={given}: expected one of {', '.join(question.choices)}"
            )
        return Answered(choice, "--answer")
    if yes and question.yes is not None:
        return Answered(question.yes, "--yes")
    if operator.interactive:
        return Answered(operator.ask(question), "the operator")
    also = " or --yes" if question.yes is not None else ""
    raise NoAnswer(
        f"{question.key}: {question.text.strip()} needs an answer and no terminal can give one: "
        f"pass --answer {question.key}=CHOICE ({'/'.join(question.choices)}){also}"
    )


def parse_answers(items: Sequence[str]) -> dict[str, str]:
    """``--answer KEY=CHOICE`` flags as a mapping (a malformed one is one line, exit 2)."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise InputError(f"--answer {item!r}: expected KEY=CHOICE (e.g. STEP=yes)")
        out[key] = value
    return out


def check_answers(answers: Mapping[str, str], questions: Mapping[str, Question]) -> None:
    """Every ``--answer`` names a question and one of its choices, before anything runs."""
    for key, value in answers.items():
        if key not in questions:
            raise InputError(
                f"--answer {key}={value}: nothing asks {key!r} "
                f"(questions: {', '.join(questions) or 'none'})"
            )
        q = questions[key]
        if q.match(value) is None or not value.strip():
            raise InputError(f"--answer {key}={value}: expected one of {', '.join(q.choices)}")


def say(console: Console, text: str | Text, *, style: str = "", end: str = "\n") -> bool:
    """Print to the operator's terminal; False (and silence from then on) if it went away.

    After a hangup every write to the terminal fails with EIO: the descriptor is pointed at
    /dev/null so that later writes, and Python's flush at exit, cannot fail either."""
    try:
        console.print(
            text if isinstance(text, Text) else Text(text, style=style),
            end=end,
            highlight=False,
        )
        console.file.flush()
    except OSError:
        _silence(console.file)
        return False
    return True


def _silence(stream: IO[str]) -> None:
    with contextlib.suppress(OSError, ValueError, AttributeError):
        fd = stream.fileno()
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, fd)
        os.close(null)


def line(text: str, stream: IO[str] | None = None) -> bool:
    """One plain line to ``stream`` (stderr by default), surviving a terminal that went away."""
    out = stream or sys.stderr
    try:
        out.write(text + "\n")
        out.flush()
    except OSError:
        _silence(out)
        return False
    return True


def flush() -> None:
    """Flush stdout and stderr; one that went away is pointed at /dev/null, so that Python's
    own flush at exit cannot fail (and turn a clean exit status into 120)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            _silence(stream)
