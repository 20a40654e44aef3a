"""``pdb.budget``: the PodDisruptionBudgets exist as rendered and allow a disruption.

Rule: pure (probes and verdict); the observation is declared: the PDB, read by
``akops.verify.observe``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from akops import names
from akops.verify.check import Check, Observation, Probe, Subject
from akops.verify.results import Outcome, failed, passed


@dataclass(frozen=True)
class PdbState:
    name: str
    min_available: str | None
    max_unavailable: str | None
    disruptions_allowed: int


def pdb_state(pdb: Mapping[str, Any]) -> PdbState:
    spec = pdb.get("spec") or {}
    status = pdb.get("status") or {}

    def text(v: object) -> str | None:
        return None if v is None else str(v)

    return PdbState(
        name=str((pdb.get("metadata") or {}).get("name")),
        min_available=text(spec.get("minAvailable")),
        max_unavailable=text(spec.get("maxUnavailable")),
        disruptions_allowed=int(status.get("disruptionsAllowed") or 0),
    )


@dataclass(frozen=True)
class PdbExpectation:
    name: str
    min_available: int | None = None
    max_unavailable: int | None = None

    def describe(self) -> str:
        if self.min_available is not None:
            return f"minAvailable {self.min_available}"
        return f"maxUnavailable {self.max_unavailable}"


def budget(state: PdbState | None, want: PdbExpectation) -> Outcome:
    if state is None:
        return failed(f"PDB {want.name} not found (expected {want.describe()})")
    have = (state.min_available, state.max_unavailable)
    expected = (
        None if want.min_available is None else str(want.min_available),
        None if want.max_unavailable is None else str(want.max_unavailable),
    )
    shown = f"minAvailable {have[0]}" if have[0] is not None else f"maxUnavailable {have[1]}"
    if have != expected:
        return failed(f"{shown}, expected {want.describe()}")
    if state.disruptions_allowed < 1:
        return failed(
            f"{shown} allows {state.disruptions_allowed} disruptions: a node drain would block"
        )
    return passed(f"{shown}, allows {state.disruptions_allowed} disruption(s)")


def expectations(s: Subject) -> tuple[PdbExpectation, ...]:
    chart = s.env.authentik.chart
    return (
        PdbExpectation(chart.server, min_available=s.env.authentik.server.pdb_min_available),
        PdbExpectation(chart.worker, max_unavailable=s.env.authentik.worker.pdb_max_unavailable),
        PdbExpectation(names.PGBOUNCER, min_available=s.env.pgbouncer.pdb_min_available),
    )


def _probes(cid: str, s: Subject) -> list[Probe]:
    return [
        Probe(
            cid,
            f"PDB/{w.name}",
            "api",
            args={"namespace": s.namespace, "name": w.name, "want": w},
        )
        for w in expectations(s)
    ]


def _judge(doc: Mapping[str, Any] | None, probe: Probe) -> Outcome:
    return budget(None if doc is None else pdb_state(doc), probe.args["want"])


CHECKS = (
    Check(
        "pdb.budget",
        "PDBs exist with the expected budget and allow at least one disruption",
        "cluster",
        probes=_probes,
        observe=Observation("pdb", _judge),
        converges=True,
    ),
)
