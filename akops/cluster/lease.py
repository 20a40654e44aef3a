"""The deploy lock on the cluster: a ``coordination.k8s.io/v1`` Lease in the stack's namespace.

Rule: I/O (the Kubernetes API through ``akops.cluster.call``). Every write carries the ``resourceVersion`` it was decided on, so of
two runs that read the same Lease only one update succeeds (the other gets 409 and
reads again); creating a Lease that already exists is refused the same way. A run:

- ``acquire``: creates the Lease, takes a released one, or takes over an expired one
  (its holder stopped renewing ``leaseDurationSeconds`` ago); a live holder is
  ``LockHeld`` (exit 1) naming user@host, task, since and commit;
- ``DeployLock``: holds it for a ``with`` block, renewing in a background thread every
  third of the duration, and releases it on the way out, interrupt included; ``check``
  raises ``LockLost`` if another run took it meanwhile (someone broke it);
- ``break_lock``: ``invoke unlock`` — clears the holder of a stale Lease.

The record itself (fields, expiry, what to do) is the pure ``akops.cluster.holder``.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import getpass
import os
import secrets
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from akops.cluster.call import call
from akops.cluster.holder import (
    DURATION_SECONDS,
    LEASE_NAME,
    Found,
    Holder,
    decide,
    dirty_refusal,
    lease_body,
    read,
    resource_version,
)
from akops.errors import (
    AkopsError,
    ConflictError,
    LockHeld,
    LockLost,
    NotFound,
    RecordError,
    StepFailed,
)

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

    from akops.environment import Environment

Clock = Callable[[], datetime.datetime]
ATTEMPTS = 4  # reads and retries when another run wrote in between
_T = TypeVar("_T")


def now() -> datetime.datetime:
    return datetime.datetime.now(tz=datetime.UTC)


def collection(namespace: str) -> str:
    return f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"


def _what(namespace: str) -> str:
    return f"Lease/{LEASE_NAME} in {namespace}"


def holder_for(task: str, commit: str, dirty: bool, now: Clock = now) -> Holder:
    """This run as a holder: user@host, task, now, the tree's commit and dirtiness."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    host = socket.gethostname()
    identity = f"{user}@{host}:{os.getpid()}:{secrets.token_hex(4)}"
    return Holder(identity, user, host, task, now(), commit, dirty)


def _get(api: ApiClient, namespace: str) -> dict[str, Any] | None:
    try:
        return call(api, "GET", f"{collection(namespace)}/{LEASE_NAME}", what=_what(namespace))
    except NotFound:
        return None


def get(api: ApiClient, namespace: str) -> Found | None:
    """The deploy Lease as found, or None when there is none; ``RecordError`` (exit 2)
    naming the field when another writer left one this lock cannot read."""
    doc = _get(api, namespace)
    return None if doc is None else read(doc, _what(namespace))


@dataclass(frozen=True)
class Unreadable:
    """A Lease whose fields do not validate: why, and the version to clear it at."""

    problem: str
    resource_version: str


def inspect(api: ApiClient, namespace: str) -> Found | Unreadable | None:
    """``get`` for ``invoke unlock``, which must show and clear even an unreadable Lease."""
    doc = _get(api, namespace)
    if doc is None:
        return None
    try:
        return read(doc, _what(namespace))
    except RecordError as e:
        return Unreadable(str(e), resource_version(doc))


def state(found: Found | Unreadable, at: datetime.datetime) -> str:
    """How ``invoke unlock`` says who holds the lock ("is held (live) by ...")."""
    if isinstance(found, Unreadable):
        return f"holds a record this lock cannot read ({found.problem})"
    assert found.holder is not None
    if found.renewed is not None and found.renewed_ahead(at):
        when = f"renewed at {found.renewed:%Y-%m-%d %H:%M:%S} UTC, in the future"
        return f"is held (live, {when}) by {found.holder.describe()}"
    live = "expired" if found.expired(at) else "live"
    return f"is held ({live}) by {found.holder.describe()}"


def released(found: Found | Unreadable) -> bool:
    return isinstance(found, Found) and found.holder is None


def who(broken: Holder | Unreadable | None) -> str:
    if broken is None:
        return "nobody"
    return "the unreadable record" if isinstance(broken, Unreadable) else broken.describe()


def _write(api: ApiClient, namespace: str, body: dict[str, object], create: bool) -> Found:
    if create:
        doc = call(api, "POST", collection(namespace), what=_what(namespace), body=body)
    else:
        doc = call(
            api, "PUT", f"{collection(namespace)}/{LEASE_NAME}", what=_what(namespace), body=body
        )
    return read(doc, _what(namespace))


