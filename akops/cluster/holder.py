"""The deploy lock's record: who holds it, as a ``coordination.k8s.io/v1`` Lease body.

Rule: pure. A ``Holder`` is one run of a task that changes the cluster (``apply``,
``deploy``, ``rollback``, ``outpost-patch``): user@host, the task, since when, the git
commit and whether the tree was dirty, and a unique identity for that run. ``lease_body``
builds the Lease that says so; ``read`` turns a live Lease back into a ``Holder`` and
its expiry (validated first: a Lease is a value any writer with RBAC may have left,
so a field of the wrong type is one ``RecordError`` naming it, and a renewTime at the
end of time never overflows); ``decide`` says what an acquiring run must do with what
it found. The I/O
(GET, create, update with the resourceVersion it read, so two runs cannot both win) is
``akops.cluster.lease``.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from akops.errors import RecordError, printable

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
    except (ValueError, OverflowError):
        return None


def later(when: datetime.datetime, seconds: float) -> datetime.datetime:
    """``when`` + ``seconds``, held at the end of time instead of overflowing (a renewTime
    of 9999-12-31 written by another tool is "never expires", not a crash)."""
    try:
        return when + datetime.timedelta(seconds=seconds)
    except OverflowError:
        return datetime.datetime.max.replace(tzinfo=datetime.UTC)


def _micro_time(value: Any) -> Any:
    if value is None:
        return None
    parsed = parse_time(value) if isinstance(value, str) else None
    if parsed is None:
        raise ValueError(f"not a Kubernetes MicroTime (RFC 3339): {str(value)[:40]!r}")
    return parsed


MicroTime = Annotated[datetime.datetime | None, BeforeValidator(_micro_time)]
Int32 = Annotated[int, Field(le=2**31 - 1)]


class LeaseSpec(BaseModel):
    """The fields of a Lease's spec the lock decides on, as any writer may have left them."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    holderIdentity: str | None = Field(default=None, max_length=1024)
    leaseDurationSeconds: Int32 | None = Field(default=None, ge=1)
    leaseTransitions: Int32 | None = Field(default=None, ge=0)
    acquireTime: MicroTime = None
    renewTime: MicroTime = None


class LeaseMeta(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    resourceVersion: str = ""
    annotations: dict[str, str] | None = None


class LeaseRecord(BaseModel):
    """A live Lease, validated before the lock reads a field of it."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    metadata: LeaseMeta = LeaseMeta()
    spec: LeaseSpec | None = None


def record(lease: Mapping[str, Any], what: str) -> LeaseRecord:
    """``lease`` as a typed record; a field of the wrong type or range is ``RecordError``
    naming ``what`` and the field (``spec.renewTime``)."""
    try:
        return LeaseRecord.model_validate(dict(lease))
    except ValidationError as e:
        first = e.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "(the object)"
        why = str(first["msg"]).removeprefix("Value error, ")
        raise RecordError(
            f"{what}: {field}: {why} (written by another tool?); `invoke unlock` clears it"
        ) from e


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
        """One line for a terminal: every field another writer set is shown escaped."""
        tree = f"commit {printable(self.commit[:12]) or 'unknown'}"
        tree += ", dirty tree" if self.dirty else ""
        return (
            f"{printable(self.user)}@{printable(self.host)} ({printable(self.task)}, since "
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
        return utc(now) >= later(self.renewed, self.duration)

    def renewed_ahead(self, now: datetime.datetime) -> bool:
        """Whether the last renewal is stamped after ``now`` (a clock ahead, another tool)."""
        return self.renewed is not None and self.renewed > later(utc(now), self.duration)


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


def read(lease: Mapping[str, Any], what: str = f"Lease/{LEASE_NAME}") -> Found:
    """What a live Lease says (a Lease another tool wrote reads as held by its identity).

    The Lease is validated first (``record``): a field of the wrong type is ``RecordError``.
    akops' own annotations only describe the holder; odd ones read as unknown.
    """
    doc = record(lease, what)
    spec = doc.spec or LeaseSpec()
    notes = doc.metadata.annotations or {}
    holder = None
    if spec.holderIdentity:
        got = {f: notes.get(f"{PREFIX}{f}", "") for f in _FIELDS}
        since = parse_time(got["since"]) or spec.acquireTime
        holder = Holder(
            identity=spec.holderIdentity,
            user=got["user"] or "?",
            host=got["host"] or spec.holderIdentity,
            task=got["task"] or "unknown task",
            since=since or datetime.datetime.fromtimestamp(0, datetime.UTC),
            commit=got["commit"],
            dirty=got["dirty"] == "true",
        )
    return Found(
        holder=holder,
        renewed=spec.renewTime or spec.acquireTime,
        duration=spec.leaseDurationSeconds or DURATION_SECONDS,
        transitions=spec.leaseTransitions or 0,
        resource_version=doc.metadata.resourceVersion,
    )


def resource_version(lease: Mapping[str, Any]) -> str:
    """The resourceVersion of a Lease whatever else it holds (to clear an unreadable one)."""
    meta = lease.get("metadata")
    version = meta.get("resourceVersion") if isinstance(meta, dict) else None
    return version if isinstance(version, str) else ""


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
