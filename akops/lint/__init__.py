"""``invoke lint``: style, schema, chart values and stack policy over rendered or given files.

Rule: the two entry points below do the I/O (read files, or render an environment in
memory; the yamllint result cache) and hand pure values to ``akops.lint.engine``.
Only a file that cannot be read at all, or a bad flag, raises ``InputError``;
everything else (invalid YAML, unknown kinds, other charts' values) is a finding or a
note in the returned ``LintReport``, and the caller decides the exit code from ``.ok``.

Rules live in ``akops/lint/rules/`` and are registered in ``akops.lint.registry``
(its docstring shows how to add one).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from akops import files
from akops.alerts.rules import Runbooks
from akops.errors import InputError
from akops.layout import Layout
from akops.lint.documents import (
    HEADER_BYTES,
    FileRef,
    KubeObject,
    SourceText,
    chart_named_in,
    expand_paths,
)
from akops.lint.engine import run
from akops.lint.findings import Finding, Rule
from akops.lint.index import DEFAULT_KUBE_VERSION, Settings
from akops.lint.registry import catalogue
from akops.lint.report import FORMATS, LintReport, Waiver
from akops.lint.style import config_for
from akops.lint.values import PINNED_CHART
from akops.yamldoc import display

if TYPE_CHECKING:
    from akops.environment import Environment
    from akops.lint.cache import StyleCache
    from akops.lint.reach import NetworkIntent
    from akops.stack import RenderedStack as Stack

__all__ = [
    "FORMATS",
    "Finding",
    "LintReport",
    "Rule",
    "catalogue",
    "describe_rules",
    "lint_environment",
    "lint_paths",
]


def _cache(enabled: bool) -> StyleCache | None:
    if not enabled:
        return None
    from akops.lint.cache import StyleCache

    return StyleCache()


def lint_paths(
    paths: Sequence[Path | str],
    *,
    kube_version: str | None = None,
    chart_version: str | None = None,
    waivers: Sequence[Waiver] = (),
    waivers_source: str = "waivers",
    waivers_file: Path | str | None = None,
    max_connections: int | None = None,
    strict_kinds: bool = False,
    values_files: Sequence[Path | str] = (),
    root: Path | None = None,
    cache: bool = True,
    jobs: int | None = None,
    pgbouncer_image: str | None = None,
    promtool: Callable[[Sequence[FileRef]], list[Finding]] | None = None,
) -> LintReport:
    """Lint files (manifests, chart values, pgbouncer.ini): each environment's as one stack.

    Files are grouped by the environment their rendered header or folder names
    (``akops.lint.stacks``); each group is judged on its own, with the chart version its
    own values files name. ``root`` is where ``.yamllint.yaml`` and ``environments/`` are
    looked up (default: the working directory); ``jobs`` is the number of worker
    processes for large inputs (default: one per core); ``pgbouncer_image`` is the
    PgBouncer image a pgbouncer.ini is judged by when a stack holds no PgBouncer
    Deployment (default: production's release, with a note).
    """
    from akops.lint.report import combine, placed
    from akops.lint.stacks import folder_names, group
    from akops.lint.workers import lint_files

    named = [Path(p) for p in values_files]
    if waivers_file is not None:
        waivers = [*waivers, *read_waivers(Path(waivers_file))]
        waivers_source = display(Path(waivers_file))
    given = [*paths, *named]
    refs = expand_paths(given)
    base = root if root is not None else Path.cwd()
    style = config_for(base)
    roots = [Path(p).resolve() for p in given if Path(p).is_dir()]
    heads = read_heads(refs)
    folders = {ref.label: folder_names(ref.path.resolve(), roots) for ref in refs}
    known = sorted(p.stem for p in (base / "environments").glob("*.yaml"))
    reports = []
    for stack in group(refs, heads, folders, known):
        chart = chart_version or chart_from_headers(stack.refs, heads)
        settings = Settings(
            kube_version=kube_version or DEFAULT_KUBE_VERSION,
            chart_version=chart or newest_chart(),
            chart_version_given=chart is not None,
            max_connections=max_connections,
            strict_kinds=strict_kinds,
            waivers=(),  # the run's waivers are applied once, over every stack (combine)
            waivers_source=waivers_source,
            values_files=frozenset(display(p) for p in named),
            pgbouncer_image=pgbouncer_image,
        )
        reports.append(
            lint_files(
                stack.refs,
                settings,
                style,
                cache=cache,
                jobs=jobs,
                extra=promtool(stack.refs) if promtool is not None else [],
            )
        )
    return combine(reports, placed(waivers, waivers_source))


def lint_environment(layout: Layout, env_name: str, *, cache: bool = True) -> LintReport:
    """Lint what ``invoke render --env ENV`` produces, rendered in memory, on akops' model
    of the chart and without programs (``akops.ops.lint.gate`` adds the real chart, promtool
    and the runbooks)."""
    from akops.render import render_env

    env, stack = render_env(layout, env_name)
    return lint_rendered(layout, env, stack, cache=cache)


def lint_rendered(
    layout: Layout,
    env: Environment,
    stack: Stack,
    *,
    strict_kinds: bool = False,
    cache: bool = True,
    chart_objects: Sequence[KubeObject] = (),
    promtool: Sequence[Finding] = (),
    runbooks: Runbooks | None = None,
) -> LintReport:
    """Lint one render of ``env`` (the one ``invoke deploy`` applies, or a fresh one).

    What takes a program is the caller's (``akops.ops.lint``): ``chart_objects``, what
    ``helm template`` of the pinned chart renders for these values (empty: the chart's
    Deployments are judged on akops' model of it), and ``promtool``, the findings of
    ``promtool check rules`` on these files. ``runbooks`` (``akops.runbook.load.alert_links``)
    holds the rendered alert rules to the runbooks' ``when.alerts`` both ways; without them
    only the rules themselves are judged.
    """
    env_name = env.name
    target = layout.rel(layout.manifests_for(env_name))
    texts = texts_of(layout, env_name, stack)
    settings = Settings(
        kube_version=env.kube.version,
        chart_version=env.authentik.chart.version,
        chart_version_given=True,
        release=env.authentik.chart.release,
        max_connections=env.upstream.max_connections,
        strict_kinds=strict_kinds,
        web_worker_mib=env.lint.web_worker_mib,
        server_base_mib=env.lint.server_base_mib,
        memory_model_source=(
            f"lint.web_worker_mib {env.lint.web_worker_mib}Mi + lint.server_base_mib "
            f"{env.lint.server_base_mib}Mi of {layout.rel(layout.environments / f'{env_name}.yaml')}"
        ),
        waivers=(*env.lint.waivers, *split_waiver(env)),
        waivers_source=layout.rel(layout.environments / f"{env_name}.yaml"),
        chart_objects=tuple(chart_objects),
        protected=env.protected,
        runbooks=runbooks,
        network=network_intent(env),
        database_user=env.upstream.user,
    )
    report = run(texts, settings, config_for(layout.root), _cache(cache), list(promtool))
    from akops.lint.origins import with_origins

    env_file = layout.environments / f"{env_name}.yaml"
    return with_origins(
        report, env, stack, env_file, layout.rel(env_file), target, layout.templates
    )


def texts_of(layout: Layout, env_name: str, stack: Stack) -> list[SourceText]:
    """The rendered files of ``stack`` as lint reads them, named as in manifests/ENV/."""
    target = layout.rel(layout.manifests_for(env_name))
    return [
        SourceText(
            f"{target}/{f.name}",
            f.text,
            not f.name.endswith(".ini"),
            f.name.endswith((".yaml", ".yml", ".ini")),
        )
        for f in stack.files
    ]


def network_intent(env: Environment) -> NetworkIntent:
    """Who must reach whom in ``env``'s stack (``netpol.reach``), from its settings."""
    from akops.lint.reach import DnsTarget, NetworkIntent

    dns = env.pgbouncer.network_policy.dns
    m = env.monitoring
    return NetworkIntent(
        namespace=env.kube.namespace,
        listen_port=env.pgbouncer.settings.listen_port,
        upstream_namespace=env.upstream.namespace,
        upstream_port=env.upstream.port,
        dns=DnsTarget(
            None if dns.address else dns.namespace,
            () if dns.address else tuple(sorted(dns.pod_labels.items())),
            dns.address,
            dns.port,
        ),
        monitoring_namespace=m.namespace if m is not None else None,
        exporter_port=m.exporter.port if m is not None else None,
        source=f"environments/{env.name}.yaml",
    )


def split_waiver(env: Environment) -> list[Waiver]:
    """A split the environment states a reason for (render allows it) is waived with that reason."""
    from akops.environment import LintWaiver

    reason = env.authentik.version_split_reason
    if reason is None:
        return []
    return [LintWaiver(rule="values.version-split", reason=f"version_split_reason: {reason}")]


def read_waivers(path: Path) -> list[Waiver]:
    """A --waivers file: a list of {rule, object, reason}, or an environment's ``lint:`` block.

    Errors name the file, the line and the field as the file has it (``waivers[1].reason``,
    ``lint.waivers[0].rule``), like an environment file's.
    """
    from pydantic import TypeAdapter, ValidationError

    from akops.environment import LintWaiver
    from akops.yamldoc import PathKey, dotted, parse_all, read_text

    shown = display(path)
    docs = parse_all(read_text(path, flag="--waivers", label=shown), shown)
    if not docs:
        return []
    doc = docs[0]
    data = doc.data
    at: PathKey = ()
    if isinstance(data, dict):
        if isinstance(data.get("lint"), dict) and "waivers" in data["lint"]:
            data, at = data["lint"]["waivers"], ("lint", "waivers")
        elif "waivers" in data:
            data, at = data["waivers"], ("waivers",)
        else:
            raise InputError(
                f"{shown}:{doc.start_line}: expected a list of waivers ({{rule, object, reason}}) "
                "or a mapping with `waivers:` or `lint: {waivers: ...}`"
            )
    prefix: PathKey = at or ("waivers",)
    try:
        return list(TypeAdapter(list[LintWaiver]).validate_python(data))
    except ValidationError as e:
        err = e.errors()[0]
        loc: PathKey = tuple(p for p in err["loc"] if isinstance(p, int | str))
        why = "required field is missing" if err["type"] == "missing" else err["msg"]
        why = "unknown field" if err["type"] == "extra_forbidden" else why
        raise InputError(
            f"{shown}:{doc.line_of((*at, *loc))}: {dotted((*prefix, *loc))}: {why}"
        ) from e


def read_heads(refs: Sequence[FileRef]) -> dict[str, str]:
    """The first ``HEADER_BYTES`` of every YAML file among ``refs``, by label.

    Reading no more keeps a large tree's extra cost to one small read per file; a file that
    cannot be read is left out (reading it for real says why, in its place).
    """
    heads: dict[str, str] = {}
    for ref in refs:
        if not ref.readable or ref.path.suffix not in (".yaml", ".yml"):
            continue
        head = files.read_head(ref.path, HEADER_BYTES)
        if head is not None:  # anything else: reading it for real says why, in its place
            heads[ref.label] = head.decode("utf-8", "replace")
    return heads


def chart_from_headers(refs: Sequence[FileRef], heads: Mapping[str, str]) -> str | None:
    """The chart version rendered values files name in their header (``# chart: authentik
    X``), or None; values files of one stack naming different versions are bad input (exit 2)."""
    found: dict[str, str] = {}
    for ref in refs:
        version = chart_named_in(heads.get(ref.label, ""))
        if version is not None:
            found.setdefault(version, ref.label)
    if len(found) > 1:
        named = ", ".join(f"{label}: {v}" for v, label in found.items())
        raise InputError(
            f"values files name different chart versions ({named}); pass --chart-version"
        )
    return next(iter(found), None)


def newest_chart() -> str:
    """The newest chart version whose key list ships in akops/data/."""
    from akops.lint.values import bundled_versions

    versions = bundled_versions()
    return versions[-1] if versions else PINNED_CHART


def describe_rules(explain: str | None = None) -> str:
    """``--list-rules`` (every rule, one line each) or ``--explain RULE``."""
    import difflib

    from akops.errors import InputError

    rules = catalogue()
    if explain is None:
        width = max(len(r) for r in rules)
        return "".join(f"{r.id:<{width}}  {r.severity:<7}  {r.title}\n" for r in rules.values())
    r = rules.get(explain)
    if r is None:
        near = difflib.get_close_matches(explain, list(rules), n=1)
        hint = f" (did you mean {near[0]}?)" if near else ""
        raise InputError(f"--explain: no rule {explain!r}{hint}; see --list-rules")
    return (
        f"{r.id} ({r.severity})\n"
        f"  catches: {r.title}\n"
        f"  fix:     {r.hint}\n"
        f"  why:     {r.motivation}\n"
        f"  waive:   lint.waivers in the environment file, --waivers FILE, or the annotation "
        f"lint.akops.io/waive.{r.id}: <reason> on the object\n"
    )