def _replace(
    api: ApiClient,
    namespace: str,
    found: Found,
    holder: Holder | None,
    at: datetime.datetime,
    duration: int,
    *,
    transitions: int | None = None,
) -> Found:
    """Rewrite the Lease read as ``found``; its resourceVersion makes a concurrent write a 409."""
    body = lease_body(
        namespace,
        holder,
        at,
        duration=duration,
        transitions=found.transitions if transitions is None else transitions,
        resource_version=found.resource_version,
    )
    return _write(api, namespace, body, create=False)


def held_message(namespace: str, found: Found, at: datetime.datetime) -> str:
    assert found.holder is not None
    if found.renewed is not None and found.renewed_ahead(at):
        return (
            f"the deploy lock ({_what(namespace)}) is held by {found.holder.describe()}, renewed "
            f"at {found.renewed:%Y-%m-%d %H:%M:%S} UTC, in the future (another tool, or a clock "
            "ahead): it will not expire by itself; if that run is gone, `invoke unlock`"
        )
    return (
        f"the deploy lock ({_what(namespace)}) is held by {found.holder.describe()}; wait for "
        "it, or if that run is gone, `invoke unlock` (it expires by itself once it stops renewing)"
    )


def break_lock(api: ApiClient, namespace: str, *, now: Clock = now) -> Holder | Unreadable | None:
    """Clear whoever holds the Lease (``invoke unlock``); the holder it had (an unreadable
    record, cleared all the same), or None."""
    found = inspect(api, namespace)
    if found is None or (isinstance(found, Found) and found.holder is None):
        return None
    if isinstance(found, Unreadable):
        body = lease_body(namespace, None, now(), resource_version=found.resource_version)
        write = functools.partial(_write, api, namespace, body, create=False)
    else:
        write = functools.partial(_replace, api, namespace, found, None, now(), found.duration)
    try:
        write()
    except ConflictError as e:
        raise LockHeld(f"{_what(namespace)} changed while breaking it; look again") from e
    return found.holder if isinstance(found, Found) else found


