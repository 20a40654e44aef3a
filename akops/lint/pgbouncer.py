"""pgbouncer.ini as PgBouncer reads it, per release: sections, keys, ``%include``, typed values.

Rule: pure (text in, value out; included files are handed in, read by the I/O layer).
The grammar and value syntax follow PgBouncer's own loader (libusual's cfparser, the same in
every supported release); what a release accepts (parameters, sections, connection-string
keys) is its ``Release`` in ``RELEASES``: 1.18 (Debian 12's) and 1.24 (production's image,
``edoburu/pgbouncer:v1.24.1-p1``). Each is checked row by row against the real program at that
version in ``tests/integration/lint/test_pgbouncer_oracle.py``, and its parameter list against
that program's ``SHOW CONFIG``. Which release judges a stack's ini is the PgBouncer image's tag
(``ReleaseChoice.for_image``); a tag without a version, a version without a table, or no image
at all means production's release, said once in a ``pgbouncer.version`` note.

* a line is blank, a comment (``;`` or ``#`` first), ``[section]`` (optionally followed
  by a comment), ``%include FILE`` or ``key = value``; keys are letters, digits and
  ``_ . - *``, case-sensitive; the value is the rest of the line, trimmed (no inline
  comments, no quotes: ``20 ; x`` and ``"20"`` are refused for a number);
* sections: ``[databases]``, ``[pgbouncer]`` (required) and ``[users]`` (1.24 adds
  ``[peers]``); a key before any section is refused; a key set twice takes the later value;
* ``%include FILE`` reads FILE in place, the section carrying over in both directions;
  PgBouncer resolves a relative FILE against its working directory, lint against the
  including file's directory (PgBouncer started where its ini is sees the same file);
  nesting cycles are refused;
* numbers as C's ``strtol(…, 0)`` (``0x10``, ``010``, ``-1``; not ``1.5``, ``1k``, ``08``),
  times in seconds as ``strtod`` (``1.5``, ``.5``, ``1e3``; not ``5s``, not negative),
  booleans are numbers (``yes``/``true`` are refused), enums case-insensitively;
* unknown parameters are refused (PgBouncer will not start), with a did-you-mean;
  ``[databases]`` and ``[users]`` entries are connection strings of the release's keys
  (1.18's users take ``pool_mode`` and ``max_user_connections`` only).

Every refusal is a ``Problem`` (file, line, message; never the value of a secret-named
key); a parsed ini always comes back, so the rules still see what could be read.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath

INT, TIME, ENUM, STR = "int", "time", "enum", "str"

_SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
_ENUMS = {
    "pool_mode": ("session", "transaction", "statement"),
    # pam: in builds with PAM (Debian's 1.18 has it; a --with-pam=no build refuses it).
    "auth_type": ("any", "trust", "plain", "md5", "cert", "hba", "pam", "scram-sha-256"),
    "client_tls_sslmode": _SSLMODES,
    "server_tls_sslmode": _SSLMODES,
    "load_balance_hosts": ("disable", "round-robin"),
}
_INTS = [
    "listen_port",
    "unix_socket_mode",
    "max_client_conn",
    "default_pool_size",
    "min_pool_size",
    "reserve_pool_size",
    "max_db_connections",
    "max_user_connections",
    "server_round_robin",
    "disable_pqexec",
    "application_name_add_host",
    "stats_period",
    "syslog",
    "log_connections",
    "log_disconnections",
    "log_pooler_errors",
    "log_stats",
    "verbose",
    "server_reset_query_always",
    "server_fast_close",
    "pkt_buf",
    "max_packet_size",
    "listen_backlog",
    "sbuf_loopcnt",
    "so_reuseport",
    "tcp_defer_accept",
    "tcp_socket_buffer",
    "tcp_keepalive",
    "tcp_keepcnt",
    "tcp_keepidle",
    "tcp_keepintvl",
    "tcp_user_timeout",
]
_TIMES = [
    "reserve_pool_timeout",
    "server_check_delay",
    "server_lifetime",
    "server_idle_timeout",
    "server_connect_timeout",
    "server_login_retry",
    "client_login_timeout",
    "autodb_idle_timeout",
    "dns_max_ttl",
    "dns_nxdomain_ttl",
    "dns_zone_check_period",
    "query_timeout",
    "query_wait_timeout",
    "client_idle_timeout",
    "idle_transaction_timeout",
    "suspend_timeout",
]
_STRINGS = [
    "conffile",
    "logfile",
    "pidfile",
    "listen_addr",
    "unix_socket_dir",
    "unix_socket_group",
    "user",
    "ignore_startup_parameters",
    "job_name",
    "auth_hba_file",
    "auth_file",
    "auth_user",
    "auth_query",
    "syslog_ident",
    "syslog_facility",
    "admin_users",
    "stats_users",
    "server_reset_query",
    "server_check_query",
    "resolv_conf",
    "client_tls_key_file",
    "client_tls_cert_file",
    "client_tls_ca_file",
    "client_tls_protocols",
    "client_tls_ciphers",
    "client_tls_ecdhcurve",
    "client_tls_dheparams",
    "server_tls_ca_file",
    "server_tls_key_file",
    "server_tls_cert_file",
    "server_tls_protocols",
    "server_tls_ciphers",
]

#: PgBouncer 1.18's [pgbouncer] parameters and their value types (``SHOW CONFIG`` of 1.18.0).
PARAMETERS_1_18: dict[str, str] = {
    **{k: INT for k in _INTS},
    **{k: TIME for k in _TIMES},
    **{k: ENUM for k in ("pool_mode", "auth_type", "client_tls_sslmode", "server_tls_sslmode")},
    **{k: STR for k in _STRINGS},
}
#: PgBouncer 1.24's: 1.18's and what 1.19 to 1.24 added (``SHOW CONFIG`` of 1.24.1).
PARAMETERS_1_24: dict[str, str] = {
    **PARAMETERS_1_18,
    "auth_dbname": STR,
    "auth_ident_file": STR,
    "cancel_wait_timeout": TIME,
    "max_db_client_connections": INT,
    "max_prepared_statements": INT,
    "max_user_client_connections": INT,
    "peer_id": INT,
    "track_extra_parameters": STR,
}
_DATABASE_KEYS_1_18 = frozenset(
    [
        "dbname",
        "host",
        "port",
        "user",
        "password",
        "auth_user",
        "pool_size",
        "min_pool_size",
        "reserve_pool",
        "connect_query",
        "pool_mode",
        "max_db_connections",
        "client_encoding",
        "datestyle",
        "timezone",
        "application_name",
    ]
)
_DATABASE_KEYS_1_24 = _DATABASE_KEYS_1_18 | {
    "auth_dbname",
    "auth_query",
    "reserve_pool_size",
    "max_db_client_connections",
    "server_lifetime",
    "load_balance_hosts",
}


@dataclass(frozen=True)
class Release:
    """What one PgBouncer minor release accepts in pgbouncer.ini.

    Every table is held to the real program: ``SHOW CONFIG`` of the build named ``tested``
    lists exactly ``parameters``, and the oracle table starts each row in it
    (``tests/integration/lint/test_pgbouncer_oracle.py``).
    """

    minor: str  # "1.24": the table serves every 1.24.x
    tested: str  # the build the oracle runs: "1.24.1"
    parameters: Mapping[str, str] = field(repr=False)
    database_keys: frozenset[str] = field(repr=False)
    user_keys: frozenset[str] = field(repr=False)
    sections: tuple[str, ...] = ("databases", "pgbouncer", "users")
    peer_keys: frozenset[str] = field(default=frozenset(), repr=False)

    @property
    def name(self) -> str:
        return f"PgBouncer {self.tested}"


RELEASES: tuple[Release, ...] = (
    Release(
        "1.18",
        "1.18.0",
        PARAMETERS_1_18,
        _DATABASE_KEYS_1_18,
        frozenset({"pool_mode", "max_user_connections"}),
    ),
    Release(
        "1.24",
        "1.24.1",
        PARAMETERS_1_24,
        _DATABASE_KEYS_1_24,
        frozenset(
            {
                "pool_mode",
                "pool_size",
                "reserve_pool_size",
                "max_user_connections",
                "max_user_client_connections",
                "idle_transaction_timeout",
                "query_timeout",
                "client_idle_timeout",
            }
        ),
        sections=("databases", "pgbouncer", "users", "peers"),
        peer_keys=frozenset({"host", "port", "pool_size"}),
    ),
)
#: What production runs (edoburu/pgbouncer:v1.24.1-p1), and what lint assumes when the input
#: names no PgBouncer image, or one whose version it has no table for.
PROD_RELEASE = RELEASES[-1]
MAX_INCLUDE_DEPTH = 10

# PgBouncer's documented defaults for the settings the rules read.
DEFAULTS = {
    "pool_mode": "session",
    "default_pool_size": "20",
    "reserve_pool_size": "0",
    "max_client_conn": "100",
    "server_idle_timeout": "600",
    "idle_transaction_timeout": "0",
    "client_idle_timeout": "0",
}

_TAG_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?![.\d])")


def image_version(image: str) -> str | None:
    """The PgBouncer version an image's tag names: ``edoburu/pgbouncer:v1.24.1-p1`` → 1.24.1.

    None for a tag that names no version (``latest``, a digest alone, no tag).
    """
    name = image.partition("@")[0]
    last = name.rsplit("/", 1)[-1]
    tag = last.partition(":")[2]
    m = _TAG_VERSION.match(tag)
    return ".".join(m.groups()) if m else None


@dataclass(frozen=True)
class ReleaseChoice:
    """The table lint checks a stack's pgbouncer.ini against, and why."""

    release: Release
    image: str | None  # the PgBouncer image it came from, if any
    assumed: str | None = None  # when the image did not say: one line for a note

    @classmethod
    def for_image(cls, image: str | None) -> ReleaseChoice:
        """The release of ``image`` (its tag's major.minor), or production's with a reason."""
        if image is None:
            return cls(
                PROD_RELEASE,
                None,
                f"no PgBouncer image in this input: pgbouncer.ini is checked against "
                f"{PROD_RELEASE.name} (production's){_supported()}",
            )
        version = image_version(image)
        if version is None:
            return cls(
                PROD_RELEASE,
                image,
                f"the tag of {image} names no PgBouncer version: pgbouncer.ini is checked "
                f"against {PROD_RELEASE.name} (production's){_supported()}",
            )
        minor = version.rsplit(".", 1)[0]
        for r in RELEASES:
            if r.minor == minor:
                return cls(r, image)
        return cls(
            PROD_RELEASE,
            image,
            f"{image} runs PgBouncer {version}, which lint has no parameter table for: "
            f"pgbouncer.ini is checked against {PROD_RELEASE.name}{_supported()}",
        )


