"""The load: Authentik-shaped clients of the rehearsal's PgBouncers.

Rule: I/O (psycopg, threads). Each pod of the environment's shape runs one thread per
Authentik thread, each holding a persistent connection the way Django does with
``CONN_MAX_AGE`` (closed at the end of a request once older than that; a connection per
request when 0) and checking it before reuse with ``CONN_HEALTH_CHECKS``. A new connection
goes to one PgBouncer picked at random among the ready ones, as a Service's virtual IP
spreads connections. Booting pods run the migration under the advisory lock first and
become ready only when it is done; a rollout then stops the pod they replace. The migration
takes and keeps its lock the way Authentik 2026.2's ``lifecycle/migrate.py`` does
(``take_migration_lock``): a session-level advisory lock on a connection that then sits idle
in a transaction nobody commits while the schema is migrated.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from akops.rehearse.topology import LoadShape, PodShape

#: The advisory lock key of the migration (``lifecycle/migrate.py``: ``ADV_LOCK_UID = 1000``).
MIGRATION_LOCK = 1000
#: What a system migration's ``needs_migration()`` runs on the lock's cursor first.
SYSTEM_MIGRATION_CHECK = (
    "SELECT * FROM information_schema.tables WHERE table_name = 'authentik_install_id'"
)
REQUEST_SQL = "SELECT count(*) FROM pg_class WHERE relkind = 'r'"
CONNECT_TIMEOUT = 10


@dataclass(frozen=True)
class Credentials:
    user: str
    database: str
    password: str = field(repr=False)


class Stats:
    """Connection-acquire times and errors since the last ``drain``, shared by every thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._acquire: list[float] = []
        self._errors = 0
        self._requests = 0
        self.all_acquire: list[float] = []

    def acquired(self, ms: float) -> None:
        with self._lock:
            self._acquire.append(ms)
            self._requests += 1
            self.all_acquire.append(ms)

    def error(self) -> None:
        with self._lock:
            self._errors += 1

    def drain(self) -> tuple[list[float], int]:
        with self._lock:
            out, errors = self._acquire, self._errors
            self._acquire, self._errors, self._requests = [], 0, 0
        return out, errors


