"""YAML style with yamllint, under the repository's own ``.yamllint.yaml``, cached by content.

Rule: pure apart from reading that config once; the result cache is handed in (see
``akops.lint.cache``). Syntax errors never reach here: the libyaml parse reports them
(``yaml.syntax``), so yamllint's own second, pure-Python syntax pass is skipped and
only its cosmetic rules run. Style is reported as warnings (style never blocks a
deploy; the CI yamllint gate is strict about it).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import yaml
from yamllint import APP_VERSION, linter
from yamllint.config import YamlLintConfig, YamlLintConfigError

from akops.errors import InputError
from akops.lint.documents import SourceText
from akops.lint.findings import Finding
from akops.lint.registry import finding

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
    if path is not None and path.is_file():
        try:
            return _config(path.read_text(encoding="utf-8"), str(path))
        except OSError as e:
            raise InputError(f"{path}: cannot read: {e.strerror}") from e
    return _config(FALLBACK, "built-in yamllint config")


def problems(text: str, config: YamlLintConfig) -> list[Problem]:
    """yamllint's cosmetic problems of a text that parses."""
    first = text.split("\n", 1)[0]
    if _DISABLE_FILE.match(first):
        return []
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