def _supported() -> str:
    return f" (tables: {', '.join(r.minor for r in RELEASES)})"


_KEY = re.compile(r"[A-Za-z0-9_.\-*]+")
_STRTOL = re.compile(r"[+-]?(?:0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")
_STRTOD = re.compile(
    r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
    r"|0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?"
    r"|inf(?:inity)?|nan(?:\([0-9A-Za-z_]*\))?)",
    re.IGNORECASE,
)
_SECRET_KEY = re.compile(r"(?i)password|secret|token")


def strtol(text: str) -> int | None:
    """``text`` as C's ``strtol(text, &end, 0)`` with nothing left over, else None."""
    if not _STRTOL.fullmatch(text):
        return None
    sign = -1 if text.startswith("-") else 1
    body = text.lstrip("+-")
    if body[:2] in ("0x", "0X"):
        return sign * int(body[2:], 16)
    if len(body) > 1 and body.startswith("0"):
        return sign * int(body[1:], 8)
    return sign * int(body)


def strtod(text: str) -> float | None:
    """``text`` as C's ``strtod`` with nothing left over, else None."""
    if not _STRTOD.fullmatch(text):
        return None
    body = text.lstrip("+-").lower()
    sign = -1.0 if text.startswith("-") else 1.0
    if body.startswith("nan"):
        return math.nan
    if body.startswith("inf"):
        return sign * math.inf
    if body.startswith("0x"):
        mantissa = body if "p" in body else body + "p0"
        return sign * float.fromhex(mantissa)
    return sign * float(body)


