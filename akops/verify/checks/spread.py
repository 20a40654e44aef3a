"""``spread.replicas``: the expected ready replicas, spread over enough nodes.

Rule: probes and verdict pure; observation lists pods by label (``verify.observe``).
"""

from __future__ import annotations

from collections.abc import Iterable

from akops.verify.check import Check, PodState, Probe, Sources, Subject, pod_state
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


# I/O (the integration tests prove it), not mutated: no unit test can reach it.
def _observe(probe: Probe, src: Sources) -> Outcome:  # pragma: no mutate block
    from akops.verify import observe

    pods = observe.pods(src.api, probe.args["namespace"], probe.args["selector"])
    return spread([pod_state(p) for p in pods], probe.args["expected"])


CHECKS = (
    Check(
        "spread.replicas",
        "server, worker and PgBouncer: expected ready replicas on >= min(replicas, 3) nodes",
        "cluster",
        probes=_probes,
        observe=_observe,
        converges=True,
    ),
)
