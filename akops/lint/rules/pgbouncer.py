"""PgBouncer's settings and rollout.

Rule: pure. File rules over each pgbouncer.ini and the PgBouncer Deployment.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator
from typing import Any

from akops.lint.findings import INCIDENT_BOOT, Finding
from akops.lint.index import Index, at
from akops.lint.pgbouncer import PgBouncerIni
from akops.lint.registry import finding, rule
from akops.lint.workloads import PGBOUNCER, Container, Workload
from akops.secrets import PLACEHOLDER_RE


def _section_line(ini: PgBouncerIni) -> int:
    for line, text in ini.section_lines():
        if text.strip().lower() == "[pgbouncer]":
            return line
    return ini.first_line


@rule(
    "pgbouncer.idle-transaction-timeout",
    "error",
    "PgBouncer without idle_transaction_timeout",
    hint="set idle_transaction_timeout (300 s) in [pgbouncer]",
    why=INCIDENT_BOOT + ": pods killed mid-migration left idle-in-transaction connections "
    "holding the lock",
)
def pgbouncer_idle_transaction_timeout(ix: Index) -> Iterator[Finding]:
    for ini in ix.inis:
        value = ini.seconds("idle_transaction_timeout")
        if value is None:
            continue  # pgbouncer.invalid reports it
        if value <= 0:
            set_ = "idle_transaction_timeout" in ini.settings
            file, line = (
                ini.where("pgbouncer", "idle_transaction_timeout")
                if set_
                else (ini.file, _section_line(ini))
            )
            yield finding(
                "pgbouncer.idle-transaction-timeout",
                "idle_transaction_timeout is "
                + ("0 (disabled)" if set_ else "not set (disabled)")
                + ": a client killed mid-transaction keeps its locks",
                file=file,
                line=line,
                object=ini.object,
                path=ini.path,
            )


@rule(
    "pgbouncer.invalid",
    "error",
    "pgbouncer.ini that the image's PgBouncer refuses to start with",
    hint="fix the line named: PgBouncer's syntax, a parameter the image's version knows, "
    "a value of its type",
    why="a PgBouncer that does not start takes every Authentik login down with it",
    scope="stack",  # the release comes from the stack's PgBouncer image, in another file
)
def pgbouncer_invalid(ix: Index) -> Iterator[Finding]:
    release = ix.pgbouncer_release().release
    for ini in ix.inis:
        for p in ini.for_release(release).problems:
            yield finding(
                "pgbouncer.invalid",
                p.message,
                file=p.file,
                line=p.line,
                object=ini.object,
                path=ini.path,
            )
        for p in ini.unfollowed:
            yield finding("input.skipped", p.message, file=p.file, line=p.line, object=ini.object)


@rule(
    "pgbouncer.version",
    "note",
    "the PgBouncer version pgbouncer.ini is judged by is assumed",
    hint="name the PgBouncer image with a version tag (edoburu/pgbouncer:v1.24.1-p1); "
    "lint has tables for the releases the real-PgBouncer oracle runs",
    why="parameters differ between releases: 1.24's max_prepared_statements stops 1.18",
    scope="stack",
)
def pgbouncer_version(ix: Index) -> Iterator[Finding]:
    choice, ini = ix.pgbouncer_release(), ix.ini()  # ix.ini() is None only without an ini
    if choice.assumed is None or ini is None:
        return
    yield finding(
        "pgbouncer.version",
        choice.assumed,
        file=ini.file,
        line=ini.first_line,
        object=ini.object,
        path=ini.path,
    )


@rule(
    "pgbouncer.duplicate-key",
    "warning",
    "a pgbouncer.ini key set twice (the later value wins)",
    hint="keep one line per key",
    why="a reviewer reads the first value; PgBouncer uses the last",
)
def pgbouncer_duplicate_key(ix: Index) -> Iterator[Finding]:
    for ini in ix.inis:
        for p in ini.duplicates:
            yield finding(
                "pgbouncer.duplicate-key",
                p.message,
                file=p.file,
                line=p.line,
                object=ini.object,
                path=ini.path,
            )


@rule(
    "pgbouncer.config-rollout",
    "warning",
    "PgBouncer pods do not roll when pgbouncer.ini changes",
    hint="add a checksum/config annotation of pgbouncer.ini to the pod template",
    why=INCIDENT_BOOT + ": config changes did not reach running PgBouncer pods",
)
def pgbouncer_config_rollout(ix: Index) -> Iterator[Finding]:
    for w in ix.workloads:
        if w.role != PGBOUNCER or w.from_values:
            continue
        uses_configmap = any(isinstance(v.get("configMap"), dict) for v in w.volumes)
        if uses_configmap and not any(str(k).startswith("checksum/") for k in w.annotations):
            yield at(
                w,
                "pgbouncer.config-rollout",
                w.annotations_path if w.annotations else w.annotations_path[:-1],
                f"{w.ref} mounts its config from a ConfigMap but its pod template has no checksum/ annotation",
            )


# --- the exporter's credentials --------------------------------------------------------------

_EXPORTER_REPOS = ("pgbouncer-exporter", "pgbouncer_exporter")
_CONN = re.compile(r"^postgres(?:ql)?://(?P<user>[^:@/?]*)(?::(?P<password>[^@/?]*))?@")
_USERLIST_LINE = re.compile(r'^"((?:[^"]|"")*)"\s+"((?:[^"]|"")*)"')
_FORCED_USER = re.compile(r"(?:^|\s)user\s*=\s*(\S+)")


def _is_exporter(c: Container) -> bool:
    repo = (c.image or "").partition("@")[0].rsplit("/", 1)[-1].partition(":")[0]
    return repo in _EXPORTER_REPOS


def _get(data: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        present = (isinstance(data, dict) and key in data) or (
            isinstance(data, list) and isinstance(key, int) and 0 <= key < len(data)
        )
        if not present:
            return None
        data = data[key]
    return data


def _same_secret(value: str) -> str:
    """A password as compared here: a rendered placeholder without its encoding."""
    return PLACEHOLDER_RE.sub(lambda m: f"<<akops-secret:{m.group(1)}>>", value).strip()


def _secret_values(ix: Index) -> dict[tuple[str, str], str]:
    """(Secret name, key) → value, for every Secret of the stack (``data`` decoded)."""
    found: dict[tuple[str, str], str] = {}
    for obj in ix.of_kind("Secret"):
        for field in ("data", "stringData"):
            items = obj.data.get(field)
            if not isinstance(items, dict):
                continue
            for key, value in items.items():
                if not isinstance(value, str):
                    continue
                if field == "data":
                    try:
                        value = base64.b64decode(value, validate=True).decode()
                    except (binascii.Error, UnicodeDecodeError):
                        continue
                found[(obj.name, str(key))] = value
    return found


def _userlists(secrets: dict[tuple[str, str], str]) -> dict[str, str]:
    """user → password of every userlist.txt the stack's Secrets hold."""
    users: dict[str, str] = {}
    for (_, key), text in secrets.items():
        if "userlist" not in key:
            continue
        for line in text.splitlines():
            m = _USERLIST_LINE.match(line.strip())
            if m:
                users[m.group(1).replace('""', '"')] = _same_secret(m.group(2).replace('""', '"'))
    return users


