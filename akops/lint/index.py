"""The indexed document set a lint rule reads.

Rule: pure. ``Index`` is built once from the documents of a file (for file rules) or
from what the run kept across files (for stack rules), with every lookup a rule needs
answered from a dict built in that one pass: objects by kind and by name, workloads by
the chart values they come from, and PodDisruptionBudgets by one of their selector's
labels. ``visits`` counts the candidates a lookup had to examine, so a test can prove
the lookups stay linear without timing anything.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from akops import names
from akops.alerts.rules import Runbooks
from akops.environment import Kube
from akops.lint.documents import (
    ChartValues,
    KubeObject,
    Located,
    OutpostPatches,
    PrometheusValues,
)
from akops.lint.findings import Finding
from akops.lint.pgbouncer import PgBouncerIni, ReleaseChoice
from akops.lint.reach import NetworkIntent
from akops.lint.registry import finding
from akops.lint.values import PINNED_CHART
from akops.lint.workloads import (
    PGBOUNCER,
    Budget,
    Container,
    Workload,
    from_object,
    from_values,
    on_real_objects,
    selector_matches,
)
from akops.yamldoc import PathKey, dotted

# One recent version, the same default an environment file gets.
DEFAULT_KUBE_VERSION: str = Kube.model_fields["version"].default


@dataclass(frozen=True)
class Settings:
    """What one lint run was told besides its files."""

    kube_version: str = DEFAULT_KUBE_VERSION
    chart_version: str = PINNED_CHART
    chart_version_given: bool = False  # from an environment or --chart-version, not the default
    release: str = names.DEFAULT_RELEASE
    max_connections: int | None = None
    strict_kinds: bool = False
    web_worker_mib: int = 500  # each Gunicorn worker preloads Django at about 500 MiB
    server_base_mib: int = 256  # the Go router and the Gunicorn master besides the workers
    memory_model_source: str = "the seed's figures, 500Mi a worker + 256Mi"
    waivers: Sequence[Any] = ()
    waivers_source: str = "waivers"
    values_files: frozenset[str] = field(default_factory=frozenset)  # named with --values
    # What `helm template` of the pinned chart rendered from the values (empty: judge the
    # chart's Deployments by the model in akops.lint.workloads instead).
    chart_objects: tuple[KubeObject, ...] = ()
    protected: bool | None = None  # the environment's `protected:`; None: no environment
    #: the runbooks alert rules are held to (None: no alert <-> runbook cross-check)
    runbooks: Runbooks | None = None
    #: the PgBouncer image to judge pgbouncer.ini by when the input has no PgBouncer
    #: Deployment (e.g. ``lint --path pgbouncer.ini``); None: production's release, said once
    pgbouncer_image: str | None = None
    #: who must reach whom (``netpol.reach``); None: what the files alone tell
    network: NetworkIntent | None = None
    #: the application's database user (an environment's upstream.user; None for --path)
    database_user: str | None = None

    def fingerprint(self) -> str:
        """What decides a file's own findings (waivers are applied after, to the whole run)."""
        return repr(
            (
                self.kube_version,
                self.chart_version,
                self.release,
                self.max_connections,
                self.strict_kinds,
                self.web_worker_mib,
                self.server_base_mib,
                self.memory_model_source,
                sorted(self.values_files),
                self.protected,  # image.digest: error, warning or silent
                # The real chart's objects change a values file's findings: part of the key.
                hashlib.sha256(repr([o.data for o in self.chart_objects]).encode()).hexdigest(),
                self.runbooks,  # alerts.runbook is a file rule
            )
        )


def _namespace(obj: Located) -> str | None:
    meta = obj.data.get("metadata") if isinstance(obj.data, dict) else None
    ns = meta.get("namespace") if isinstance(meta, dict) else None
    return str(ns) if ns else None


@dataclass(frozen=True)
class _Pdb:
    obj: KubeObject
    selector: Any
    namespace: str | None