@dataclass(frozen=True)
class Problem:
    """A place where PgBouncer would refuse to start."""

    file: str
    line: int
    message: str


@dataclass(frozen=True)
class Included:
    """A file an ini includes, as the I/O layer found it."""

    label: str  # as findings show it
    text: str | None  # None: missing or unreadable
    why: str = ""  # when text is None


@dataclass(frozen=True)
class PgBouncerIni:
    """One pgbouncer.ini: from a file, or from a ConfigMap key (``object`` names it)."""

    file: str
    text: str = field(repr=False)
    settings: dict[str, str]
    databases: dict[str, str] = field(repr=False)
    lines: dict[tuple[str, str], tuple[str, int]]  # (section, key) → (file, line)
    first_line: int = 1
    object: str | None = None
    path: str | None = None
    problems: tuple[Problem, ...] = ()
    duplicates: tuple[Problem, ...] = ()
    unfollowed: tuple[Problem, ...] = ()  # %include of a file lint was not given
    users: dict[str, str] = field(default_factory=dict, repr=False)
    release: Release = PROD_RELEASE  # the table ``problems`` were found with
    base: str | None = None
    includes: Mapping[str, Included] = field(default_factory=dict, repr=False)

    def for_release(self, release: Release) -> PgBouncerIni:
        """This ini as ``release`` reads it (its problems, settings and entries)."""
        if release == self.release:
            return self
        return parse_ini(
            self.text,
            self.file,
            first_line=self.first_line,
            object=self.object,
            path=self.path,
            base=self.base,
            includes=self.includes,
            release=release,
        )

    def where(self, section: str, key: str) -> tuple[str, int]:
        return self.lines.get((section, key), (self.file, self.first_line))

    def line_of(self, section: str, key: str) -> int:
        return self.where(section, key)[1]

    def get(self, key: str) -> str:
        return self.settings.get(key, DEFAULTS.get(key, ""))

    def integer(self, key: str) -> int | None:
        """A number parameter as PgBouncer reads it; None when it would be refused."""
        return strtol(self.get(key))

    def seconds(self, key: str) -> float | None:
        """A time parameter in seconds as PgBouncer reads it; None when it would be refused."""
        value = strtod(self.get(key))
        return None if value is None or value < 0 else value

    def section_lines(self) -> list[tuple[int, str]]:
        """(file line, text) of every line of the ini's own text."""
        return [(self.first_line + i, text) for i, text in enumerate(self.text.splitlines())]


