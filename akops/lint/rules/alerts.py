"""Alerts and runbooks, both ways: every alert links the runbook that handles it and says its
numbers; every alert a runbook names exists in the rendered rules.

Rule: pure. Rule files are found in ConfigMaps (keys ``*.rules.yml``) and PrometheusRules
(``akops.alerts.rules``); the runbooks come from ``Settings.runbooks`` (the caller reads
them; without them only the rule files' own shape and summaries are checked). The
prometheus-community chart's values (rendered as ``alerts-prometheus-values.yaml``, or the
operator's own under ``--path``) must mount the rule ConfigMap for the server and its
config-reloader alike (``alerts.reload``).
``promtool check rules`` itself is I/O and runs in ``akops.lint`` (``alerts.promtool``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from akops.alerts.rules import (
    RULE_FILE_SUFFIX,
    Alert,
    RuleFile,
    Runbooks,
    alerts_of,
    rule_files,
)
from akops.errors import InputError
from akops.lint.documents import KubeObject, PrometheusValues
from akops.lint.findings import Finding
from akops.lint.index import Index, located
from akops.lint.registry import finding, rule
from akops.yamldoc import PathKey

RULE_KINDS = frozenset({"ConfigMap", "PrometheusRule"})


def carries_rule_files(obj: KubeObject) -> bool:
    """A ConfigMap worth keeping for the stack rules: one with a rule file among its keys."""
    data = obj.data.get("data")
    return isinstance(data, dict) and any(str(k).endswith(RULE_FILE_SUFFIX) for k in data)


#: A summary "with the numbers": the value Prometheus fills in, or a figure of the rule.
_NUMBER = re.compile(r"\{\{\s*\$value|[0-9]")


def rule_files_in(objects: Iterable[KubeObject]) -> list[RuleFile]:
    out: list[RuleFile] = []
    for obj in objects:
        if obj.kind in RULE_KINDS:
            out.extend(rule_files(obj.data, obj.file, obj.line))
    return out


def alerts_in(files: Sequence[RuleFile]) -> tuple[list[Alert], list[Finding]]:
    """Alerts of every rule file; a rule file that is not one is a finding, not a crash."""
    alerts: list[Alert] = []
    broken: list[Finding] = []
    for rf in files:
        try:
            alerts.extend(alerts_of(rf))
        except InputError as e:
            broken.append(
                finding(
                    "alerts.promtool",
                    str(e),
                    file=rf.source,
                    line=rf.first_line or None,
                    object=rf.object,
                    path=rf.path,
                )
            )
    return alerts, broken


def _at(a: Alert, rule_id: str, message: str) -> Finding:
    return finding(
        rule_id, message, file=a.source, line=a.line, object=a.object, path=f"alert {a.name}"
    )


def check_summaries(alerts: Sequence[Alert]) -> Iterator[Finding]:
    for a in alerts:
        if not a.summary:
            yield _at(a, "alerts.summary", f"alert {a.name} has no summary annotation")
        elif not _NUMBER.search(a.summary):
            yield _at(
                a,
                "alerts.summary",
                f"alert {a.name}: summary {a.summary!r} gives no number "
                "(the value, a threshold or a duration)",
            )


def check_links(alerts: Sequence[Alert], books: Runbooks) -> Iterator[Finding]:
    """Each alert's runbook_url names an existing runbook that lists the alert."""
    for a in alerts:
        url = a.runbook_url
        if not url:
            yield _at(a, "alerts.runbook", f"alert {a.name} has no runbook_url annotation")
            continue
        name = books.runbook_in(url)
        if name is None:
            yield _at(
                a,
                "alerts.runbook",
                f"alert {a.name}: runbook_url {url!r} is not of the form "
                f"{books.url_template!r} (monitoring.runbook_url)",
            )
            continue
        book = books.named(name)
        if book is None:
            known = ", ".join(b.runbook for b in books.books) or "none"
            yield _at(
                a,
                "alerts.runbook",
                f"alert {a.name}: runbook_url names runbook {name!r}, which does not exist "
                f"(known: {known})",
            )
        elif a.name not in {n for n, _ in book.alerts}:
            yield _at(
                a,
                "alerts.runbook",
                f"alert {a.name}: its runbook {name!r} does not list it under when.alerts "
                f"({book.source})",
            )


def check_runbooks(alerts: Sequence[Alert], books: Runbooks) -> Iterator[Finding]:
    """Every alert a runbook names is defined by the rendered rules."""
    defined = {a.name for a in alerts}
    for book in books.books:
        for name, line in book.alerts:
            if name not in defined:
                yield finding(
                    "runbooks.alerts",
                    f"runbook {book.runbook} names alert {name!r} under when.alerts, but no "
                    f"rendered rule defines it ({len(defined)} alerts defined)",
                    file=book.source,
                    line=line,
                    path="when.alerts",
                )


@rule(
    "alerts.promtool",
    "error",
    "rule file that Prometheus would refuse (promtool check rules)",
    hint="fix the rule promtool names; run `promtool check rules` on the rendered file",
    why="Prometheus keeps the old rules when a rule file fails to load, silently",
)
def rule_file_shape(ix: Index) -> Iterator[Finding]:
    _, broken = alerts_in(rule_files_in(ix.objects))
    yield from broken


@rule(
    "alerts.summary",
    "error",
    "alert summary missing or without numbers",
    hint="say the value ({{ $value }}), the threshold and the duration in annotations.summary",
    why="a page that says what and how much needs no dashboard to be triaged",
)
def alert_summaries(ix: Index) -> Iterator[Finding]:
    alerts, _ = alerts_in(rule_files_in(ix.objects))
    yield from check_summaries(alerts)


