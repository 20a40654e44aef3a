"""The one registry of lint rules: each rule's catalogue entry and the function that checks it.

Rule: pure. A rule is a plain function over the indexed document set::

    from akops.lint.index import Index
    from akops.lint.registry import rule

    @rule("image.digest", "warning", "image not pinned by digest",
          hint="pin the image as repo@sha256:…", why="tags can be moved")
    def image_digest(ix: Index) -> Iterator[Finding]:
        for w, c in ix.containers():
            if c.image and "@" not in c.image:
                yield ix.at(w, "image.digest", c.image_path, f"container {c.name} ...")

and a new module is registered by adding its name to ``RULE_MODULES`` in
``akops/lint/rules/__init__.py`` (that list is the registration: nothing else).

``scope`` says which index the function sees:

* ``"file"`` (default): called once per input file with that file's documents
  (objects, workloads, chart values, outpost patches, pgbouncer.ini). Most rules
  are file rules: they see one workload, container or object at a time. The lint
  runs them file by file (in parallel on large inputs) and then drops the file.
* ``"stack"``: called once with everything kept across files: chart values, outpost
  patches, every pgbouncer.ini, the objects of critical workloads (Authentik,
  PgBouncer, outposts) and the objects of the kinds the rule lists in ``keeps``
  (e.g. ``keeps={"PodDisruptionBudget"}``), or of a kind and a test of the object
  (``("ConfigMap", carries_rule_files)``: a tree's ordinary ConfigMaps are not kept
  for the one that holds alert rules). Cross-document lookups go through the
  index (``ix.budget_for``, ``ix.named``, ``ix.of_kind``), never a scan per item,
  so a run costs time linear in its input.

Rule IDs never change meaning once published: waivers and CI configuration refer to
them. Rules without a function (the layers: YAML, schema, chart keys) are catalogued
with ``define``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypeVar

from akops.lint.findings import Finding, Rule, Severity

if TYPE_CHECKING:
    from akops.lint.documents import KubeObject
    from akops.lint.index import Index

Scope = Literal["file", "stack"]
RuleFunction = Callable[["Index"], Iterable[Finding]]
F = TypeVar("F", bound=RuleFunction)
#: What a stack rule needs kept across files: every object of a kind, or those of a kind
#: its test accepts.
Keep = str | tuple[str, Callable[["KubeObject"], bool]]


@dataclass(frozen=True)
class Check:
    """A registered rule function: what it checks, and which index it is given."""

    rule: Rule
    function: RuleFunction
    scope: Scope
    keeps: tuple[Keep, ...]


_RULES: dict[str, Rule] = {}
_CHECKS: list[Check] = []


def define(r: Rule) -> Rule:
    """Catalogue a rule that no function of the registry produces (a layer's rule)."""
    known = _RULES.get(r.id)
    if known is not None and known != r:
        raise ValueError(f"lint rule {r.id} is defined twice, differently")
    _RULES[r.id] = r
    return r


def rule(
    id: str,
    severity: Severity,
    title: str,
    *,
    hint: str,
    why: str,
    scope: Scope = "file",
    keeps: Iterable[Keep] = (),
) -> Callable[[F], F]:
    """Register the decorated function as the check of rule ``id``."""

    def register(fn: F) -> F:
        r = define(Rule(id, severity, title, hint, why))
        _CHECKS.append(Check(r, fn, scope, tuple(keeps)))
        return fn

    return register


def _load() -> None:
    from akops.lint import rules

    rules.load()


def catalogue() -> dict[str, Rule]:
    """Every rule, by ID, sorted."""
    _load()
    return dict(sorted(_RULES.items()))


def checks(scope: Scope) -> tuple[Check, ...]:
    _load()
    return tuple(c for c in _CHECKS if c.scope == scope)


def keeper() -> Callable[[KubeObject], bool]:
    """Whether a stack rule needs an object kept across files (its kind, or its kind and
    the rule's test of it: a ConfigMap only when it carries rule files)."""
    kinds: set[str] = set()
    tests: dict[str, list[Callable[[KubeObject], bool]]] = {}
    for c in checks("stack"):
        for k in c.keeps:
            if isinstance(k, str):
                kinds.add(k)
            else:
                tests.setdefault(k[0], []).append(k[1])

    def kept(obj: KubeObject) -> bool:
        return obj.kind in kinds or any(t(obj) for t in tests.get(obj.kind, ()))

    return kept


def finding(
    rule: str,
    message: str,
    *,
    file: str,
    line: int | None = None,
    column: int | None = None,
    object: str | None = None,
    path: str | None = None,
    severity: Severity | None = None,
) -> Finding:
    """A finding of a catalogued rule (hint and motivation come from the catalogue)."""
    r = _RULES.get(rule) or catalogue()[rule]
    return Finding(
        rule=rule,
        severity=severity or r.severity,
        file=file,
        line=line,
        column=column,
        object=object,
        path=path,
        message=message,
        hint=r.hint,
        motivation=r.motivation,
    )
