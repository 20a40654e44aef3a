"""One lint run over everything it was given: style, schema, chart values, policy.

Rule: pure (the yamllint config is handed in). Takes ``Sources`` and the run's
settings, returns a ``LintReport``; bad input has already raised ``InputError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from yamllint.config import YamlLintConfig

from akops.environment import Kube
from akops.lint import policy, schema, style, values
from akops.lint.documents import Sources
from akops.lint.findings import Finding
from akops.lint.report import LintReport, Waiver, apply_waivers, build
from akops.lint.workloads import DEFAULT_RELEASE, Workload, from_object, from_values

# One recent version, the same default an environment file gets.
DEFAULT_KUBE_VERSION: str = Kube.model_fields["version"].default


@dataclass(frozen=True)
class Settings:
    kube_version: str = DEFAULT_KUBE_VERSION
    chart_version: str = values.PINNED_CHART
    release: str = DEFAULT_RELEASE
    max_connections: int | None = None
    waivers: Sequence[Waiver] = ()
    waivers_source: str = "waivers"


def workloads_of(sources: Sources, release: str) -> tuple[Workload, ...]:
    found: list[Workload] = []
    for obj in sources.objects:
        w = from_object(obj)
        if w is not None:
            found.append(w)
    for v in sources.values:
        found.extend(from_values(v, release))
    return tuple(found)


def run(sources: Sources, settings: Settings, yamllint: YamlLintConfig) -> LintReport:
    findings: list[Finding] = []
    for text in sources.texts:
        if text.is_yaml:
            findings.extend(style.check(text, yamllint))
    for obj in sources.objects:
        findings.extend(schema.check(obj, settings.kube_version))
    for v in sources.values:
        findings.extend(values.check(v, settings.chart_version))
    stack = policy.Stack(
        objects=sources.objects,
        workloads=workloads_of(sources, settings.release),
        values=sources.values,
        patches=sources.patches,
        inis=sources.inis,
        max_connections=settings.max_connections,
    )
    findings.extend(policy.evaluate(stack))
    findings = apply_waivers(findings, settings.waivers, settings.waivers_source)
    return build(findings, files=len(sources.texts), documents=sources.documents)
