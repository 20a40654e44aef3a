"""``rollout.*``: the stack's Deployments converged, and no pod failing for good.

Rule: pure (probes and verdicts); the observation is declared: a Deployment or the pods,
read from the Kubernetes API by ``akops.verify.observe``.
Convergence is ``akops.cluster.convergence``'s one definition, shared with the rollout watch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from akops import names
from akops.verify.check import Check, Observation, Probe, Subject, skip
from akops.verify.results import Outcome, failed, passed

if TYPE_CHECKING:
    from akops.cluster.convergence import PodFailure, Progress


def converged(p: Progress) -> Outcome:
    """The shared definition of convergence, with the figures."""
    if p.converged:
        return passed(
            "scaled to 0" if p.desired == 0 else f"{p.ready}/{p.desired} ready, all updated"
        )
    return failed(f"not converged: {p.describe()}")


def pods_healthy(failures: Sequence[PodFailure], pods: int) -> Outcome:
    if failures:
        shown = "; ".join(f"{f.pod}/{f.container}: {f.reason}" for f in failures[:5])
        more = f" (+{len(failures) - 5} more)" if len(failures) > 5 else ""
        return failed(f"{len(failures)} container(s) will not heal: {shown}{more}")
    return passed(f"{pods} pods, none crash-looping or failing to pull or configure")


def deployments(s: Subject) -> list[str]:
    """Every Deployment of the stack: the chart's server and worker, ours, the outpost's."""
    chart = s.env.authentik.chart
    return [chart.server, chart.worker, names.PGBOUNCER, s.env.authentik.outpost.deployment]


def _converged_probes(cid: str, s: Subject) -> list[Probe]:
    outpost = s.env.authentik.outpost.deployment
    return [
        # The running Authentik server creates the outpost's Deployment: without containers
        # (kwok's nodes) nothing ever will, and its absence says nothing about the deploy.
        skip(cid, f"Deployment/{name}", f"Authentik creates it once it runs; {s.no_containers}")
        if name == outpost and s.no_containers
        else Probe(cid, f"Deployment/{name}", "api", args={"namespace": s.namespace, "name": name})
        for name in deployments(s)
    ]


def _judge_converged(doc: Mapping[str, Any] | None, probe: Probe) -> Outcome:
    from akops.cluster.convergence import progress

    if doc is None:
        return failed(f"Deployment {probe.args['name']} not found in {probe.args['namespace']}")
    return converged(progress(doc))


def _pods_probes(cid: str, s: Subject) -> list[Probe]:
    selectors = tuple(r.selector for r in s.roles.values())
    args = {"namespace": s.namespace, "selectors": selectors}
    return [Probe(cid, f"namespace/{s.namespace}", "api", args=args, calls=len(selectors))]


def _judge_pods(pods: Sequence[Mapping[str, Any]], probe: Probe) -> Outcome:
    from akops.cluster.convergence import pod_failures

    return pods_healthy(pod_failures(pods), len(pods))


CHECKS = (
    Check(
        "rollout.converged",
        "each Deployment of the stack converged (generation observed; updated = ready = available)",
        "cluster",
        probes=_converged_probes,
        observe=Observation("deployment", _judge_converged),
        converges=True,
    ),
    Check(
        "rollout.pods",
        "no pod of the stack in CrashLoopBackOff, ImagePullBackOff or CreateContainerConfigError",
        "cluster",
        probes=_pods_probes,
        observe=Observation("pods", _judge_pods),
        converges=True,
    ),
)