def _check_value(key: str, value: str, release: Release) -> str | None:
    kind = release.parameters[key]
    if kind == INT and strtol(value) is None:
        return f"{key} = {value!r} is not a whole number as PgBouncer reads it (e.g. 20, 0x10)"
    if kind == TIME:
        seconds = strtod(value)
        if seconds is None:
            return f"{key} = {value!r} is not a time in seconds (e.g. 300 or 1.5; no unit suffix)"
        if seconds < 0:
            return f"{key} = {value!r}: a time cannot be negative"
    if kind == ENUM and value.lower() not in _ENUMS[key]:
        return f"{key} = {value!r} is not one of {', '.join(_ENUMS[key])}"
    return None


def _conn_pairs(value: str) -> list[tuple[str, str]] | None:
    """``key=value key='quoted value'`` pairs, or None on a syntax error."""
    pairs = []
    i, n = 0, len(value)
    while i < n:
        while i < n and value[i].isspace():
            i += 1
        if i >= n:
            break
        m = re.compile(r"[A-Za-z0-9_]+").match(value, i)
        if not m:
            return None
        key, i = m.group(0), m.end()
        while i < n and value[i].isspace():
            i += 1
        if i >= n or value[i] != "=":
            return None
        i += 1
        while i < n and value[i].isspace():
            i += 1
        if i < n and value[i] == "'":
            end = value.find("'", i + 1)
            if end < 0:
                return None
            val, i = value[i + 1 : end], end + 1
        else:
            start = i
            while i < n and not value[i].isspace():
                i += 1
            val = value[start:i]
        pairs.append((key, val))
    return pairs


