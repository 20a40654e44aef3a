"""yamllint on libyaml's tokens reports exactly what yamllint on PyYAML's tokens reports.

``akops.lint.style`` feeds yamllint's parser from libyaml's scanner (PyYAML's pure-Python
scanner was over half of lint's CPU time). These tests hold the two token streams, and
the problems yamllint finds, equal on every YAML file of the repository and on a table
of edge cases, and show the fallback to PyYAML where libyaml is not used.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from yamllint import linter
from yamllint import parser as yamllint_parser

from akops.lint import style

ROOT = Path(__file__).resolve().parents[3]

EDGE_CASES = {
    "comments": "# head\na: 1  # inline\n# between\nb:   # after key\n  - x # item\n  # in list\n",
    "flow": "a: {b: 1, c: [1, 2, {d: e}]}\nf: [ g , h ]\n{ x: 1 }: complex\n",
    "anchors": "base: &b {x: 1}\nuse: *b\nmerge:\n  <<: *b\n  y: 2\n",
    "tags": "%YAML 1.1\n%TAG !e! tag:example.com,2000:\n---\na: !!str 1\nb: !e!thing x\nc: !local y\n",
    "block scalars": "a: |\n  one\n   two\nb: >-\n  folded\n  text\nc: |2+\n    kept\n\nd: x\n",
    "documents": "---\na: 1\n...\n---\n- b\n---\n",
    "quoting": "a: 'single ''q'''\nb: \"dq \\\"x\\\" # not a comment\"\n'c': d\n\"e f\": g\n",
    "complex keys": "? - a\n  - b\n: value\n? x\n",
    "nulls and empties": "a:\nb: ~\nc: ''\nd: []\ne: {}\n- \n"[:-4],
    "nested sequences": "- - a\n  - b\n- - c\n-\n  - d\n",
    "crlf": "a: 1\r\nb:\r\n  - c\r\n",
    "trailing spaces": "a: 1   \nb: 2  \n\n\n",
    "tab after a value": "a: 1\t\nb: 2\n",
    "long line": "a: " + "x" * 300 + "\n",
    "indentation": "a:\n    b:\n          c: 1\nlist:\n- a\n-   b\n",
    "truthy": "a: yes\nb: on\nyes: no\n",
    "empty": "",
    "only comments": "# one\n#two\n",
    "no final newline": "a: 1",
    "colons": "url: http://x:80/a#b\ntime: 12:30:00\nkey with spaces: v\n",
    "special plain": "a: -1\nb: .inf\nc: 0x1F\nd: 2001-12-14t21:59:43.10-05:00\n",
    "brackets in plain": "a: x[0]\nb: y{1}\n",
    "explicit document end only": "a: 1\n...\n",
    "directive without doc": "%YAML 1.2\n---\n",
}


def repository_yaml() -> Iterator[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "*.yaml", "*.yml", "*.j2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.split()
    return (ROOT / p for p in listed)


def commented_values(sections: int = 40) -> str:
    """A large values file in the style of a chart's: doc comments above keys, commented-out
    alternatives at every depth, blank lines, lists of maps and block scalars (the real
    chart's values.yaml is covered by tests/integration/lint/test_lint_style_chart.py)."""
    out = ["## Default values, one section a component.", "##", ""]
    for i in range(sections):
        out += [
            f"## @section component{i}",
            f"component{i}:",
            "  ## @param enabled Whether to deploy it",
            "  enabled: true",
            "  # replicas: 3",
            f"  replicas: {i % 4}",
            "  image:",
            f"    repository: example.org/c{i}  # inline comment",
            '    tag: ""',
            "    ## pullPolicy: Always",
            "  env: []",
            "  #  - name: FOO",
            "  #    value: bar",
            "  extraVolumes:",
            f"    - name: v{i}",
            "      emptyDir: {medium: Memory}",
            "    # - name: other",
            "  config: |",
            f"    key = {i}",
            "      indented line",
            "",
            "  annotations: {}",
            "",
        ]
    return "\n".join(out) + "\n"


def texts() -> list[tuple[str, str]]:
    out = [*EDGE_CASES.items(), ("commented values", commented_values())]
    for path in repository_yaml():
        out.append((str(path.relative_to(ROOT)), path.read_text(encoding="utf-8")))
    return out


def shape(token: Any) -> tuple[object, ...]:
    def mark(m: Any) -> tuple[int, int, int]:
        return (m.line, m.column, m.pointer)

    return (
        type(token).__name__,
        mark(token.start_mark),
        mark(token.end_mark),
        getattr(token, "value", None),
        getattr(token, "plain", None),
        getattr(token, "style", None),
    )


def pyyaml_tokens(text: str) -> tuple[list[tuple[object, ...]], bool]:
    """PyYAML's tokens, and whether its scanner stopped at an error (as yamllint does)."""
    loader = yaml.BaseLoader(text)
    out = []
    try:
        while loader.check_token():
            out.append(shape(loader.get_token()))
    except yaml.YAMLError:
        return out, True
    return out, False


def libyaml_tokens(text: str) -> list[tuple[object, ...]]:
    source = style.LibyamlTokens(text)
    out = []
    while source.check_token():
        out.append(shape(source.get_token()))
    return out


def scans(text: str) -> bool:
    try:
        style.LibyamlTokens(text)
    except yaml.YAMLError:
        return False
    return True


def loader_for(text: str) -> object:
    """What yamllint's parser gets for ``text`` once akops has switched it to libyaml."""
    style.use_libyaml_tokens()
    try:
        return yamllint_parser.yaml.BaseLoader(text)
    finally:
        yamllint_parser.yaml = yaml


CONFIG = style.config_for(ROOT).config


def stock_problems(text: str, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    with monkeypatch.context() as m:
        m.setattr(style, "use_libyaml_tokens", lambda: None)
        m.setattr(yamllint_parser, "yaml", yaml)
        return [
            (p.line, p.column, p.desc, p.rule)
            for p in linter.get_cosmetic_problems(text, CONFIG, None)
        ]


def libyaml_problems(text: str) -> list[object]:
    style.use_libyaml_tokens()
    try:
        return [
            (p.line, p.column, p.desc, p.rule)
            for p in linter.get_cosmetic_problems(text, CONFIG, None)
        ]
    finally:
        yamllint_parser.yaml = yaml


CASES = texts()


@pytest.mark.parametrize(("name", "text"), CASES, ids=[n for n, _ in CASES])
def test_the_same_tokens_and_the_same_problems(
    name: str, text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert_the_same(text, monkeypatch)


def assert_the_same(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """libyaml's tokens and problems equal PyYAML's for ``text`` (or PyYAML's scanner is used)."""
    if not text.isascii() or not scans(text):
        # Non-ASCII text, or what libyaml cannot scan (a template): PyYAML's scanner, as before.
        assert isinstance(loader_for(text), yaml.BaseLoader)
        return
    fast = libyaml_tokens(text)
    slow, stopped = pyyaml_tokens(text)
    if stopped:
        # PyYAML's scanner refuses what libyaml's accepts (a tab after a value): up to
        # the error the streams agree; after it, yamllint on PyYAML sees nothing more.
        assert fast[: len(slow)] == slow
        return
    assert fast == slow
    assert libyaml_problems(text) == stock_problems(text, monkeypatch)


def test_the_edge_cases_find_problems_so_the_comparison_means_something(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    found = {
        rule
        for text in EDGE_CASES.values()
        for (_, _, _, rule) in libyaml_problems(text)  # type: ignore[misc]
    }
    assert {"comments", "indentation", "trailing-spaces", "line-length", "truthy"} <= found


@pytest.mark.parametrize(
    "text",
    [
        "name: café  # non-ASCII: libyaml's index counts differently\n",
        "a: 1\nb: 'unterminated\n",  # a scanner error midway: yamllint sees the tokens before it
        "a: 1\n\tb: 2\n",
    ],
)
def test_what_libyaml_does_not_scan_goes_to_pyyaml(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert isinstance(loader_for(text), yaml.BaseLoader)
    assert libyaml_problems(text) == stock_problems(text, monkeypatch)
