"""``invoke lint``: schema, chart values and stack policy over rendered or given files.

Rule: the two entry points below do the I/O (read files, or render an environment in
memory) and hand pure values to ``akops.lint.engine``. Bad input (an unreadable
file, invalid YAML or ini, an unknown kind) raises ``InputError``; findings are data
in the returned ``LintReport``, and the caller decides the exit code from ``.ok``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from akops.layout import Layout
from akops.lint.documents import SourceText, classify, read_paths
from akops.lint.engine import DEFAULT_KUBE_VERSION, Settings, run
from akops.lint.findings import RULES, Finding, Rule
from akops.lint.report import LintReport, Waiver
from akops.lint.style import config_for

__all__ = ["RULES", "Finding", "LintReport", "Rule", "lint_environment", "lint_paths"]


def lint_paths(
    paths: Sequence[Path | str],
    *,
    kube_version: str | None = None,
    waivers: Sequence[Waiver] = (),
    max_connections: int | None = None,
    root: Path | None = None,
) -> LintReport:
    """Lint files (manifests, chart values, pgbouncer.ini) as one stack.

    ``root`` is where ``.yamllint.yaml`` is looked up (default: the working directory).
    """
    sources = classify(read_paths(paths))
    settings = Settings(
        kube_version=kube_version or DEFAULT_KUBE_VERSION,
        max_connections=max_connections,
        waivers=waivers,
    )
    return run(sources, settings, config_for(root if root is not None else Path.cwd()))


def lint_environment(layout: Layout, env_name: str) -> LintReport:
    """Lint what ``invoke render --env ENV`` produces, rendered in memory."""
    from akops.render import render_env

    env, stack = render_env(layout, env_name)
    target = layout.rel(layout.manifests_for(env_name))
    sources = classify(SourceText(f"{target}/{f.name}", f.text, True) for f in stack.files)
    settings = Settings(
        kube_version=env.kube.version,
        chart_version=env.authentik.chart.version,
        release=env.authentik.chart.release,
        max_connections=env.upstream.max_connections,
        waivers=tuple(env.lint.waivers),
        waivers_source=layout.rel(layout.environments / f"{env_name}.yaml"),
    )
    return run(sources, settings, config_for(layout.root))
