"""When a Deployment has converged, and when its pods have failed for good.

Rule: pure. Plain dicts as the API returns them. A Deployment has converged when the
controller has seen its latest spec (observedGeneration ≥ generation) and updated =
ready = available = spec.replicas (zero replicas converge once observed). A pod whose
container waits in one of ``FATAL_REASONS`` will not heal by waiting: fail fast.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

FATAL_REASONS = frozenset({"CrashLoopBackOff", "ImagePullBackOff", "CreateContainerConfigError"})


@dataclass(frozen=True)
class Progress:
    """A Deployment's rollout state, as shown in the live display."""

    name: str
    desired: int
    updated: int
    ready: int
    available: int
    observed: bool

    @property
    def converged(self) -> bool:
        if not self.observed:
            return False
        return self.updated == self.ready == self.available == self.desired

    def describe(self) -> str:
        if self.converged:
            return "converged"
        if not self.observed:
            return "waiting for the controller"
        return (
            f"{self.updated}/{self.desired} updated, {self.ready} ready, {self.available} available"
        )


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int) else 0


def progress(deployment: Mapping[str, Any]) -> Progress:
    meta = deployment.get("metadata") or {}
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    desired = spec.get("replicas")
    desired = 1 if desired is None else _int(desired)  # the API's default
    observed = _int(status.get("observedGeneration")) >= _int(meta.get("generation"))
    return Progress(
        name=str(meta.get("name")),
        desired=desired,
        updated=_int(status.get("updatedReplicas")),
        ready=_int(status.get("readyReplicas")),
        available=_int(status.get("availableReplicas")),
        observed=observed,
    )


def converged(deployment: Mapping[str, Any]) -> bool:
    """observedGeneration ≥ generation and updated = ready = available = spec.replicas."""
    return progress(deployment).converged


@dataclass(frozen=True)
class PodFailure:
    pod: str
    container: str
    reason: str
    message: str


def pod_failures(pods: Iterable[Mapping[str, Any]]) -> list[PodFailure]:
    """Containers (init containers included) waiting for a reason that will not heal."""
    out: list[PodFailure] = []
    for pod in pods:
        name = str((pod.get("metadata") or {}).get("name"))
        status = pod.get("status") or {}
        for cs in [
            *(status.get("initContainerStatuses") or []),
            *(status.get("containerStatuses") or []),
        ]:
            waiting = (cs.get("state") or {}).get("waiting") or {}
            reason = waiting.get("reason")
            if reason in FATAL_REASONS:
                out.append(
                    PodFailure(
                        name, str(cs.get("name")), str(reason), str(waiting.get("message") or "")
                    )
                )
    return out


def selector_string(deployment: Mapping[str, Any]) -> str:
    """The Deployment's ``matchLabels`` as a label selector (``a=b,c=d``)."""
    labels = ((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def stalled(deployment: Mapping[str, Any]) -> str | None:
    """The controller's verdict when the rollout exceeded ``progressDeadlineSeconds``.

    Only a condition about the latest spec counts (observedGeneration ≥ generation): the
    controller resets ``Progressing`` when a new rollout starts.
    """
    meta = deployment.get("metadata") or {}
    status = deployment.get("status") or {}
    if _int(status.get("observedGeneration")) < _int(meta.get("generation")):
        return None
    for cond in status.get("conditions") or []:
        if (
            cond.get("type") == "Progressing"
            and cond.get("status") == "False"
            and cond.get("reason") == "ProgressDeadlineExceeded"
        ):
            return " ".join(str(cond.get("message") or "ProgressDeadlineExceeded").split())
    return None


def not_ready(pods: Iterable[Mapping[str, Any]]) -> list[PodFailure]:
    """One entry per pod that is not Ready: its first unready container and why."""
    out: list[PodFailure] = []
    for pod in pods:
        name = str((pod.get("metadata") or {}).get("name"))
        status = pod.get("status") or {}
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in status.get("conditions") or []
        )
        if ready:
            continue
        statuses = [
            *(status.get("initContainerStatuses") or []),
            *(status.get("containerStatuses") or []),
        ]
        for cs in statuses:
            if cs.get("ready"):
                continue
            state: dict[str, Any] = cs.get("state") or {}
            kind = next(iter(state), "unknown")
            detail: dict[str, Any] = state.get(kind) or {}
            out.append(
                PodFailure(
                    name,
                    str(cs.get("name")),
                    f"{kind}, not ready"
                    + (f" ({detail['reason']})" if detail.get("reason") else ""),
                    str(detail.get("message") or ""),
                )
            )
            break
        else:
            phase = str(status.get("phase") or "Pending")
            out.append(PodFailure(name, "-", f"{phase}, not ready", ""))
    return out
