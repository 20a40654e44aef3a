"""YAML style with yamllint, under the repository's own ``.yamllint.yaml``, cached by content.

Rule: pure apart from reading that config once and pointing yamllint's parser at
libyaml's scanner (process-wide, idempotent: ``use_libyaml_tokens``); the result cache
is handed in (see ``akops.lint.cache``). Syntax errors never reach here: the libyaml
parse reports them (``yaml.syntax``), so yamllint's own second, pure-Python syntax pass
is skipped and only its cosmetic rules run. Style is reported as warnings (style never blocks a
deploy; the CI yamllint gate is strict about it).

yamllint's cosmetic rules walk the token stream of PyYAML's pure-Python scanner, which
was over half of lint's CPU time. For ASCII text the tokens come from libyaml's scanner
instead (``LibyamlTokens``): the same token classes, values and positions, with the
buffer and pointer yamllint reads from PyYAML's marks filled in.
``tests/unit/lint/test_lint_style_tokens.py`` holds the two token streams, and
yamllint's problems, equal on every YAML file of the repository, the real chart and a
table of edge cases; non-ASCII text and text libyaml cannot scan (a template) go to
PyYAML's scanner as before. Where PyYAML's scanner stops at something libyaml accepts
(a tab after a value), yamllint now sees the whole file.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import yaml
from yaml.error import Mark
from yamllint import APP_VERSION, linter
from yamllint import parser as yamllint_parser
from yamllint.config import YamlLintConfig, YamlLintConfigError

from akops import files
from akops.errors import InputError
from akops.lint.documents import SourceText
from akops.lint.findings import Finding
from akops.lint.registry import finding

#: libyaml's scanner; None when PyYAML was built without libyaml (yamllint keeps its own).
CParser: Any = getattr(getattr(yaml, "_yaml", None), "CParser", None)

CONFIG_NAME = ".yamllint.yaml"
# Used when the directory has no .yamllint.yaml: the repository's settings.
FALLBACK = """\
extends: default
rules:
  line-length: {max: 140}
  document-start: disable
  truthy: {check-keys: false}
  comments: {min-spaces-from-content: 1}
  indentation: {indent-sequences: consistent}
"""

# (line, column, description, yamllint rule)
Problem = tuple[int, int, str, str]
_DISABLE_FILE = re.compile(r"^#\s*yamllint disable-file\s*$")


class Cache(Protocol):
    """Style results by key (the content and config hash); ``akops.lint.cache.StyleCache``."""

    def get(self, key: str) -> list[Problem] | None: ...
    def put(self, key: str, problems: list[Problem]) -> None: ...


@dataclass(frozen=True)
class StyleConfig:
    config: YamlLintConfig
    fingerprint: str  # of the config text and the yamllint version: part of every cache key

    def key(self, text: str) -> str:
        h = hashlib.sha256(self.fingerprint.encode())
        h.update(text.encode("utf-8", "surrogatepass"))
        return h.hexdigest()


@lru_cache(maxsize=4)
def _config(text: str, origin: str) -> StyleConfig:
    try:
        config = YamlLintConfig(content=text)
    except YamlLintConfigError as e:
        raise InputError(f"{origin}: invalid yamllint config: {e}") from e
    fingerprint = hashlib.sha256(f"yamllint {APP_VERSION}\n{text}".encode()).hexdigest()
    return StyleConfig(config, fingerprint)


def config_for(root: Path | None) -> StyleConfig:
    """``root/.yamllint.yaml`` when there is one, else the repository's settings."""
    path = root / CONFIG_NAME if root is not None else None
    if path is not None and (path.exists() or path.is_symlink()):
        return _config(files.read_text(path), str(path))
    return _config(FALLBACK, "built-in yamllint config")


def _mark(m: Any, buffer: str, size: int, end: tuple[int, int]) -> Mark:
    line, column = end if m.index >= size else (m.line, m.column)
    return Mark("<unicode string>", m.index, line, column, buffer, m.index)


class LibyamlTokens:
    """The part of ``yaml.BaseLoader`` yamllint's parser uses (``get_token``,
    ``peek_token``, ``check_token``), fed by libyaml's scanner.

    Only for ASCII text, where libyaml's mark index is the character offset PyYAML
    calls ``pointer``; the whole text is scanned up front, so a scanner error is raised
    here, before yamllint sees a token, and the caller falls back to PyYAML.
    """

    def __init__(self, text: str) -> None:
        buffer = text + "\0"  # as PyYAML's Reader holds a str stream
        # At the very end libyaml counts a line break the text may not have; PyYAML
        # places the end where the text ends.
        end = (text.count("\n"), len(text) - (text.rfind("\n") + 1))
        parser = CParser(text)
        tokens: list[yaml.Token] = []
        try:
            while parser.check_token():
                token: Any = parser.get_token()
                token.start_mark = _mark(token.start_mark, buffer, len(text), end)
                token.end_mark = _mark(token.end_mark, buffer, len(text), end)
                if isinstance(token, yaml.ScalarToken) and token.plain:
                    token.style = None  # libyaml says '', PyYAML None
                tokens.append(token)
        finally:
            parser.dispose()
        tokens.reverse()
        self._tokens = tokens

    def get_token(self) -> yaml.Token | None:
        return self._tokens.pop() if self._tokens else None

    def peek_token(self) -> yaml.Token | None:
        return self._tokens[-1] if self._tokens else None

    def check_token(self, *choices: type) -> bool:
        if not self._tokens:
            return False
        return not choices or isinstance(self._tokens[-1], choices)


class _YamlForYamllint:
    """The ``yaml`` module as yamllint's parser sees it: ``BaseLoader`` is libyaml's
    scanner where that gives PyYAML's tokens, PyYAML's own otherwise."""

    def __getattr__(self, name: str) -> object:
        return getattr(yaml, name)

    @staticmethod
    def BaseLoader(text: str) -> object:
        if text.isascii():
            try:
                return LibyamlTokens(text)
            except yaml.YAMLError:
                pass  # PyYAML's scanner yields the tokens before the error, as yamllint expects
        return yaml.BaseLoader(text)


def use_libyaml_tokens() -> None:
    """Make yamllint's parser scan with libyaml (idempotent; a no-op without libyaml)."""
    if CParser is not None and not isinstance(yamllint_parser.yaml, _YamlForYamllint):
        yamllint_parser.yaml = _YamlForYamllint()


def problems(text: str, config: YamlLintConfig) -> list[Problem]:
    """yamllint's cosmetic problems of a text that parses."""
    first = text.split("\n", 1)[0]
    if _DISABLE_FILE.match(first):
        return []
    use_libyaml_tokens()
    try:
        return [
            (p.line, p.column, p.desc, str(p.rule))
            for p in linter.get_cosmetic_problems(text, config, None)
            if p.rule is not None
        ]
    except yaml.YAMLError:
        return []  # the parse reports it


def check(src: SourceText, style: StyleConfig, cache: Cache | None = None) -> list[Finding]:
    key = style.key(src.text) if cache is not None else ""
    found = cache.get(key) if cache is not None else None
    if found is None:
        found = problems(src.text, style.config)
        if cache is not None:
            cache.put(key, found)
    return [
        finding("yaml.style", f"{desc} ({rule})", file=src.file, line=line, column=column)
        for line, column, desc, rule in found
    ]
