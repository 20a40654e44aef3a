"""The one lint gate: ``invoke lint`` and the lint stage of ``invoke deploy``.

Rule: orchestration (I/O through the edges). What judging a stack needs of programs is
gathered here and handed to the pure lint (``akops.lint``): the pinned chart's real
objects (``helm template``, ``akops.chart``) and ``promtool check rules``'s findings
(``akops.alerts.promtool``), with the runbooks' alert links. ``invoke deploy`` lints the
very render it applies, with the runbooks, exactly as ``invoke lint --env`` does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from akops import files
from akops.errors import InputError
from akops.layout import Layout
from akops.lint import LintReport, lint_paths, lint_rendered, texts_of
from akops.lint.documents import FileRef, KubeObject, SourceText, classify
from akops.lint.findings import Finding
from akops.requests import LintRequest

if TYPE_CHECKING:
    from akops.environment import Environment
    from akops.stack import RenderedStack as Stack

Note = Callable[[str], None]


def lint(layout: Layout, req: LintRequest, note: Note) -> LintReport:
    """``invoke lint``: the files of ``req.path``, or the environment ``req.env`` rendered."""
    if req.path:
        return lint_paths(
            req.path,
            kube_version=req.kube_version or None,
            chart_version=req.chart_version or None,
            max_connections=req.max_connections,
            strict_kinds=req.strict_kinds,
            values_files=req.values,
            waivers_file=req.waivers or None,
            root=layout.root,
            cache=not req.no_cache,
            promtool=promtool_on,
        )
    from akops.render import render_env

    env, stack = render_env(layout, req.env)
    return gate(layout, env, stack, note, strict_kinds=req.strict_kinds, cache=not req.no_cache)


def gate(
    layout: Layout,
    env: Environment,
    stack: Stack,
    note: Note,
    *,
    strict_kinds: bool = False,
    cache: bool = True,
) -> LintReport:
    """Lint one render of ``env`` with everything: the real chart's objects when helm and the
    pulled chart are at hand (``note`` says which), promtool, and the runbooks both ways."""
    from akops.runbook.load import alert_links

    objects: tuple[KubeObject, ...] = ()
    values_text = stack.by_name().get("authentik-values.yaml")
    if values_text is not None:
        objects, line = chart_objects(env, values_text)
        note(line)
    monitoring = env.monitoring
    runbooks = alert_links(
        layout.runbooks,
        layout.rel(layout.runbooks),
        monitoring.runbook_url if monitoring else None,
    )
    return lint_rendered(
        layout,
        env,
        stack,
        strict_kinds=strict_kinds,
        cache=cache,
        chart_objects=objects,
        promtool=promtool_findings(texts_of(layout, env.name, stack)),
        runbooks=runbooks,
    )


def promtool_on(refs: Sequence[FileRef]) -> list[Finding]:
    """``promtool check rules`` on the rule files among ``refs`` (read again: only those)."""
    from akops.alerts import promtool

    if not promtool.available():
        return []
    texts = []
    for ref in refs:
        if ref.path.suffix not in (".yaml", ".yml"):
            continue
        try:
            text = files.read_text(ref.path)
        except InputError:
            continue  # the lint itself reports an unreadable file
        if "groups" in text:
            texts.append(SourceText(ref.label, text, True))
    return promtool_findings(texts)


def promtool_findings(texts: Sequence[SourceText]) -> list[Finding]:
    """``promtool check rules`` on every rule file among ``texts``, when promtool is on PATH."""
    from akops.alerts import promtool
    from akops.alerts.rules import rule_files
    from akops.errors import InputError
    from akops.lint.registry import finding
    from akops.yamldoc import parse_all

    if not promtool.available():
        return []
    found = []
    for t in texts:
        if not t.is_yaml or "groups" not in t.text:
            continue
        try:
            docs = parse_all(t.text, t.file)
        except InputError:
            continue  # yaml.syntax reports it
        for doc in docs:
            if isinstance(doc.data, dict):
                found.extend(rule_files(doc.data, t.file, doc.line_of))
    return [
        finding(
            "alerts.promtool",
            f"promtool: {p.message}",
            file=p.file.source,
            line=p.line,
            object=p.file.object,
            path=p.file.path,
        )
        for p in promtool.check_rules(found)
    ]


def chart_objects(env: Environment, values_text: str) -> tuple[tuple[KubeObject, ...], str]:
    """The pinned chart's real objects for ``values_text``, and one line saying what lint judges.

    Empty when there is no helm (PATH, akops' cache) or the pinned chart version is not pulled
    (or no longer matches its recorded digest): lint then falls back to its model of the chart.
    """
    from akops import chart as charts

    chart = env.authentik.chart
    helm = charts.helm_on_path()
    pulled = charts.cached(chart)
    if helm is None or pulled is None:
        missing = (
            "helm is not on PATH nor in akops' cache"
            if helm is None
            else f"chart {chart.name} {chart.version} is not pulled"
        )
        return (), (
            f"lint: {missing}: the chart's Deployments are judged on akops' model of the chart "
            f"(`invoke chart.pull --env {env.name}` for the real one)"
        )
    label = f"helm template {chart.release} ({pulled.label})"
    out = charts.template(
        helm,
        pulled.archive,
        release=chart.release,
        namespace=env.kube.namespace,
        values_text=values_text,
        kube_version=env.kube.version,
    )
    objects = classify([SourceText(label, out, True)]).objects
    return objects, (
        f"lint: the chart's Deployments are judged on the real chart "
        f"({pulled.label}, {pulled.digest[:19]}…, helm template)"
    )