def connection_settings(value: str) -> dict[str, str]:
    """A [databases] entry's ``key=value`` settings (empty when it does not parse)."""
    return dict(_conn_pairs(value) or [])


def _check_entry(section: str, name: str, value: str, release: Release) -> str | None:
    pairs = _conn_pairs(value)
    what = {"databases": "database", "users": "user", "peers": "peer"}[section]
    if pairs is None:
        return (
            f"[{section}] {name}: syntax error in the connection string (expected key=value pairs)"
        )
    if section == "peers":
        if not name.isdigit() or not 1 <= int(name) <= 0xFFFF:
            return f"[peers] {name}: a peer's name is its peer_id, a number from 1 to 65535"
        if "host" not in dict(pairs):
            return f"[peers] {name}: host is required"
    allowed = {
        "databases": release.database_keys,
        "users": release.user_keys,
        "peers": release.peer_keys,
    }[section]
    for key, val in pairs:
        if key not in allowed:
            near = difflib.get_close_matches(key, sorted(allowed), n=1)
            hint = f" (did you mean {near[0]}?)" if near else ""
            return f"[{section}] {name}: unknown {what} parameter {key}{hint} ({release.name})"
        if key == "pool_mode" and val.lower() not in _ENUMS["pool_mode"]:
            return (
                f"[{section}] {name}: pool_mode={val} is not one of session, transaction, statement"
            )
        if key == "port" and strtol(val) is None:
            return f"[{section}] {name}: port={val} is not a number"
        if key == "load_balance_hosts" and val.lower() not in _ENUMS["load_balance_hosts"]:
            return (
                f"[{section}] {name}: load_balance_hosts={val} is not one of disable, round-robin"
            )
    return None


