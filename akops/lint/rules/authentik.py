"""Authentik chart values that do nothing, renamed settings, and Gunicorn's memory.

Rule: pure. File rules: each values file is judged with the Deployments the chart
renders from it (``Index.workloads_of``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from akops.lint.documents import ChartValues
from akops.lint.findings import INCIDENT_BOOT, Finding
from akops.lint.index import Index, at, located
from akops.lint.registry import rule
from akops.lint.settings import (
    AuthentikSettings,
    authentik_config,
    authentik_settings,
    inert_reason,
)
from akops.lint.workloads import SERVER
from akops.quantities import MIB, mib, parse_quantity
from akops.versions import version_split
from akops.yamldoc import PathKey, dotted

RENAMED = {"AUTHENTIK_WORKER__CONCURRENCY": "AUTHENTIK_WORKER__THREADS"}


def settings_of(ix: Index) -> Iterator[AuthentikSettings]:
    for values in ix.values:
        yield authentik_settings(values, ix.workloads_of(values))


def _leaves(node: Any, path: PathKey) -> Iterator[tuple[PathKey, Any]]:
    if isinstance(node, dict) and node:
        for k, v in node.items():
            yield from _leaves(v, (*path, str(k)))
    else:
        yield path, node


@rule(
    "values.inert-authentik",
    "error",
    "authentik.* setting ignored: authentik.existingSecret.secretName is set or authentik.enabled is false",
    hint="set it as the AUTHENTIK_* env var in server.env and worker.env instead",
    why="the seed's performance settings (conn_max_age, cache, web workers) never took effect",
)
def values_inert_authentik(ix: Index) -> Iterator[Finding]:
    for values in ix.values:
        why = inert_reason(values)
        if why is None:
            continue
        for path, value in _leaves(authentik_config(values), ("authentik",)):
            if path[1] in ("existingSecret", "enabled") or value in (None, "", {}, []):
                continue
            var = "AUTHENTIK_" + "__".join(str(p).upper() for p in path[1:])
            yield located(
                values,
                "values.inert-authentik",
                path,
                f"{dotted(path)} is ignored: {why}; set {var} in server.env and worker.env",
            )


def image_tags(values: ChartValues) -> Iterator[tuple[PathKey, str]]:
    """Every Authentik image tag the values set, where it is set."""
    data = values.data if isinstance(values.data, dict) else {}
    for base in (("global",), ("server",), ("worker",)):
        node = data.get(base[0])
        image = node.get("image") if isinstance(node, dict) else None
        tag = image.get("tag") if isinstance(image, dict) else None
        if tag not in (None, ""):
            yield (*base, "image", "tag"), str(tag)


@rule(
    "values.version-split",
    "error",
    "Authentik image tag differs from the chart version",
    hint="set the image tag to the chart version (or leave it empty: the chart uses its own), "
    "or pin the chart to the image's version",
    why=INCIDENT_BOOT + ": a chart/image version split rolled pods back",
)
def values_version_split(ix: Index) -> Iterator[Finding]:
    if not ix.settings.chart_version_given:
        return  # compared with a guessed chart, a split is noise: values.chart-unknown says so
    chart = ix.settings.chart_version
    for values in ix.values:
        for path, tag in image_tags(values):
            split = version_split(chart, tag)
            if split is not None:
                yield located(
                    values, "values.version-split", path, f"{dotted(path)} {tag}: {split.message()}"
                )


@rule(
    "values.chart-unknown",
    "note",
    "Authentik image tags not compared with the chart: the chart version is unknown",
    hint="pass --chart-version, or lint the values as `invoke render` writes them (their "
    "header names the chart)",
    why=INCIDENT_BOOT + ": a chart/image version split rolled pods back; judged against a "
    "guessed chart version, every tag would be a false split",
    scope="stack",
)
def values_chart_unknown(ix: Index) -> Iterator[Finding]:
    if ix.settings.chart_version_given:
        return
    tagged = [(v, path) for v in ix.values for path, _ in image_tags(v)]
    if tagged:
        # Once per stack, at the first tag: the same cause for every values file.
        values, path = tagged[0]
        files = len({v.file for v, _ in tagged})
        yield located(
            values,
            "values.chart-unknown",
            path,
            f"no chart version (no `# chart: authentik X` header, no --chart-version): the "
            f"image tags of {files} values file(s) were not checked for a chart/image split",
        )


@rule(
    "env.renamed",
    "warning",
    "Authentik setting under a renamed (deprecated) name",
    hint="use the new name",
    why="AUTHENTIK_WORKER__CONCURRENCY became AUTHENTIK_WORKER__THREADS in 2025.8",
)
def env_renamed(ix: Index) -> Iterator[Finding]:
    for w, c in ix.containers():
        for var in c.env:
            if var.name in RENAMED:
                yield at(
                    w,
                    "env.renamed",
                    var.path,
                    f"{var.name} was renamed {RENAMED[var.name]} (Authentik 2025.8)",
                )
    for values in ix.values:
        worker = authentik_config(values).get("worker")
        if isinstance(worker, dict) and "concurrency" in worker:
            path = ("authentik", "worker", "concurrency")
            yield located(
                values,
                "env.renamed",
                path,
                f"{dotted(path)} was renamed authentik.worker.threads (2025.8)",
            )


@rule(
    "gunicorn.memory",
    "error",
    "Gunicorn web workers do not fit under the server memory limit",
    hint="raise the server memory limit or lower AUTHENTIK_WEB__WORKERS; if your server "
    "measures less per worker, set lint.web_worker_mib in the environment",
    why="each Gunicorn worker preloads Django (about 500 MiB in the seed's measurements)",
)
def gunicorn_memory(ix: Index) -> Iterator[Finding]:
    per_worker, base = ix.settings.web_worker_mib, ix.settings.server_base_mib
    for s in settings_of(ix):
        if not s.web_workers.value:
            continue
        for w in ix.workloads_of(s.values):
            if w.role != SERVER:
                continue
            c = w.containers[0]
            limit = parse_quantity(c.limit("memory"))
            if limit is None:
                continue  # resources.memory-limit reports it
            need = (s.web_workers.value * per_worker + base) * MIB
            if need > limit:
                yield at(
                    w,
                    "gunicorn.memory",
                    (*c.resources_path, "limits", "memory"),
                    f"{w.ref}: {s.web_workers.value} web workers (from {s.web_workers.source}) x "
                    f"{per_worker}Mi + {base}Mi base = {mib(need)} do not fit under the memory "
                    f"limit {c.limit('memory')} (memory model: {ix.settings.memory_model_source}; "
                    "set lint.web_worker_mib / lint.server_base_mib to what your server measures)",
                )
