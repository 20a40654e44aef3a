"""``spread.replicas``: the expected ready replicas, spread over enough nodes.

Rule: pure (probes and verdict); the observation is declared: the pods by label, listed by
``akops.verify.observe``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from akops.verify.check import Check, Observation, PodState, Probe, Subject, pod_state
from akops.verify.results import Outcome, failed, passed


def spread(pods: Iterable[PodState], expected: int) -> Outcome:
    """``expected`` ready replicas on at least ``min(expected, 3)`` distinct nodes."""
    ready = [p for p in pods if p.ready and not p.terminating]
    nodes = {p.node for p in ready if p.node}
    need_nodes = min(expected, 3)
    figure = f"{len(ready)}/{expected} ready on {len(nodes)} node(s)"
    if len(ready) != expected:
        return failed(f"{figure}: expected {expected} ready replicas")
    if len(nodes) < need_nodes:
        return failed(
            f"{figure}: expected >= {need_nodes} distinct nodes ({', '.join(sorted(nodes))})"
        )
    return passed(figure)


def _probes(cid: str, s: Subject) -> list[Probe]:
    expected = {
        "server": s.env.authentik.server.replicas,
        "worker": s.env.authentik.worker.replicas,
        "pgbouncer": s.env.pgbouncer.replicas,
    }
    return [
        Probe(
            cid,
            role,
            "api",
            args={"namespace": s.namespace, "selector": s.roles[role].selector, "expected": n},
        )
        for role, n in expected.items()
    ]


def _judge(pods: Sequence[Mapping[str, Any]], probe: Probe) -> Outcome:
    return spread([pod_state(p) for p in pods], probe.args["expected"])


CHECKS = (
    Check(
        "spread.replicas",
        "server, worker and PgBouncer: expected ready replicas on >= min(replicas, 3) nodes",
        "cluster",
        probes=_probes,
        observe=Observation("pods", _judge),
        converges=True,
    ),
)