class _Reader:
    def __init__(self, includes: Mapping[str, Included], release: Release) -> None:
        self.includes = includes
        self.release = release
        self.section = ""
        self.settings: dict[str, str] = {}
        self.databases: dict[str, str] = {}
        self.users: dict[str, str] = {}
        self.lines: dict[tuple[str, str], tuple[str, int]] = {}
        self.problems: list[Problem] = []
        self.duplicates: list[Problem] = []
        self.unfollowed: list[Problem] = []
        self.seen_main = False

    def read(
        self, text: str, file: str, first_line: int, base: str | None, stack: tuple[str, ...]
    ) -> None:
        for i, raw in enumerate(text.splitlines()):
            line_no = first_line + i
            line = raw.strip(" \t\r\f\v")
            if not line or line[0] in "#;":
                continue
            if line.startswith("%include") and (len(line) == 8 or line[8] in " \t"):
                self._include(line[8:].strip(), file, line_no, base, stack)
                continue
            if line.startswith("["):
                end = line.find("]")
                rest = line[end + 1 :].strip() if end > 0 else "x"
                if end < 0 or (rest and rest[0] not in "#;"):
                    self.problems.append(Problem(file, line_no, "syntax error: expected [section]"))
                    return  # PgBouncer stops loading here
                self.section = line[1:end]
                if self.section not in self.release.sections:
                    known = ", ".join(f"[{k}]" for k in self.release.sections)
                    self.problems.append(
                        Problem(
                            file,
                            line_no,
                            f"invalid section [{self.section}] ({self.release.name} knows {known})",
                        )
                    )
                self.seen_main |= self.section == "pgbouncer"
                continue
            m = _KEY.match(line)
            rest = line[m.end() :].lstrip(" \t") if m else ""
            if not m or not rest.startswith("="):
                self.problems.append(Problem(file, line_no, "syntax error: expected `key = value`"))
                return  # PgBouncer stops loading here
            self._setting(m.group(0), rest[1:].strip(" \t\r\f\v"), file, line_no)

    def _include(
        self, name: str, file: str, line_no: int, base: str | None, stack: tuple[str, ...]
    ) -> None:
        if not name:
            self.problems.append(Problem(file, line_no, "syntax error: %include without a file"))
            return
        if base is None:
            self.unfollowed.append(
                Problem(file, line_no, f"%include {name}: a file inside the container, not checked")
            )
            return
        resolved = str(PurePosixPath(base) / name) if not name.startswith("/") else name
        if resolved in stack or len(stack) >= MAX_INCLUDE_DEPTH:
            self.problems.append(
                Problem(
                    file,
                    line_no,
                    f"%include {name}: includes itself (a cycle); PgBouncer refuses it",
                )
            )
            return
        found = self.includes.get(resolved)
        if found is None or found.text is None:
            why = found.why if found else "no such file"
            self.problems.append(Problem(file, line_no, f"%include {name}: {why}"))
            return
        self.read(
            found.text, found.label, 1, str(PurePosixPath(resolved).parent), (*stack, resolved)
        )

    def _setting(self, key: str, value: str, file: str, line_no: int) -> None:
        section = self.section
        if not section:
            self.problems.append(Problem(file, line_no, f"{key} is set before any [section]"))
            return
        if section not in self.release.sections:
            return  # the section itself is reported
        if (section, key) in self.lines:
            first = self.lines[(section, key)]
            self.duplicates.append(
                Problem(
                    file,
                    line_no,
                    f"[{section}] {key} is set again (first at {first[0]}:{first[1]}); the later value wins",
                )
            )
        self.lines[(section, key)] = (file, line_no)
        if section == "pgbouncer":
            parameters = self.release.parameters
            if key not in parameters:
                elsewhere = [r.minor for r in RELEASES if key in r.parameters]
                near = difflib.get_close_matches(key, sorted(parameters), n=1)
                hint = f" (did you mean {near[0]}?)" if near and not elsewhere else ""
                self.problems.append(
                    Problem(
                        file,
                        line_no,
                        f"unknown parameter {key}{hint}: {self.release.name} refuses to start"
                        + (f" (a PgBouncer {elsewhere[0]} parameter)" if elsewhere else ""),
                    )
                )
                return
            self.settings[key] = value
            problem = None if _SECRET_KEY.search(key) else _check_value(key, value, self.release)
            if problem:
                self.problems.append(Problem(file, line_no, problem))
        else:
            if section != "peers":
                (self.databases if section == "databases" else self.users)[key] = value
            problem = _check_entry(section, key, value, self.release) if value else None
            if problem:
                self.problems.append(Problem(file, line_no, problem))


def parse_ini(
    text: str,
    file: str,
    *,
    first_line: int = 1,
    object: str | None = None,
    path: str | None = None,
    base: str | None = None,
    includes: Mapping[str, Included] | None = None,
    release: Release = PROD_RELEASE,
) -> PgBouncerIni:
    """Parse a pgbouncer.ini; ``first_line`` is the file line of the ini's first line.

    ``base`` is the directory of the ini file (None for an ini inside a ConfigMap:
    its includes are files in the container, which lint cannot see); ``includes``
    maps resolved paths to the files the I/O layer read for them. ``release`` is the
    PgBouncer whose parameters and sections are known (production's by default; the
    ``pgbouncer.invalid`` rule reads the ini again as the stack's image's release).
    """
    r = _Reader(includes or {}, release)
    start = (str(PurePosixPath(base) / PurePosixPath(file).name),) if base else ()
    r.read(text, file, first_line, base, start)
    if not r.seen_main and not any("syntax error" in p.message for p in r.problems):
        r.problems.append(
            Problem(file, first_line, "no [pgbouncer] section: PgBouncer refuses to start")
        )
    return PgBouncerIni(
        file=file,
        text=text,
        settings=r.settings,
        databases=r.databases,
        lines=r.lines,
        first_line=first_line,
        object=object,
        path=path,
        problems=tuple(r.problems),
        duplicates=tuple(r.duplicates),
        unfollowed=tuple(r.unfollowed),
        users=r.users,
        release=release,
        base=base,
        includes=dict(includes or {}),
    )
