"""The runbook format: what validates, and one-line errors naming file:line and field."""

from __future__ import annotations

import pytest

from akops.errors import RunbookError
from akops.runbook.schema import parse

HEAD = "title: T\nsummary: s\nwhen: {symptoms: [x]}\n"
GOOD = (
    HEAD
    + """steps:
  - id: look
    title: Look
    why: to see
    command: [kubectl, get, pods]
    changes: false
    on_failure: check the context
  - id: ask
    title: Ask
    why: to branch
    decision:
      question: Which?
      choices: {a: look, b: end}
      default: b
"""
)


def parse_text(text: str):
    return parse(text, "runbooks/t.yaml", "t")


def test_a_good_runbook_parses_with_kinds() -> None:
    rb = parse_text(GOOD).runbook
    assert rb.name == "t"
    assert [s.kind for s in rb.steps] == ["command", "decision"]
    assert not rb.steps[0].changing
    assert rb.index("ask") == 1


@pytest.mark.parametrize(
    ("steps", "where", "message"),
    [
        (
            "  - id: a\n    title: A\n    why: w\n    check: http.ready\n    task: plan\n    on_failure: f\n",
            ":5:",
            "exactly one of check, task, command, manual, decision (found: check, task)",
        ),
        (
            "  - id: a\n    title: A\n    why: w\n    command: [kubectl]\n    on_failure: f\n",
            ":5:",
            "must say whether it changes anything",
        ),
        (
            "  - id: a\n    title: A\n    why: w\n    command: [kubectl]\n    changes: true\n",
            ":5:",
            "what to do when it fails",
        ),
        (
            "  - id: a\n    title: A\n    why: w\n    check: http.ready\n    changes: true\n    on_failure: f\n",
            ":5:",
            "never changes anything",
        ),
        (
            "  - id: a\n    title: A\n    why: w\n    check: http.ready\n    on_failure: f\n    timeout: -1\n",
            ":10:",
            "steps[0].timeout",
        ),
        (
            "  - id: a\n    title: A\n    why: w\n    check: http.ready\n    on_failure: f\n"
            "  - id: a\n    title: B\n    why: w\n    check: http.live\n    on_failure: f\n",
            ":10:",
            "steps[1].id: duplicate step id 'a'",
        ),
        (
            "  - id: a\n    title: A\n    why: w\n    check: http.ready\n    on_failure: f\n    next: nowhere\n",
            ":10:",
            "steps[0].next: no step 'nowhere'",
        ),
        (
            "  - id: a\n    title: A\n    why: w\n    command: [kubectl, '{{ oops']\n    changes: false\n"
            "    on_failure: f\n",
            ":8:",
            "steps[0].command[1]: template syntax error",
        ),
        (
            "  - id: a\n    title: A\n    why: w\n    manual: m\n    changes: false\n    args: [--x]\n",
            ":5:",
            "'args' belongs to a task or check step",
        ),
        (
            "  - id: a\n    title: A\n    why: w\n    check: http.ready\n    on_failure: f\n    args: [--x]\n",
            ":5:",
            "a check step's 'args' are FLAG VALUE pairs (flags: --deadline, --outpost-url,",
        ),
        (
            "  - id: a\n    title: A\n    why: w\n    check: http.ready\n    on_failure: f\n"
            "    args: [--only, db.*]\n",
            ":5:",
            "a check step takes no '--only' in 'args'",
        ),
        (
            "  - id: a\n    title: A\n    why: w\n    check: db.pool-waiting\n    on_failure: f\n"
            "    args: [--pgbouncer, --timeout]\n",
            ":5:",
            "--pgbouncer in 'args' needs a value, got '--timeout'",
        ),
        (
            "  - id: a\n    title: A\n    why: w\n    check: db.pool-waiting\n    on_failure: f\n"
            "    args: [--pgbouncer, 'a:1', --pgbouncer, 'b:2']\n",
            ":5:",
            "--pgbouncer is given twice in 'args'",
        ),
        (
            "  - id: a\n    title: A\n    why: w\n    manual: do it\n    changes: false\n    filter: x\n",
            ":5:",
            "'filter' and 'success_codes' belong to a task or command step",
        ),
        (
            "  - id: a\n    title: A\n    why: w\n    command: [psql]\n    changes: false\n    on_failure: f\n"
            "    capture: {name: x, pattern: '('}\n",
            ":11:",
            "pattern is not a valid regular expression",
        ),
    ],
)
def test_schema_errors_name_file_line_and_field(steps: str, where: str, message: str) -> None:
    with pytest.raises(RunbookError) as e:
        parse_text(HEAD + "steps:\n" + steps)
    text = str(e.value)
    assert text.startswith("runbooks/t.yaml" + where), text
    assert message in text, text
    assert "\n" not in text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("title: [x\n", "runbooks/t.yaml:2: invalid YAML"),
        ("- a\n- b\n", "runbooks/t.yaml:1: expected a mapping"),
        (HEAD + "steps: []\n", "runbooks/t.yaml:4: steps:"),
        (HEAD.replace("summary: s\n", ""), "summary: required field is missing"),
        (
            "name: other\n" + GOOD,
            "runbooks/t.yaml:1: name: 'other' does not match the file name 't'",
        ),
        (GOOD + "colour: red\n", "runbooks/t.yaml:18: colour: unknown field"),
        (GOOD.replace("default: b", "default: c"), "default 'c' is not one of the choices"),
    ],
)
def test_document_errors(text: str, message: str) -> None:
    with pytest.raises(RunbookError, match=message.replace("[", r"\[").replace("(", r"\(")):
        parse_text(text)
