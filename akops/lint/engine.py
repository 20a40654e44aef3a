"""One lint run: every file through the per-file layers and rules, then the stack rules.

Rule: pure (the yamllint config and its result cache are handed in). ``lint_file``
takes one file, runs style, schema, chart keys and the file rules over it, and
returns its findings plus the few documents the stack rules need (``Kept``); the
file's other documents are dropped there, so memory does not grow with the input.
``run`` folds the files' results and runs the stack rules once over what was kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace

from akops.lint import schema, style, values
from akops.lint.documents import (
    ChartValues,
    Classifier,
    KubeObject,
    OutpostPatches,
    Sources,
    SourceText,
    classify,
)
from akops.lint.findings import Finding
from akops.lint.index import DEFAULT_KUBE_VERSION, Index, Settings
from akops.lint.pgbouncer import PgBouncerIni
from akops.lint.registry import catalogue, checks, finding, keeper
from akops.lint.report import LintReport, PlacedWaiver, apply_waivers, build, placed
from akops.lint.workloads import CRITICAL, from_object
from akops.yamldoc import dotted

__all__ = ["DEFAULT_KUBE_VERSION", "FileResult", "Settings", "lint_file", "run"]


@dataclass(frozen=True)
class FileResult:
    """What one file contributes to the run."""

    findings: tuple[Finding, ...]
    documents: int
    objects: tuple[KubeObject, ...] = ()  # kept for the stack rules
    values: tuple[ChartValues, ...] = ()
    patches: tuple[OutpostPatches, ...] = ()
    inis: tuple[PgBouncerIni, ...] = ()
    waivers: tuple[PlacedWaiver, ...] = ()  # from objects' annotations


WAIVE_PREFIX = "lint.akops.io/waive."


def annotation_waivers(objects: Iterable[KubeObject]) -> Iterator[PlacedWaiver]:
    """``lint.akops.io/waive.RULE: reason`` on an object waives RULE for that object."""
    for obj in objects:
        meta = obj.data.get("metadata")
        notes = meta.get("annotations") if isinstance(meta, dict) else None
        for key, reason in notes.items() if isinstance(notes, dict) else ():
            if isinstance(key, str) and key.startswith(WAIVE_PREFIX):
                path = ("metadata", "annotations", key)
                yield PlacedWaiver(
                    key.removeprefix(WAIVE_PREFIX),
                    obj.ref,
                    str(reason or ""),
                    obj.file,
                    obj.line(path),
                    dotted(path),
                )


MIN_REASON = 10  # as an environment file's waiver: a reason in words


def bad_waiver(w: PlacedWaiver) -> str | None:
    """Why an annotation waiver is not honoured, or None."""
    if w.rule not in catalogue():
        return f"waiver annotation names no known rule {w.rule!r} (see `invoke lint --list-rules`)"
    if len(w.reason.strip()) < MIN_REASON:
        return f"waiver of {w.rule} without a reason in words (at least {MIN_REASON} characters)"
    return None


def _kept(obj: KubeObject, kept: Callable[[KubeObject], bool]) -> bool:
    if kept(obj):
        return True
    w = from_object(obj)
    return w is not None and w.role in CRITICAL


def evaluate(ix: Index, scope: str) -> list[Finding]:
    out: list[Finding] = []
    for check in checks("file" if scope == "file" else "stack"):
        out.extend(check.function(ix))
    return out


def classifier(settings: Settings) -> Classifier:
    chart = values.chart_keys(settings.chart_version)
    top = frozenset(k for k in chart.keys if "." not in k)
    return Classifier(top, settings.values_files)


def lint_sources(
    sources: Sources,
    settings: Settings,
    yamllint: style.StyleConfig | None,
    cache: style.Cache | None = None,
) -> FileResult:
    """The per-file layers and file rules over ``sources`` (one file, usually)."""
    findings: list[Finding] = list(sources.notes)
    if yamllint is not None:
        for text in sources.texts:
            if text.is_yaml:
                findings.extend(style.check(text, yamllint, cache))
    for obj in sources.objects:
        findings.extend(schema.check(obj, settings.kube_version, settings.strict_kinds))
    for v in sources.values:
        findings.extend(values.check(v, settings.chart_version))
    ix = Index(
        sources.objects,
        sources.values,
        sources.patches,
        sources.inis,
        settings,
        prometheus=sources.prometheus,
    )
    findings.extend(evaluate(ix, "file"))
    waivers = list(annotation_waivers(sources.objects))
    for w in waivers:
        problem = bad_waiver(w)
        if problem:
            findings.append(
                finding(
                    "lint.bad-waiver",
                    problem,
                    file=w.file,
                    line=w.line,
                    object=w.object,
                    path=w.path,
                )
            )
    kept = keeper()
    return FileResult(
        findings=tuple(findings),
        documents=sources.documents,
        objects=tuple(o for o in sources.objects if _kept(o, kept)),
        values=sources.values,
        patches=sources.patches,
        inis=sources.inis,
        waivers=tuple(w for w in waivers if not bad_waiver(w)),
    )


def lint_file(
    src: SourceText,
    settings: Settings,
    yamllint: style.StyleConfig | None,
    cache: style.Cache | None = None,
) -> FileResult:
    return lint_sources(classify([src], classifier(settings)), settings, yamllint, cache)


def once_per_kind(findings: list[Finding]) -> list[Finding]:
    """One ``schema.unchecked`` per kind (its first place), counting the others."""
    first: dict[str, int] = {}
    more: dict[str, int] = {}
    out: list[Finding] = []
    for f in findings:
        if f.rule != "schema.unchecked":
            out.append(f)
            continue
        if f.message in first:
            more[f.message] = more.get(f.message, 0) + 1
            continue
        first[f.message] = len(out)
        out.append(f)
    for message, n in more.items():
        i = first[message]
        out[i] = replace(out[i], message=f"{message} (and {n} more object(s) of this kind)")
    return out


def finish(
    results: Iterable[FileResult],
    files: int,
    settings: Settings,
    extra: Iterable[Finding] = (),
) -> LintReport:
    """Fold the files' results, run the stack rules once, apply waivers.

    ``extra`` are findings an I/O step made about the same files (promtool on rule files).
    """
    findings: list[Finding] = list(extra)
    objects: list[KubeObject] = []
    vals: list[ChartValues] = []
    patches: list[OutpostPatches] = []
    inis: list[PgBouncerIni] = []
    waivers = placed(settings.waivers, settings.waivers_source)
    documents = 0
    for r in results:
        waivers.extend(r.waivers)
        findings.extend(r.findings)
        objects.extend(r.objects)
        vals.extend(r.values)
        patches.extend(r.patches)
        inis.extend(r.inis)
        documents += r.documents
    stack = Index(objects, vals, patches, inis, settings)
    findings.extend(evaluate(stack, "stack"))
    findings = once_per_kind(findings)
    findings = apply_waivers(findings, waivers)
    skipped = {f.file for f in findings if f.rule == "input.skipped" and f.line is None}
    return build(findings, files=files, documents=documents, skipped=len(skipped))


def run(
    texts: Iterable[SourceText],
    settings: Settings,
    yamllint: style.StyleConfig | None,
    cache: style.Cache | None = None,
    extra: Iterable[Finding] = (),
) -> LintReport:
    """Lint ``texts`` as one stack, file by file (each file dropped once linted)."""
    files = 0

    def each() -> Iterator[FileResult]:
        nonlocal files
        for t in texts:
            files += 1
            yield lint_file(t, settings, yamllint, cache)

    results = list(each())
    return finish(results, files, settings, extra)
