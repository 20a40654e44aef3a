"""The prompt convention (akops.ask): each kind of question with Enter, y, n, no terminal,
--yes and --answer. The terminal is a real Terminal reading typed lines from a stream."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from akops import ask
from akops.ask import NO, YES, Question
from akops.errors import InputError, NoAnswer

#: The kinds of question the project asks: (question, what Enter means).
CHANGE = Question("restart", "Step restart changes something. Run it?")  # no default
READ_ONLY_MANUAL = Question("look", "Done?", default=YES)
DECISION = Question("which", "Answer", ("left", "right"), default="right", yes="right")
DECISION_NO_DEFAULT = Question("which", "Answer", ("left", "right"), yes=None)
CAUTIOUS = Question("apply", "Apply this plan?", default=NO)  # the caller chose a stopping default
KINDS = {
    "change": (CHANGE, None),
    "manual": (READ_ONLY_MANUAL, YES),
    "decision": (DECISION, "right"),
    "decision-no-default": (DECISION_NO_DEFAULT, None),
    "cautious": (CAUTIOUS, NO),
}


def terminal(typed: str) -> tuple[ask.Terminal, io.StringIO]:
    out = io.StringIO()
    console = Console(file=out, color_system=None, width=200)
    return ask.Terminal(console, stdin=io.StringIO(typed), interactive=True), out


@pytest.mark.parametrize(
    ("question", "hint"),
    [
        (CHANGE, "[y/n]"),
        (READ_ONLY_MANUAL, "[Y/n]"),
        (CAUTIOUS, "[y/N]"),
        (DECISION, "(left/RIGHT)"),
        (DECISION_NO_DEFAULT, "(left/right)"),
    ],
)
def test_the_default_is_shown_in_capitals(question: Question, hint: str) -> None:
    assert question.hint() == hint
    assert question.prompt().endswith(f" {hint} ")


@pytest.mark.parametrize("kind", KINDS)
def test_enter_takes_the_default_or_asks_again(kind: str) -> None:
    question, default = KINDS[kind]
    if default is not None:
        term, out = terminal("\n")
        assert ask.answer(question, term).choice == default
        assert out.getvalue().count(question.prompt()) == 1
    else:
        # Enter means nothing here: asked again, and the next line answers.
        second = question.choices[0]
        term, out = terminal(f"\n{second}\n")
        assert ask.answer(question, term) == ask.Answered(second, "the operator")
        assert out.getvalue().count(question.prompt()) == 2
        assert "Answer one of:" in out.getvalue()


@pytest.mark.parametrize("kind", ["change", "manual", "cautious"])
@pytest.mark.parametrize(
    ("typed", "choice"), [("y", YES), ("Y", YES), ("yes", YES), ("n", NO), ("No", NO)]
)
def test_y_and_n(kind: str, typed: str, choice: str) -> None:
    term, _ = terminal(typed + "\n")
    assert ask.answer(KINDS[kind][0], term).choice == choice


def test_a_decision_takes_its_choices_by_name_or_prefix() -> None:
    term, _ = terminal("l\n")
    assert ask.answer(DECISION, term).choice == "left"
    term, out = terminal("maybe\nRIGHT\n")
    assert ask.answer(DECISION, term).choice == "right"
    assert "Answer one of: left, right" in out.getvalue()


@pytest.mark.parametrize("kind", KINDS)
def test_no_terminal_refuses_naming_the_flags(kind: str) -> None:
    question, _ = KINDS[kind]
    nobody = ask.Terminal(Console(file=io.StringIO()), stdin=io.StringIO(""), interactive=False)
    with pytest.raises(NoAnswer) as e:
        ask.answer(question, nobody)
    assert e.value.exit_code == 2
    assert f"--answer {question.key}=CHOICE" in str(e.value)
    assert ("or --yes" in str(e.value)) == (question.yes is not None)


def test_a_terminal_that_goes_away_is_no_answer_not_enter() -> None:
    term, _ = terminal("")  # end of input: the terminal hung up
    with pytest.raises(NoAnswer, match="terminal went away"):
        ask.answer(READ_ONLY_MANUAL, term)  # Enter would have meant "yes"
    assert not term.interactive


@pytest.mark.parametrize("kind", KINDS)
def test_yes_answers_what_the_question_allows(kind: str) -> None:
    question, _ = KINDS[kind]
    nobody = ask.Terminal(Console(file=io.StringIO()), stdin=io.StringIO(""), interactive=False)
    if question.yes is None:
        with pytest.raises(NoAnswer):
            ask.answer(question, nobody, yes=True)
    else:
        assert ask.answer(question, nobody, yes=True) == ask.Answered(question.yes, "--yes")


@pytest.mark.parametrize("kind", KINDS)
def test_answer_wins_over_yes_and_the_terminal(kind: str) -> None:
    question, _ = KINDS[kind]
    last = question.choices[-1]
    term, out = terminal(question.choices[0] + "\n")
    got = ask.answer(question, term, yes=True, answers={question.key: last.upper()})
    assert got == ask.Answered(last, "--answer")
    assert out.getvalue() == ""  # nobody was asked


def test_a_bad_answer_is_one_line_before_anything_runs() -> None:
    questions = {"restart": CHANGE, "which": DECISION}
    assert ask.parse_answers(["restart=y", "which = left"]) == {"restart": "y", "which": "left"}
    for items, message in (
        (["restart"], "expected KEY=CHOICE"),
        (["=yes"], "expected KEY=CHOICE"),
        (["restart="], "expected KEY=CHOICE"),
    ):
        with pytest.raises(InputError, match=message):
            ask.parse_answers(items)
    with pytest.raises(InputError, match="nothing asks 'nope'"):
        ask.check_answers({"nope": "yes"}, questions)
    with pytest.raises(InputError, match="which=up: expected one of left, right"):
        ask.check_answers({"which": "up"}, questions)


def test_a_question_cannot_default_to_what_it_does_not_offer() -> None:
    with pytest.raises(ValueError, match="not one of its choices"):
        Question("x", "q", ("a", "b"), default="c")


def test_say_survives_a_terminal_that_went_away() -> None:
    import os
    import pty

    master, slave = pty.openpty()
    os.close(master)  # the terminal hung up: every write to it fails with EIO
    stream = os.fdopen(slave, "w")
    console = Console(file=stream, color_system=None)
    try:
        with pytest.raises(OSError):  # what an unguarded write does
            stream.write("x" * 10_000)
            stream.flush()
        assert ask.say(console, "hello") is False
        assert ask.say(console, "and again") is True  # the descriptor now points at /dev/null
        assert ask.line("one line", stream) is True
    finally:
        stream.close()