class Endpoints:
    """The ready PgBouncers, as a Service's endpoints: new connections pick one at random."""

    def __init__(self, addresses: Sequence[str], seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._ready = list(addresses)
        self._rng = random.Random(seed)

    def pick(self) -> str:
        with self._lock:
            if not self._ready:
                raise ConnectionError("no ready PgBouncer endpoint")
            return self._rng.choice(self._ready)

    def remove(self, address: str) -> None:
        with self._lock:
            if address in self._ready:
                self._ready.remove(address)

    def add(self, address: str) -> None:
        with self._lock:
            if address not in self._ready:
                self._ready.append(address)

    @property
    def ready(self) -> list[str]:
        with self._lock:
            return list(self._ready)


def connect(address: str, creds: Credentials, app: str, autocommit: bool = True) -> Any:
    import psycopg

    host, _, port = address.rpartition(":")
    return psycopg.connect(
        host=host,
        port=int(port),
        dbname=creds.database,
        user=creds.user,
        password=creds.password,
        application_name=app[:63],
        connect_timeout=CONNECT_TIMEOUT,
        autocommit=autocommit,
    )


def take_migration_lock(conn: Any, lock: int = MIGRATION_LOCK) -> None:
    """migrate.py's ``wait_for_lock`` and a system migration's first check, on one connection
    not in autocommit: ``pg_advisory_lock`` (session-level: it outlives transactions) in a
    committed transaction, then a ``SELECT`` that opens the transaction nobody commits. From
    here the connection is idle in transaction while Django migrates on connections of its own.
    (Whether the lock is taken inside ``conn.transaction()``, as 2026 releases do, or as the
    implicit transaction's first statement, as earlier ones did, changes nothing of this.)"""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_lock(%s)", (lock,))
    conn.execute(SYSTEM_MIGRATION_CHECK)


def release_migration_lock(conn: Any, lock: int = MIGRATION_LOCK) -> None:
    """``release_lock`` (``pg_advisory_unlock`` in a savepoint of the open transaction), then
    ``conn.close()``, which rolls that transaction back."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_unlock(%s)", (lock,))
    conn.close()


def _close(conn: Any) -> None:
    if conn is not None:
        with contextlib.suppress(Exception):
            conn.close()


class Pod:
    """One Authentik pod: its threads, and (when booting) its migration."""

    def __init__(self, fleet: Fleet, shape: PodShape, generation: int, booting: bool) -> None:
        self.fleet = fleet
        self.shape = shape
        self.name = f"{shape.name}.{generation}"
        self.stop = threading.Event()
        self.migrated = threading.Event()
        self.threads: list[threading.Thread] = []
        self.booting = booting
        if not booting:
            self.migrated.set()
        self.connections: dict[int, str] = {}  # thread index -> PgBouncer address
        self._lock = threading.Lock()

    def start(self) -> None:
        for i in range(self.shape.threads):
            t = threading.Thread(
                target=self._serve, args=(i,), name=f"{self.name}-t{i}", daemon=True
            )
            self.threads.append(t)
            t.start()
        if self.booting:
            m = threading.Thread(target=self._migrate, name=f"{self.name}-migrate", daemon=True)
            self.threads.append(m)
            m.start()

    def _track(self, i: int, address: str | None) -> None:
        with self._lock:
            if address is None:
                self.connections.pop(i, None)
            else:
                self.connections[i] = address

    def _migrate(self) -> None:
        """``migrate`` at boot: wait for the advisory lock, migrate once, release it."""
        conn = None
        while not self.stop.is_set():
            try:
                address = self.fleet.endpoints.pick()
                conn = connect(address, self.fleet.creds, f"authentik {self.name} migrate", False)
                take_migration_lock(conn)
                if not self.fleet.schema_current.is_set():
                    self.stop.wait(self.fleet.migration_seconds)  # Django's migrate
                    self.fleet.schema_current.set()
                release_migration_lock(conn)
                self.migrated.set()
                return
            except Exception:
                self.fleet.stats.error()
                self.stop.wait(0.2)
            finally:
                _close(conn)
                conn = None

    def _serve(self, i: int) -> None:
        fleet = self.fleet
        conn: Any = None
        born = 0.0
        app = f"authentik {self.name} t{i}"
        if self.booting:
            # The thread's connection opens as the pod boots; until the migration is done the
            # pod serves nothing, but the connection (a server connection, in session mode) is held.
            while conn is None and not self.stop.is_set():
                try:
                    address = fleet.endpoints.pick()
                    conn = connect(address, fleet.creds, app)
                    conn.execute("SELECT 1")
                    born = time.monotonic()
                    self._track(i, address)
                except Exception:
                    fleet.stats.error()
                    _close(conn)
                    conn = None
                    self.stop.wait(0.2)
            while not self.stop.is_set() and not self.migrated.wait(0.1):
                pass
        while not self.stop.is_set():
            t0 = time.monotonic()
            try:
                if conn is not None and fleet.shape.health_checks:
                    conn.execute("SELECT 1")
                if conn is None:
                    address = fleet.endpoints.pick()
                    conn = connect(address, fleet.creds, app)
                    born = time.monotonic()
                    self._track(i, address)
                conn.execute(REQUEST_SQL).fetchall()
                fleet.stats.acquired((time.monotonic() - t0) * 1000)
                if time.monotonic() - born >= fleet.shape.conn_max_age:
                    _close(conn)
                    conn = None
                    self._track(i, None)
            except Exception:
                fleet.stats.error()
                _close(conn)
                conn = None
                self._track(i, None)
            self.stop.wait(fleet.think * (0.5 + fleet.jitter.random()))
        _close(conn)
        self._track(i, None)


class Fleet:
    """The Authentik pods of the load; a boot storm replaces all of them at once."""

    def __init__(
        self,
        shape: LoadShape,
        endpoints: Endpoints,
        creds: Credentials,
        *,
        think: float,
        migration_seconds: float,
        seed: int = 0,
    ) -> None:
        self.shape = shape
        self.endpoints = endpoints
        self.creds = creds
        self.think = think
        self.migration_seconds = migration_seconds
        self.stats = Stats()
        self.jitter = random.Random(seed + 1)
        self.schema_current = threading.Event()
        self.schema_current.set()
        self.generation = 0
        self.pods: list[Pod] = []  # the current pods (new ones while a rollout runs)
        self.old: dict[str, Pod] = {}  # pods a rollout still has to replace, by slot name
        self._lock = threading.Lock()
        self._watcher: threading.Thread | None = None
        self._stopping = threading.Event()

    def start(self) -> None:
        self.pods = [Pod(self, s, 0, booting=False) for s in self.shape.pods]
        for p in self.pods:
            p.start()

    def add(self, shapes: Sequence[PodShape]) -> None:
        """More pods join (a rollout's surge): running at once, with their connections."""
        with self._lock:
            extra = [Pod(self, s, self.generation, booting=False) for s in shapes]
            self.pods.extend(extra)
        for p in extra:
            p.start()

    def restart_all(self) -> None:
        """Every pod restarts at once (a rollback of every Deployment): new pods boot and run
        the migration; each old pod stops when its replacement is ready."""
        with self._lock:
            self.generation += 1
            self.schema_current.clear()
            for p in self.pods:
                self.old.setdefault(p.shape.name, p)
            self.pods = [Pod(self, s, self.generation, booting=True) for s in self.shape.pods]
            for p in self.pods:
                p.start()
        if self._watcher is None or not self._watcher.is_alive():
            self._watcher = threading.Thread(target=self._rollout, name="rollout", daemon=True)
            self._watcher.start()

    def _rollout(self) -> None:
        while not self._stopping.is_set():
            with self._lock:
                for p in self.pods:
                    old = self.old.get(p.shape.name)
                    if old is not None and p.migrated.is_set():
                        old.stop.set()
                        del self.old[p.shape.name]
                if not self.old:
                    return
            self._stopping.wait(0.05)

    def rolled_out(self) -> bool:
        with self._lock:
            return not self.old and all(p.migrated.is_set() for p in self.pods)

    def clients_on(self, address: str) -> int:
        with self._lock:
            pods = [*self.pods, *self.old.values()]
        return sum(1 for p in pods for a in list(p.connections.values()) if a == address)

    def stop(self, wait: float = 5.0) -> None:
        self._stopping.set()
        with self._lock:
            pods = [*self.pods, *self.old.values()]
        for p in pods:
            p.stop.set()
        deadline = time.monotonic() + wait
        for p in pods:
            for t in p.threads:
                t.join(max(0.0, deadline - time.monotonic()))


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]