class DeployLock:
    """Hold the deploy lock for a ``with`` block: acquire, renew in the background, release.

    Every write is a read-decide-write guarded by the Lease's resourceVersion: a 409 means
    another run wrote in between, so the Lease is read and judged again (``ATTEMPTS`` times).
    """

    def __init__(
        self,
        api: ApiClient,
        namespace: str,
        me: Holder,
        *,
        duration: int = DURATION_SECONDS,
        now: Clock = now,
    ) -> None:
        self.api, self.namespace, self.me = api, namespace, me
        self.duration, self.now = duration, now
        self._stop = threading.Event()
        self._lost: AkopsError | None = None
        self._thread: threading.Thread | None = None
        self.found: Found | None = None
        #: Whether an acquiring write was sent: only then may this run hold the Lease.
        self._sent = False
        #: when the Lease was last written by us (monotonic), for ``check`` when reads fail
        self._confirmed = time.monotonic()

    def _until_written(self, write: Callable[[Found | None], _T]) -> _T | None:
        for _ in range(ATTEMPTS):
            try:
                return write(get(self.api, self.namespace))
            except ConflictError:
                continue
        return None

    def _ours(self, found: Found | None) -> bool:
        return (
            found is not None
            and found.holder is not None
            and found.holder.identity == self.me.identity
        )

    def acquire(self) -> Found:
        """Create, take or take over the Lease; LockHeld if another run holds it live."""

        def attempt(found: Found | None) -> Found:
            at = self.now()
            step = decide(found, self.me, at)
            if step == "held":
                assert found is not None and found.holder is not None
                raise LockHeld(held_message(self.namespace, found, at))
            self._sent = True  # from here on the Lease may be ours, whatever happens next
            if found is None:
                body = lease_body(
                    self.namespace,
                    self.me,
                    at,
                    duration=self.duration,
                    transitions=0,
                    resource_version=None,
                )
                try:
                    return _write(self.api, self.namespace, body, create=True)
                except NotFound:
                    # A first deploy: the namespace the Lease lives in does not exist yet.
                    make_namespace(self.api, self.namespace)
                    return _write(self.api, self.namespace, body, create=True)
            taken = found.transitions + (step != "mine")
            return _replace(
                self.api, self.namespace, found, self.me, at, self.duration, transitions=taken
            )

        found = self._until_written(attempt)
        if found is None:
            raise LockHeld(
                f"{_what(self.namespace)} kept changing hands while acquiring it; try again"
            )
        self._confirmed = time.monotonic()
        return found

    def renew(self) -> Found:
        """Push the expiry forward; LockLost when the Lease is no longer ours."""

        def attempt(found: Found | None) -> Found:
            if found is None or not self._ours(found):
                who = (
                    found.holder.describe() if found and found.holder else "nobody (it was broken)"
                )
                raise LockLost(
                    f"the deploy lock ({_what(self.namespace)}) was taken: it is held by {who}"
                )
            return _replace(self.api, self.namespace, found, self.me, self.now(), self.duration)

        found = self._until_written(attempt)
        if found is None:
            raise LockLost(f"{_what(self.namespace)} kept changing while renewing it")
        self._confirmed = time.monotonic()
        return found

    def release(self) -> bool:
        """Clear the holder if it is still us; False when the Lease was no longer ours."""

        def attempt(found: Found | None) -> bool:
            if found is None or not self._ours(found):
                return False
            _replace(self.api, self.namespace, found, None, self.now(), found.duration)
            return True

        return self._until_written(attempt) is True

    def __enter__(self) -> DeployLock:
        try:
            self.found = self.acquire()
            self._thread = threading.Thread(target=self._renew, name="akops-lease", daemon=True)
            self._thread.start()
        except BaseException as e:
            # An interrupt can land after the Lease was written but before ``with`` holds
            # it, where ``__exit__`` never runs: release here (a no-op if it is not ours).
            # A run that never sent a write holds nothing, and a write the API refused or
            # never answered leaves nothing to release through that same API: the one error
            # is the acquire's (a Lease written after all expires by itself).
            if self._sent and not isinstance(e, AkopsError):
                self._release()
            raise
        return self

    def _renew(self) -> None:
        failing = False
        while not self._stop.wait(self.duration / 3):
            try:
                self.found = self.renew()
                failing = False
            except LockLost as e:
                self._lost = e
                return
            except AkopsError as e:
                # An API hiccup: the next renewal tries again, well before expiry. Said once
                # per streak, so that an operator knows the lock is at risk.
                if not failing:
                    print(
                        f"warning: could not renew the deploy lock ({e}); retrying", file=sys.stderr
                    )
                failing = True

    def check(self) -> None:
        """Raise LockLost unless the Lease still names this run.

        The Lease is read now, so an ``invoke unlock`` or another run's takeover is seen at
        once, not at the next renewal. If it cannot be read, the run goes on only while its
        last write is younger than the Lease's duration (until then nobody can take it)."""
        if self._lost is not None:
            raise self._lost
        try:
            found = get(self.api, self.namespace)
        except AkopsError as e:
            if time.monotonic() - self._confirmed < self.duration:
                return
            raise LockLost(
                f"the deploy lock ({_what(self.namespace)}) could not be renewed for "
                f"{self.duration} s, so it may have passed to another run: {e}"
            ) from e
        if not self._ours(found):
            who = found.holder.describe() if found and found.holder else "nobody (it was broken)"
            self._lost = LockLost(
                f"the deploy lock ({_what(self.namespace)}) is no longer this run's: "
                f"it is held by {who}"
            )
            raise self._lost

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._release(quiet=error is not None)

    def _release(self, *, quiet: bool = True) -> None:
        # Released on every way out (an interrupt included). A failure to release must not
        # hide, nor add a second line to, the error that ended the block: the Lease then
        # expires by itself. After a block that succeeded it is the one line worth saying.
        try:
            self.release()
        except AkopsError as e:
            if not quiet:
                print(
                    f"warning: could not release the deploy lock ({e}); "
                    f"it expires {self.duration} s after its last renewal",
                    file=sys.stderr,
                )


@contextlib.contextmanager
def locked(
    env: Environment,
    context: str | None,
    task: str,
    *,
    commit: str,
    dirty: bool,
    check_tree: bool = True,
    allow_dirty: bool = False,
) -> Iterator[DeployLock]:
    """Hold ``env``'s deploy lock around a task that changes the cluster.

    With ``check_tree``, a protected environment refuses a run from a dirty tree
    (exit 1) unless ``allow_dirty``: what is deployed must be a commit someone can read.
    """
    from akops.cluster.connect import connect

    me = holder_for(task, commit, dirty)
    refusal = dirty_refusal(env.protected, me, allow_dirty) if check_tree else None
    if refusal:
        raise StepFailed(f"{task} --env {env.name}: {refusal}")
    api = connect(env, context)
    with api, DeployLock(api, env.kube.namespace, me) as lock:
        yield lock


def make_namespace(api: ApiClient, namespace: str) -> bool:
    """Create ``namespace`` bare when it does not exist (a first deploy): the Lease lives in it.

    The stack's own Namespace object (its Pod Security labels) is applied by the plan like any
    other object. True when this call created it.
    """
    path = f"/api/v1/namespaces/{namespace}"
    try:
        call(api, "GET", path, what=f"namespace {namespace}")
        return False
    except NotFound:
        pass
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    try:
        call(api, "POST", "/api/v1/namespaces", what=f"namespace {namespace}", body=body)
    except ConflictError:
        return False  # another run created it in between
    return True
