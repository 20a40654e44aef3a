"""pgbouncer.ini as lint sees it: the settings, the databases, and the line of each key.

Rule: pure parsing with ``configparser`` (text in, value out). Errors are
``InputError`` naming the file and line. Values are kept as written; the typed
accessors apply PgBouncer's own defaults.
"""

from __future__ import annotations

import configparser
import re
from dataclasses import dataclass, field

from akops.errors import InputError

# PgBouncer's documented defaults for the settings the rules read.
DEFAULTS = {
    "pool_mode": "session",
    "default_pool_size": "20",
    "reserve_pool_size": "0",
    "max_client_conn": "100",
    "server_idle_timeout": "600",
    "idle_transaction_timeout": "0",
}

_KEY_RE = re.compile(r"^\s*([^=;#\s][^=]*?)\s*=")
_SECTION_RE = re.compile(r"^\s*\[([^\]]+)\]")


@dataclass(frozen=True)
class PgBouncerIni:
    """One pgbouncer.ini: from a file, or from a ConfigMap key (``object`` names it)."""

    file: str
    text: str = field(repr=False)
    settings: dict[str, str]
    databases: dict[str, str] = field(repr=False)
    lines: dict[tuple[str, str], int]
    first_line: int = 1
    object: str | None = None
    path: str | None = None

    def line_of(self, section: str, key: str) -> int:
        return self.lines.get((section, key), self.first_line)

    def get(self, key: str) -> str:
        return self.settings.get(key, DEFAULTS.get(key, ""))

    def integer(self, key: str) -> int:
        raw = self.get(key)
        try:
            return int(raw)
        except ValueError as e:
            line = self.line_of("pgbouncer", key)
            raise InputError(
                f"{self.file}:{line}: pgbouncer.ini {key} = {raw!r} is not an integer"
            ) from e

    def section_lines(self) -> list[tuple[int, str]]:
        """(file line, text) of every line of the ini."""
        return [(self.first_line + i, text) for i, text in enumerate(self.text.splitlines())]


def _key_lines(text: str, first_line: int) -> dict[tuple[str, str], int]:
    lines: dict[tuple[str, str], int] = {}
    section = ""
    for i, raw in enumerate(text.splitlines()):
        m = _SECTION_RE.match(raw)
        if m:
            section = m.group(1).strip().lower()
            continue
        m = _KEY_RE.match(raw)
        if m:
            lines.setdefault((section, m.group(1).lower()), first_line + i)
    return lines


def _error_line(e: configparser.Error) -> int:
    errors = getattr(e, "errors", None)
    if isinstance(e, configparser.ParsingError) and errors:
        return int(errors[0][0])
    lineno = getattr(e, "lineno", None)
    return int(lineno) if lineno else 1


def _reason(e: configparser.Error) -> str:
    # Never echo the offending line: it may hold a password.
    if isinstance(e, configparser.DuplicateOptionError):
        return f"{e.option} is set twice in [{e.section}]"
    if isinstance(e, configparser.DuplicateSectionError):
        return f"section [{e.section}] appears twice"
    if isinstance(e, configparser.MissingSectionHeaderError):
        return "a setting comes before the first [section] header"
    if isinstance(e, configparser.ParsingError):
        return "expected `key = value`"
    return type(e).__name__


def parse_ini(
    text: str, file: str, *, first_line: int = 1, object: str | None = None, path: str | None = None
) -> PgBouncerIni:
    """Parse a pgbouncer.ini; ``first_line`` is the file line of the ini's first line."""
    parser = configparser.ConfigParser(
        interpolation=None,
        delimiters=("=",),
        comment_prefixes=(";", "#"),
        inline_comment_prefixes=None,
        strict=True,
        empty_lines_in_values=False,
    )
    try:
        parser.read_string(text, source=file)
    except configparser.Error as e:
        raise InputError(
            f"{file}:{first_line + _error_line(e) - 1}: invalid pgbouncer.ini: {_reason(e)}"
        ) from e
    if not parser.has_section("pgbouncer"):
        raise InputError(f"{file}:{first_line}: invalid pgbouncer.ini: no [pgbouncer] section")
    databases = dict(parser.items("databases")) if parser.has_section("databases") else {}
    return PgBouncerIni(
        file=file,
        text=text,
        settings=dict(parser.items("pgbouncer")),
        databases=databases,
        lines=_key_lines(text, first_line),
        first_line=first_line,
        object=object,
        path=path,
    )
