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
