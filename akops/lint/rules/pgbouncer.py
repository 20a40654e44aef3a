"""PgBouncer's settings and rollout.

Rule: pure. File rules over each pgbouncer.ini and the PgBouncer Deployment.
"""

from __future__ import annotations

from collections.abc import Iterator

from akops.lint.findings import INCIDENT_BOOT, Finding
from akops.lint.index import Index, at
from akops.lint.pgbouncer import PgBouncerIni
from akops.lint.registry import finding, rule
from akops.lint.workloads import PGBOUNCER


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
    choice = ix.pgbouncer_release()
    if choice.assumed is None or not ix.inis:
        return
    ini = ix.ini() or ix.inis[0]
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