@rule(
    "alerts.runbook",
    "error",
    "alert without a runbook_url to the runbook that handles it",
    hint="set annotations.runbook_url from monitoring.runbook_url, naming a runbook whose "
    "when.alerts lists the alert",
    why="an alert that fires at 3 a.m. must say what to do next",
)
def alert_runbooks(ix: Index) -> Iterator[Finding]:
    books = ix.settings.runbooks
    if books is None:
        return
    alerts, _ = alerts_in(rule_files_in(ix.objects))
    yield from check_links(alerts, books)


@rule(
    "runbooks.alerts",
    "error",
    "runbook names an alert that no rendered rule defines",
    hint="define the alert in templates/alerts/, or fix the name in the runbook's when.alerts",
    why="an alert that does not exist never sends anyone to its runbook (a 400-spike alert "
    "matched nothing for weeks)",
    scope="stack",
    keeps=("PrometheusRule", ("ConfigMap", carries_rule_files)),
)
def runbook_alerts(ix: Index) -> Iterator[Finding]:
    books = ix.settings.runbooks
    files = rule_files_in(ix.objects)
    if books is None or not files:
        return  # without rule files there is nothing to hold the runbooks to
    alerts, _ = alerts_in(files)
    yield from check_runbooks(alerts, books)


# --- the rule ConfigMap, mounted so that a change reloads ------------------------------------

#: What the prometheus-community chart's config-reloader watches without being told more.
RELOADER_DEFAULT_DIR = "/etc/config"
_SERVER_MOUNTS = ("server", "extraConfigmapMounts")
_RELOADER = ("configmapReload", "prometheus")


def _node(data: Any, path: PathKey) -> Any:
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None
    return data


def _mounts(data: Any, path: PathKey) -> list[tuple[int, dict[str, Any]]]:
    found = _node(data, path)
    items = found if isinstance(found, list) else []
    return [(i, m) for i, m in enumerate(items) if isinstance(m, dict) and m.get("configMap")]


def _dir(path: Any) -> str:
    return str(path).rstrip("/") or "/"


def check_reload(v: PrometheusValues) -> Iterator[Finding]:
    """Each ConfigMap the server mounts is also mounted, and watched, by the config-reloader;
    the reloader mounts nothing the server does not; no mount uses subPath (never updated)."""
    server = _mounts(v.data, _SERVER_MOUNTS)
    reloader = _node(v.data, _RELOADER)
    reloader = reloader if isinstance(reloader, dict) else {}
    theirs = _mounts(v.data, (*_RELOADER, "extraConfigmapMounts"))
    dirs = reloader.get("extraVolumeDirs")
    watched = {_dir(d) for d in dirs if isinstance(d, str)} if isinstance(dirs, list) else set()
    watched.add(RELOADER_DEFAULT_DIR)

    def at(path: PathKey, message: str) -> Finding:
        return located(v, "alerts.reload", path, message, "prometheus chart values")

    for i, m in server:
        name, where = m["configMap"], m.get("mountPath")
        path: PathKey = (*_SERVER_MOUNTS, i)
        if m.get("subPath"):
            yield at(
                (*path, "subPath"),
                f"the server mounts ConfigMap {name} with subPath {m['subPath']!r}: the kubelet "
                "never updates a subPath mount, so a rule change loads only with a new pod",
            )
        if reloader.get("enabled") is False:
            yield at(
                (*_RELOADER, "enabled"),
                f"the config-reloader is disabled: a change to ConfigMap {name} (mounted at "
                f"{where}) loads only when Prometheus restarts",
            )
            continue
        mine = [(j, r) for j, r in theirs if r["configMap"] == name]
        if not mine:
            yield at(
                path,
                f"the server mounts ConfigMap {name} at {where}, the config-reloader does not "
                "(configmapReload.prometheus.extraConfigmapMounts): a rule change loads only "
                "when Prometheus restarts",
            )
        for j, r in mine:
            if _dir(r.get("mountPath")) not in watched:
                yield at(
                    (*_RELOADER, "extraConfigmapMounts", j, "mountPath"),
                    f"the config-reloader mounts ConfigMap {name} at {r.get('mountPath')} but "
                    "does not watch that directory (configmapReload.prometheus.extraVolumeDirs): "
                    "a rule change loads only when Prometheus restarts",
                )
    mounted = {m["configMap"] for _, m in server}
    for j, r in theirs:
        if r["configMap"] not in mounted:
            yield at(
                (*_RELOADER, "extraConfigmapMounts", j),
                f"the config-reloader mounts ConfigMap {r['configMap']}, the server does not "
                "(server.extraConfigmapMounts): Prometheus never reads its rules",
            )


@rule(
    "alerts.reload",
    "error",
    "rule ConfigMap mounted by only one of Prometheus's server and its config-reloader",
    hint="mount the ConfigMap in both server.extraConfigmapMounts and "
    "configmapReload.prometheus.extraConfigmapMounts, and list its mountPath in "
    "configmapReload.prometheus.extraVolumeDirs (alerts-prometheus-values.yaml is the recipe)",
    why="Prometheus rereads rule files only when told to (POST /-/reload): without the "
    "reloader watching the mounted ConfigMap, an alert change waits for an unrelated restart",
)
def rule_reload(ix: Index) -> Iterator[Finding]:
    for v in ix.prometheus:
        yield from check_reload(v)