def _login(w: Workload, c: Container) -> tuple[str | None, tuple[str, str] | None, Any]:
    """The exporter's user, the Secret key its password comes from, and where that is said."""
    user: str | None = None
    ref: tuple[str, str] | None = None
    where: Any = c.path
    for var in c.env:
        if var.name == "PGBOUNCER_EXPORTER_CONNECTION_STRING" and isinstance(var.value, str):
            m = _CONN.match(var.value)
            if m:
                user, where = m.group("user") or None, var.path
        elif var.name == "PGUSER" and isinstance(var.value, str):
            user = user or var.value
        elif var.name == "PGPASSWORD" and var.from_ref:
            key = _get(w.source.data, (*var.path, "valueFrom", "secretKeyRef"))
            if isinstance(key, dict) and key.get("name") and key.get("key"):
                ref = (str(key["name"]), str(key["key"]))
    return user, ref, where


@rule(
    "pgbouncer.exporter-credentials",
    "error",
    "the PgBouncer exporter holds the application's database credentials",
    hint="give the exporter a stats-only user of its own (in userlist.txt and stats_users, no "
    "database role, its own secret: monitoring.exporter.user, secrets.stats_password), and no "
    "user= in [databases]",
    why="the exporter's port is open to the monitoring namespace: with the application's "
    "password it could read and change every row Authentik can",
    scope="stack",
    keeps={"Secret"},
)
def pgbouncer_exporter_credentials(ix: Index) -> Iterator[Finding]:
    secrets = _secret_values(ix)
    userlist = _userlists(secrets)
    forced = [
        (ini, name, m.group(1))
        for ini in ix.inis
        for name, conn in sorted(ini.databases.items())
        if (m := _FORCED_USER.search(conn))
    ]
    app_users = {u for _, _, u in forced}
    if ix.settings.database_user:
        app_users.add(ix.settings.database_user)
    for w in ix.workloads:
        if w.role != PGBOUNCER:
            continue
        for c in w.containers:
            if not _is_exporter(c):
                continue
            user, ref, where = _login(w, c)
            if user is not None and user in app_users:
                yield at(
                    w,
                    "pgbouncer.exporter-credentials",
                    where,
                    f"container {c.name} logs in as {user}, the application's database user",
                )
            password = secrets.get(ref) if ref else None
            if ref is not None and password is not None:
                same = sorted(
                    u for u, p in userlist.items() if p == _same_secret(password) and u != user
                )
                if same:
                    yield at(
                        w,
                        "pgbouncer.exporter-credentials",
                        where,
                        f"container {c.name}'s password (Secret/{ref[0]} key {ref[1]}) is also "
                        f"the password of {', '.join(same)} in userlist.txt",
                    )
            for ini, name, forced_user in forced:
                if user is not None and user != forced_user:
                    file, line = ini.where("databases", name)
                    yield finding(
                        "pgbouncer.exporter-credentials",
                        f"[databases] {name} forces user={forced_user}: the exporter's {user} "
                        f"(any user in userlist.txt) opens server connections as {forced_user}",
                        file=file,
                        line=line,
                        object=ini.object,
                        path=ini.path,
                    )
