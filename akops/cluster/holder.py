"""The deploy lock's record: who holds it, as a ``coordination.k8s.io/v1`` Lease body.

Rule: pure. A ``Holder`` is one run of a task that changes the cluster (``apply``,
``deploy``, ``rollback``, ``outpost-patch``): user@host, the task, since when, the git
commit and whether the tree was dirty, and a unique identity for that run. ``lease_body``
builds the Lease that says so; ``read`` turns a live Lease back into a ``Holder`` and
its expiry; ``decide`` says what an acquiring run must do with what it found. The I/O
(GET, create, update with the resourceVersion it read, so two runs cannot both win) is
``akops.cluster.lease``.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

LEASE_NAME = "akops-deploy"
API_VERSION = "coordination.k8s.io/v1"
#: A holder that stops renewing loses the lock this long after its last renewal.
DURATION_SECONDS = 60
PREFIX = "akops.io/"
_FIELDS = ("user", "host", "task", "since", "commit", "dirty")

Decision = Literal["create", "take", "take-over", "mine", "held"]


def utc(when: datetime.datetime) -> datetime.datetime:
    return when.astimezone(datetime.UTC)


def micro_time(when: datetime.datetime) -> str:
    """A Kubernetes MicroTime (RFC 3339 with microseconds, UTC)."""
    return utc(when).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: Any) -> datetime.datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(datetime.UTC)
    except ValueError:
        return None


@dataclass(frozen=True)
class Holder:
    """One run holding (or asking for) the deploy lock."""

    identity: str  # unique per run: user@host:pid:nonce
    user: str
    host: str
    task: str
    since: datetime.datetime
    commit: str
    dirty: bool

    def describe(self) -> str:
        tree = f"commit {self.commit[:12] or 'unknown'}{', dirty tree' if self.dirty else ''}"
        return (
            f"{self.user}@{self.host} ({self.task}, since "
            f"{utc(self.since):%Y-%m-%d %H:%M:%S} UTC, {tree})"
        )


@dataclass(frozen=True)
class Found:
    """A live Lease as the lock reads it."""

    holder: Holder | None  # None: released
    renewed: datetime.datetime | None
    duration: int
    transitions: int
    resource_version: str

    def expired(self, now: datetime.datetime) -> bool:
        if self.holder is None:
            return True
        if self.renewed is None:
            return True
        return utc(now) >= self.renewed + datetime.timedelta(seconds=self.duration)


def lease_body(
    namespace: str,
    holder: Holder | None,
    now: datetime.datetime,
    *,
    duration: int = DURATION_SECONDS,
    transitions: int = 0,
    resource_version: str | None = None,
    name: str = LEASE_NAME,
) -> dict[str, Any]:
    """The Lease saying ``holder`` holds the lock as of ``now`` (``None``: released)."""
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if resource_version is not None:
        meta["resourceVersion"] = resource_version
    spec: dict[str, Any] = {"leaseDurationSeconds": duration, "leaseTransitions": transitions}
    if holder is not None:
        meta["annotations"] = {
            f"{PREFIX}user": holder.user,
            f"{PREFIX}host": holder.host,
            f"{PREFIX}task": holder.task,
            f"{PREFIX}since": micro_time(holder.since),
            f"{PREFIX}commit": holder.commit,
            f"{PREFIX}dirty": "true" if holder.dirty else "false",
        }
        spec.update(
            holderIdentity=holder.identity,
            acquireTime=micro_time(holder.since),
            renewTime=micro_time(now),
        )
    return {"apiVersion": API_VERSION, "kind": "Lease", "metadata": meta, "spec": spec}


def read(lease: Mapping[str, Any]) -> Found:
    """What a live Lease says (a Lease another tool wrote reads as held by its identity)."""
    meta = lease.get("metadata") if isinstance(lease.get("metadata"), dict) else {}
    spec = lease.get("spec") if isinstance(lease.get("spec"), dict) else {}
    assert isinstance(meta, dict) and isinstance(spec, dict)
    notes = meta.get("annotations") if isinstance(meta.get("annotations"), dict) else {}
    assert isinstance(notes, dict)
    identity = spec.get("holderIdentity")
    holder = None
    if identity:
        got = {f: str(notes.get(f"{PREFIX}{f}", "")) for f in _FIELDS}
        since = parse_time(got["since"]) or parse_time(spec.get("acquireTime"))
        holder = Holder(
            identity=str(identity),
            user=got["user"] or "?",
            host=got["host"] or str(identity),
            task=got["task"] or "unknown task",
            since=since or datetime.datetime.fromtimestamp(0, datetime.UTC),
            commit=got["commit"],
            dirty=got["dirty"] == "true",
        )
    duration = spec.get("leaseDurationSeconds")
    transitions = spec.get("leaseTransitions")
    return Found(
        holder=holder,
        renewed=parse_time(spec.get("renewTime")) or parse_time(spec.get("acquireTime")),
        duration=duration if isinstance(duration, int) and duration > 0 else DURATION_SECONDS,
        transitions=transitions if isinstance(transitions, int) else 0,
        resource_version=str(meta.get("resourceVersion") or ""),
    )


def decide(found: Found | None, me: Holder, now: datetime.datetime) -> Decision:
    """What a run must do to hold the lock, given the Lease it found (None: no Lease)."""
    if found is None:
        return "create"
    if found.holder is not None and found.holder.identity == me.identity:
        return "mine"
    if found.holder is None:
        return "take"
    if found.expired(now):
        return "take-over"
    return "held"


def dirty_refusal(protected: bool, holder: Holder, allow_dirty: bool) -> str | None:
    """Why a change to a protected environment from this tree is refused, or None."""
    if protected and holder.dirty and not allow_dirty:
        return (
            f"the working tree has uncommitted changes (commit {holder.commit[:12] or 'unknown'}) "
            "and this environment is protected: commit them, or pass --allow-dirty"
        )
    return None
