"""Runbooks: the typed schema of ``runbooks/<name>.yaml`` and its parser.

Rule: pure (text in, frozen models out). Every error is one line naming the file,
the line and the field path. A runbook is a document (title, when to use it) and a
procedure (inputs, ordered steps); each step is exactly one of a check, a task, a
command, a manual instruction or a decision.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Annotated, Literal

import jinja2
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    model_validator,
)

from akops.cli import flags_in
from akops.errors import RunbookError
from akops.requests import CHECK_STEP, VerifyRequest
from akops.yamldoc import Document, PathKey, Slug, dotted, named_mapping, validated

Identifier = Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]*$", max_length=63)]
Text = Annotated[str, Field(min_length=1)]


def _compiles(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as e:
        raise ValueError(f"pattern is not a valid regular expression: {e}") from e
    return pattern


Regex = Annotated[str, AfterValidator(_compiles)]

#: Where a decision or ``next`` may send the run besides a step ID.
END = "end"

#: The ``invoke verify`` flags a check step may set in ``args`` (flag, value pairs): where a
#: check looks (``akops.requests.VerifyRequest``'s ``CHECK_STEP`` fields). The runner sets
#: ``--env`` and ``--only``; the run's ``--verify-args`` set the target and win over a step's
#: own flags.
CHECK_FLAGS: frozenset[str] = frozenset(f.flag for f in flags_in(VerifyRequest, CHECK_STEP))
REPEATABLE_CHECK_FLAGS: frozenset[str] = frozenset(
    f.flag for f in flags_in(VerifyRequest, CHECK_STEP) if f.repeatable
)

Kind = Literal["check", "task", "command", "manual", "decision"]
KINDS: tuple[Kind, ...] = ("check", "task", "command", "manual", "decision")


class Model(BaseModel):
    # strict: a YAML `true` is no replica count, `"3"` no port; lax coercion hid both.
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class When(Model):
    """When to reach for this runbook: what the operator sees, and which alerts point here."""

    symptoms: list[Text] = Field(min_length=1)
    alerts: list[Text] = Field(default_factory=list)


class Input(Model):
    """A value the operator may pass with ``--input NAME=VALUE``."""

    name: Identifier
    description: Text
    default: str | None = Field(default=None, description="template; no default means required")
    pattern: Regex | None = Field(
        default=None, description="regular expression the value must match"
    )


class Capture(Model):
    """Keep a command's output (stripped) as ``vars.NAME`` for later steps."""

    name: Identifier
    pattern: Regex | None = Field(
        default=None, description="the output must match, or the step fails"
    )


class Decision(Model):
    """A question whose answer picks the next step (a step ID, or ``end``)."""

    question: Text
    choices: dict[Slug, Slug] = Field(min_length=2)
    default: Slug | None = Field(default=None, description="the answer of a run nobody can ask")

    @model_validator(mode="after")
    def _default_is_a_choice(self) -> Decision:
        if self.default is not None and self.default not in self.choices:
            raise ValueError(f"default {self.default!r} is not one of the choices")
        return self


class Step(Model):
    id: Slug
    title: Text
    why: Text
    timeout: float = Field(default=60, gt=0, le=7200, description="seconds")
    changes: bool | None = None
    on_failure: str | None = Field(default=None, description="what to do when this step fails")
    continue_on_failure: bool = False
    when: str | None = Field(
        default=None, description="template; the step is skipped if it renders empty"
    )
    next: Slug | None = Field(default=None, description="step to go to afterwards (or 'end')")

    check: Slug | None = Field(default=None, pattern=r"^[a-z]+(\.[a-z-]+)+$")
    task: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)*$")
    command: list[Text] | None = Field(default=None, min_length=1)
    manual: Text | None = None
    decision: Decision | None = None

    args: list[str] = Field(
        default_factory=list,
        description="a task's arguments, or a check's extra `invoke verify` flags (templates)",
    )
    secret_env: dict[Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]*$")], str] = Field(
        default_factory=dict, description="environment variable -> secret name, for a command"
    )
    capture: Capture | None = None
    success_codes: list[Annotated[int, Field(ge=0, le=255)]] = Field(
        default_factory=lambda: [0], min_length=1, description="exit codes that count as passed"
    )
    filter: str | None = Field(
        default=None,
        description="regular expression: show and keep only the output lines matching it",
    )

    @property
    def kind(self) -> Kind:
        for kind in KINDS:
            if getattr(self, kind) is not None:
                return kind
        raise AssertionError("validated steps have a kind")

    @property
    def changing(self) -> bool:
        return bool(self.changes)

    @model_validator(mode="after")
    def _one_kind(self) -> Step:
        kinds = [k for k in KINDS if getattr(self, k) is not None]
        if len(kinds) != 1:
            found = ", ".join(kinds) or "none"
            raise ValueError(f"a step is exactly one of {', '.join(KINDS)} (found: {found})")
        kind = kinds[0]
        if self.args and kind not in ("task", "check"):
            raise ValueError("'args' belongs to a task or check step")
        if kind == "check":
            _check_flags(self.args)
        if (self.secret_env or self.capture) and kind != "command":
            raise ValueError("'secret_env' and 'capture' belong to a command step")
        if kind not in ("task", "command") and (
            self.filter is not None or self.success_codes != [0]
        ):
            raise ValueError("'filter' and 'success_codes' belong to a task or command step")
        if self.filter is not None:
            try:
                re.compile(self.filter)
            except re.error as e:
                raise ValueError(f"filter is not a valid regular expression: {e}") from e
        if kind in ("check", "decision") and self.changes:
            raise ValueError(f"a {kind} step never changes anything (drop 'changes: true')")
        if kind in ("task", "command", "manual") and self.changes is None:
            raise ValueError(
                f"a {kind} step must say whether it changes anything ('changes: true|false')"
            )
        if kind in ("check", "task", "command") and not self.on_failure:
            raise ValueError(f"a {kind} step must say what to do when it fails ('on_failure')")
        if kind == "decision" and self.next is not None:
            raise ValueError("a decision picks the next step through its choices, not 'next'")
        return self


