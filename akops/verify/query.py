"""Database queries of the checks, through PgBouncer, each bounded by a timeout.

Rule: I/O. Connects with psycopg (``connect_timeout``, ``statement_timeout``) and bounds
the whole exchange with ``bound.call`` because a PgBouncer that accepted the connection
and then froze would otherwise hold a query forever. Errors never carry the password.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from akops.errors import QueryError
from akops.verify import bound
from akops.verify.checks.db import ADMIN_DB

IDLE_SQL = """
SELECT a.pid, coalesce(a.usename, ''), coalesce(a.application_name, ''),
       extract(epoch FROM now() - a.state_change)::float8 AS age,
       count(l.*) AS locks
FROM pg_stat_activity a
JOIN pg_locks l ON l.pid = a.pid AND l.granted AND l.locktype <> 'virtualxid'
WHERE a.state IN ('idle in transaction', 'idle in transaction (aborted)')
  AND a.state_change < now() - make_interval(secs => %s)
  AND a.pid <> pg_backend_pid()
GROUP BY a.pid, a.usename, a.application_name, a.state_change
ORDER BY age DESC
"""


@dataclass(frozen=True)
class IdleTransaction:
    """A backend idle in a transaction, holding locks (a row of ``IDLE_SQL``)."""

    pid: int
    user: str
    application: str
    age_seconds: float
    locks: int


@dataclass(frozen=True)
class Credentials:
    user: str
    database: str
    password: str = field(repr=False)


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host or "127.0.0.1", int(port)


def _connect(address: str, creds: Credentials, dbname: str, timeout: float) -> Any:
    import psycopg

    host, port = _split(address)
    try:
        return psycopg.connect(
            host=host,
            port=port,
            dbname=dbname,
            user=creds.user,
            password=creds.password,
            connect_timeout=max(1, math.ceil(timeout)),
            autocommit=True,
        )
    except psycopg.Error as e:
        if "timeout expired" in str(e):
            raise QueryError(f"no answer within {timeout:g}s (connecting)") from e
        raise QueryError(_message(e, creds)) from e


def _message(e: BaseException, creds: Credentials) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text.replace(creds.password, "***") if creds.password else text


def idle_transactions(
    address: str, creds: Credentials, max_seconds: int, timeout: float
) -> list[IdleTransaction]:
    """Idle-in-transaction backends older than ``max_seconds`` holding locks."""
    import psycopg

    def work() -> list[IdleTransaction]:
        with _connect(address, creds, creds.database, timeout) as conn:
            try:
                conn.execute(
                    "SELECT set_config('statement_timeout', %s, false)", (f"{int(timeout * 1000)}",)
                )
                rows = conn.execute(IDLE_SQL, (max_seconds,)).fetchall()
            except psycopg.Error as e:
                raise QueryError(_message(e, creds)) from e
        return [IdleTransaction(int(r[0]), r[1], r[2], float(r[3]), int(r[4])) for r in rows]

    return bound.call(work, timeout, "database query")


def pools(address: str, creds: Credentials, timeout: float) -> list[dict[str, object]]:
    """``SHOW POOLS`` on PgBouncer's admin console (the user must be in ``stats_users``)."""
    import psycopg

    def work() -> list[dict[str, object]]:
        with _connect(address, creds, ADMIN_DB, timeout) as conn:
            try:
                # The console speaks only the simple query protocol: a client-side cursor.
                cur = psycopg.ClientCursor(conn)
                cur.execute("SHOW POOLS")
                names = [c.name for c in cur.description or ()]
                return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
            except psycopg.Error as e:
                raise QueryError(_message(e, creds)) from e

    return bound.call(work, timeout, "PgBouncer console")
