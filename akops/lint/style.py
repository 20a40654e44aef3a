"""YAML style with yamllint, under the repository's own ``.yamllint.yaml``.

Rule: pure apart from reading that config once. Syntax errors never reach here: the
loader turns them into ``InputError`` (exit 2) first; this reports style only, as
warnings (style never blocks a deploy; the CI yamllint gate is strict about it).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from yamllint import linter
from yamllint.config import YamlLintConfig, YamlLintConfigError

from akops.errors import InputError
from akops.lint.documents import SourceText
from akops.lint.findings import Finding, finding

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


@lru_cache(maxsize=4)
def _config(text: str, origin: str) -> YamlLintConfig:
    try:
        return YamlLintConfig(content=text)
    except YamlLintConfigError as e:
        raise InputError(f"{origin}: invalid yamllint config: {e}") from e


def config_for(root: Path | None) -> YamlLintConfig:
    """``root/.yamllint.yaml`` when there is one, else the repository's settings."""
    path = root / CONFIG_NAME if root is not None else None
    if path is not None and path.is_file():
        try:
            return _config(path.read_text(encoding="utf-8"), str(path))
        except OSError as e:
            raise InputError(f"{path}: cannot read: {e.strerror}") from e
    return _config(FALLBACK, "built-in yamllint config")


def check(src: SourceText, config: YamlLintConfig) -> list[Finding]:
    findings = []
    for problem in linter.run(src.text, config):
        if problem.rule is None:
            continue  # a syntax error: the loader reports it as bad input
        findings.append(
            finding(
                "yaml.style",
                f"{problem.desc} ({problem.rule})",
                file=src.file,
                line=problem.line,
            )
        )
    return findings