class Index:
    """Documents and workloads, indexed for the lookups rules make."""

    def __init__(
        self,
        objects: Iterable[KubeObject] = (),
        values: Iterable[ChartValues] = (),
        patches: Iterable[OutpostPatches] = (),
        inis: Iterable[PgBouncerIni] = (),
        settings: Settings | None = None,
        prometheus: Iterable[PrometheusValues] = (),
    ) -> None:
        self.settings = settings or Settings()
        self.objects = tuple(objects)
        self.values = tuple(values)
        self.patches = tuple(patches)
        self.inis = tuple(inis)
        self.prometheus = tuple(prometheus)
        self.visits = 0
        by_kind: dict[str, list[KubeObject]] = defaultdict(list)
        self._by_name: dict[tuple[str, str], KubeObject] = {}
        workloads: list[Workload] = []
        for obj in self.objects:
            by_kind[obj.kind].append(obj)
            self._by_name.setdefault((obj.kind, obj.name), obj)
            w = from_object(obj)
            if w is not None:
                workloads.append(w)
        self._of_values: dict[int, tuple[Workload, ...]] = {}
        for v in self.values:
            mine = tuple(from_values(v, self.settings.release, self.settings.chart_version))
            if self.settings.chart_objects:
                mine = on_real_objects(mine, self.settings.chart_objects)
            self._of_values[id(v)] = mine
            workloads.extend(mine)
        self.workloads = tuple(workloads)
        self._by_kind = {k: tuple(v) for k, v in by_kind.items()}
        self._index_pdbs(self._by_kind.get("PodDisruptionBudget", ()))

    # --- lookups -----------------------------------------------------------------------

    def of_kind(self, kind: str) -> tuple[KubeObject, ...]:
        return self._by_kind.get(kind, ())

    def named(self, kind: str, name: str) -> KubeObject | None:
        return self._by_name.get((kind, name))

    def workloads_of(self, values: ChartValues) -> tuple[Workload, ...]:
        """The Deployments the chart renders from ``values``."""
        return self._of_values.get(id(values), ())

    def containers(self) -> Iterator[tuple[Workload, Container]]:
        for w in self.workloads:
            for c in w.containers:
                yield w, c

    def pgbouncer(self) -> Workload | None:
        return next(
            (w for w in self.workloads if w.role == PGBOUNCER and w.replicas is not None), None
        )

    def pgbouncer_release(self) -> ReleaseChoice:
        """Which PgBouncer release this stack's pgbouncer.ini is judged by: its image's tag."""
        image = next(
            (
                c.image
                for w in self.workloads
                if w.role == PGBOUNCER
                for c in w.containers
                if c.image and c.name == names.PGBOUNCER
            ),
            self.settings.pgbouncer_image,
        )
        return ReleaseChoice.for_image(image)

    def ini(self) -> PgBouncerIni | None:
        # A ConfigMap's ini is what runs; a standalone file is the fallback.
        return next((i for i in self.inis if i.object), self.inis[0] if self.inis else None)

    def _index_pdbs(self, pdbs: Sequence[KubeObject]) -> None:
        # Each PDB is filed under the rarest of its matchLabels pairs: a workload can
        # only match a PDB whose every pair it carries, so looking up the workload's own
        # pairs finds every candidate, and a shared label (team=x) does not make every
        # workload examine every PDB.
        entries = []
        for obj in pdbs:
            spec = obj.data.get("spec")
            selector = spec.get("selector") if isinstance(spec, dict) else None
            entries.append(_Pdb(obj, selector, _namespace(obj)))
        pairs = Counter(p for e in entries for p in _label_pairs(e.selector))
        self._pdbs: dict[tuple[str, str], list[_Pdb]] = defaultdict(list)
        self._pdbs_unanchored: list[_Pdb] = []
        for e in entries:
            mine = _label_pairs(e.selector)
            if mine:
                self._pdbs[min(mine, key=lambda p: (pairs[p], p))].append(e)
            else:
                self._pdbs_unanchored.append(e)

    def budget_for(self, w: Workload) -> Budget | None:
        """The budget protecting ``w``: the chart's own PDB, or the first PDB selecting its pods."""
        if w.budget is not None:
            return w.budget
        ns = _namespace(w.source) if not w.from_values else None
        found: list[_Pdb] = []
        for pair in sorted(w.labels.items()):
            found.extend(self._pdbs.get(pair, ()))
        found.extend(self._pdbs_unanchored)
        for e in sorted(found, key=lambda e: (e.obj.file, e.obj.doc.start_line)):
            self.visits += 1
            if (ns is None or e.namespace is None or ns == e.namespace) and selector_matches(
                e.selector, w.labels
            ):
                spec = e.obj.data["spec"]
                return Budget(
                    spec.get("minAvailable"),
                    spec.get("maxUnavailable"),
                    e.obj,
                    ("spec",),
                    e.obj.ref,
                )
        return None


def _label_pairs(selector: Any) -> list[tuple[str, str]]:
    match = selector.get("matchLabels") if isinstance(selector, dict) else None
    if not isinstance(match, dict):
        return []
    return [(str(k), str(v)) for k, v in match.items()]


# --- findings at a place ------------------------------------------------------------------


def at(w: Workload, rule: str, path: PathKey, message: str) -> Finding:
    """A finding at ``path`` of the file ``w`` comes from."""
    return finding(
        rule, message, file=w.file, line=w.line(path), object=w.ref, path=dotted(path) or None
    )


def located(
    src: Located, rule: str, path: PathKey, message: str, obj: str | None = None
) -> Finding:
    """A finding at ``path`` of a document."""
    return finding(
        rule, message, file=src.file, line=src.line(path), object=obj, path=dotted(path) or None
    )
