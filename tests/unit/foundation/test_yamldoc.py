"""YAML parsing with lines: the basis of every file:line message."""

from __future__ import annotations

import pytest

from akops.errors import InputError
from akops.yamldoc import dotted, parse_all, walk


def test_lines_of_fields_and_list_items() -> None:
    (doc,) = parse_all("a:\n  b: 1\n  c:\n    - x: 2\n    - y: 3\n", "f.yaml")
    assert doc.lines[("a", "b")] == 2
    assert doc.lines[("a", "c", 1)] == 5
    assert doc.line_of(("a", "c", 0, "x", "missing")) == 4
    assert doc.line_of(("zzz",)) == 1


def test_multi_document_and_empty_documents() -> None:
    docs = parse_all("---\n---\nkind: A\n---\nkind: B\n", "m.yaml")
    assert [(d.data["kind"], d.start_line) for d in docs] == [("A", 3), ("B", 5)]


@pytest.mark.parametrize(
    ("text", "where"),
    [("a: [1\n", "t.yaml:2"), ("a: 1\n b: 2\n", "t.yaml:2"), ("- a\nb: 1\n", "t.yaml:2")],
)
def test_syntax_errors_name_file_and_line(text: str, where: str) -> None:
    with pytest.raises(InputError, match=f"^{where}: invalid YAML"):
        parse_all(text, "t.yaml")


def test_dotted_and_walk() -> None:
    assert dotted(("spec", "containers", 0, "image")) == "spec.containers[0].image"
    assert list(walk({"a": [1, {"b": 2}]})) == [(("a", 0), 1), (("a", 1, "b"), 2)]


def _bomb(levels: int) -> str:
    text = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    prev = "a"
    for i in range(levels):
        text += f"l{i}: &l{i} [{', '.join([f'*{prev}'] * 10)}]\n"
        prev = f"l{i}"
    return text


def test_an_alias_bomb_is_refused_before_it_expands() -> None:
    with pytest.raises(InputError, match=r"^bomb.yaml:1: YAML aliases expand \d+ nodes to \d+"):
        parse_all(_bomb(7), "bomb.yaml")


def test_ordinary_aliases_pass() -> None:
    text = "base: &b {a: 1, b: [1, 2, 3]}\n" + "".join(f"k{i}: *b\n" for i in range(300))
    (doc,) = parse_all(text, "ok.yaml")
    assert doc.data["k299"] == {"a": 1, "b": [1, 2, 3]}


def test_nesting_is_capped_with_the_line() -> None:
    deep = "".join("  " * i + "a:\n" for i in range(250)) + "  " * 250 + "b\n"
    with pytest.raises(InputError, match=r"^deep.yaml:201: YAML nested deeper than 200 levels"):
        parse_all(deep, "deep.yaml")