def _check_flags(args: list[str]) -> None:
    """A check step's ``args``: FLAG VALUE pairs, each FLAG one of ``CHECK_FLAGS``."""
    allowed = ", ".join(sorted(CHECK_FLAGS))
    if len(args) % 2:
        raise ValueError(f"a check step's 'args' are FLAG VALUE pairs (flags: {allowed})")
    flags = args[::2]
    for flag, value in zip(flags, args[1::2], strict=True):
        if flag not in CHECK_FLAGS:
            raise ValueError(f"a check step takes no {flag!r} in 'args' (flags: {allowed})")
        if flag not in REPEATABLE_CHECK_FLAGS and flags.count(flag) > 1:
            raise ValueError(f"{flag} is given twice in 'args'")
        if not value or value.startswith("-"):
            raise ValueError(f"{flag} in 'args' needs a value, got {value!r}")


class Runbook(Model):
    name: Slug
    title: Text
    summary: Text = Field(description="one line: when to use this runbook")
    when: When
    inputs: list[Input] = Field(default_factory=list)
    steps: list[Step] = Field(min_length=1)

    def step(self, step_id: str) -> Step:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)

    def index(self, step_id: str) -> int:
        return [s.id for s in self.steps].index(step_id)

    def input(self, name: str) -> Input:
        for i in self.inputs:
            if i.name == name:
                return i
        raise KeyError(name)


@dataclass(frozen=True)
class RunbookDoc:
    """A parsed runbook with where it came from, so later errors can point at a line."""

    runbook: Runbook
    source: str
    doc: Document
    #: sha256 of the file's text, so a transcript can tell when a runbook changed between attempts.
    sha256: str = ""

    def where(self, path: PathKey) -> str:
        return f"{self.source}:{self.doc.line_of(path)}"

    def error(self, path: PathKey, message: str) -> RunbookError:
        field = dotted(path)
        return RunbookError(f"{self.where(path)}: {field + ': ' if field else ''}{message}")


def templates_of(runbook: Runbook) -> list[tuple[PathKey, str]]:
    """Every template string of ``runbook`` with its field path."""
    out: list[tuple[PathKey, str]] = []
    for i, inp in enumerate(runbook.inputs):
        if inp.default is not None:
            out.append((("inputs", i, "default"), inp.default))
    for i, s in enumerate(runbook.steps):
        base: PathKey = ("steps", i)
        out.append(((*base, "title"), s.title))
        out.append(((*base, "why"), s.why))
        if s.on_failure is not None:
            out.append(((*base, "on_failure"), s.on_failure))
        if s.when is not None:
            out.append(((*base, "when"), s.when))
        for j, a in enumerate(s.command or []):
            out.append(((*base, "command", j), a))
        for j, a in enumerate(s.args):
            out.append(((*base, "args", j), a))
        if s.manual is not None:
            out.append(((*base, "manual"), s.manual))
        if s.decision is not None:
            out.append(((*base, "decision", "question"), s.decision.question))
    return out


def _cross_check(rb: Runbook) -> list[tuple[PathKey, str]]:
    """Rules spanning fields: unique IDs, jump targets that exist, templates that parse."""
    problems: list[tuple[PathKey, str]] = []
    ids = [s.id for s in rb.steps]
    seen: set[str] = set()
    for i, sid in enumerate(ids):
        if sid == END:
            problems.append((("steps", i, "id"), f"{END!r} is reserved (it ends the run)"))
        if sid in seen:
            problems.append((("steps", i, "id"), f"duplicate step id {sid!r}"))
        seen.add(sid)
    targets = set(ids) | {END}
    names = [i.name for i in rb.inputs]
    for i, name in enumerate(names):
        if name in names[:i]:
            problems.append((("inputs", i, "name"), f"duplicate input {name!r}"))
    captures: set[str] = set()
    for i, s in enumerate(rb.steps):
        if s.next is not None and s.next not in targets:
            problems.append((("steps", i, "next"), f"no step {s.next!r}"))
        if s.decision is not None:
            for answer, target in s.decision.choices.items():
                if target not in targets:
                    problems.append(
                        (("steps", i, "decision", "choices", answer), f"no step {target!r}")
                    )
        if s.capture is not None:
            if s.capture.name in captures:
                problems.append(
                    (("steps", i, "capture", "name"), f"{s.capture.name!r} is captured twice")
                )
            captures.add(s.capture.name)
    parser = jinja2.Environment()
    for path, text in templates_of(rb):
        try:
            parser.parse(text)
        except jinja2.TemplateSyntaxError as e:
            problems.append((path, f"template syntax error: {e.message}"))
    return problems


def parse(text: str, source: str, name: str) -> RunbookDoc:
    """Parse and validate one runbook; ``name`` is its file's stem."""
    doc = named_mapping(text, source, name, RunbookError)
    rb = validated(Runbook, {**doc.data, "name": name}, doc, RunbookError)
    found = RunbookDoc(rb, source, doc, hashlib.sha256(text.encode("utf-8")).hexdigest())
    problems = _cross_check(rb)
    if problems:
        path, message = problems[0]
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        raise found.error(path, message + more)
    return found
