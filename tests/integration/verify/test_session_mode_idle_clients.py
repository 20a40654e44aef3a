"""What PgBouncer 1.24.1 in session mode does with an idle client linked to a server.

The premise ``db.persistent-connections`` once rested on: "a persistent Django connection
older than ``server_idle_timeout`` is closed by PgBouncer". The real PgBouncer (prod's rendered
pgbouncer.ini, session mode, timeouts shortened to 1 s) shows otherwise:

* ``server_idle_timeout`` and ``server_lifetime`` apply only to servers back in the pool: an
  idle client keeps its server, the same backend, however long it waits;
* the same timeout does close a server once its client has gone (the control: the setting works);
* ``client_idle_timeout`` does not end it either: PgBouncer's janitor skips a client linked to a
  server (``if (client->link) continue;`` in 1.24.1's janitor.c), and in session mode a client is
  linked from its first query to its disconnect;
* what does end it is PostgreSQL's ``idle_session_timeout`` (here set on the role): the backend
  goes, and the client's next query fails (a Django connection without ``CONN_HEALTH_CHECKS``
  fails that request).

So in session mode a persistent connection (``CONN_MAX_AGE`` > 0, closed by Django only at the end
of a request older than that) holds one server connection per thread for as long as the thread
lives: the pool must hold every thread at once (``db.capacity`` counts them).

Waits are fixed multiples of the 1 s timeouts (PgBouncer's janitor runs several times a second);
a state that must come about is polled for with a deadline, not timed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import psycopg
import psycopg.sql
import pytest

from tests.integration.conftest import PgBouncer, Postgres

TIMEOUT_S = "1"
IDLE_S = 4.0  # four timeouts: PgBouncer had every chance to act
DEADLINE_S = 15.0


def _client(b: PgBouncer, pg: Postgres) -> psycopg.Connection[Any]:
    host, _, port = b.address.rpartition(":")
    return psycopg.connect(
        host=host,
        port=int(port),
        user=pg.user,
        password=pg.password,
        dbname=pg.database,
        autocommit=True,
        connect_timeout=5,
    )


def _backend(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT pg_backend_pid()").fetchone()
    assert row is not None
    return int(row[0])


def _alive(pg: Postgres, pid: int) -> bool:
    with psycopg.connect(
        host=str(pg.socket_dir), port=pg.port, user="postgres", dbname="postgres"
    ) as su:
        return (
            su.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()
            is not None
        )


def _eventually(what: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if what():
            return True
        time.sleep(0.2)
    return False


@pytest.fixture
def short_server_timeouts(pgbouncer_factory: Callable[..., PgBouncer]) -> PgBouncer:
    return pgbouncer_factory(server_idle_timeout=TIMEOUT_S, server_lifetime=TIMEOUT_S)


def test_an_idle_linked_client_keeps_its_server_past_server_idle_timeout(
    short_server_timeouts: PgBouncer, postgres: Postgres
) -> None:
    with _client(short_server_timeouts, postgres) as conn:
        pid = _backend(conn)
        time.sleep(IDLE_S)
        assert _alive(postgres, pid)  # neither server_idle_timeout nor server_lifetime closed it
        assert _backend(conn) == pid  # and the client is still on the same backend


def test_server_idle_timeout_closes_the_server_once_its_client_has_gone(
    short_server_timeouts: PgBouncer, postgres: Postgres
) -> None:
    """The control: the setting is in force, it just does not apply to a linked server."""
    with _client(short_server_timeouts, postgres) as conn:
        pid = _backend(conn)
    assert _eventually(lambda: not _alive(postgres, pid))


def test_client_idle_timeout_does_not_end_an_idle_linked_client(
    pgbouncer_factory: Callable[..., PgBouncer], postgres: Postgres
) -> None:
    b = pgbouncer_factory(client_idle_timeout=TIMEOUT_S)
    with _client(b, postgres) as conn:
        pid = _backend(conn)
        time.sleep(IDLE_S)
        assert _backend(conn) == pid
    assert "client_idle_timeout" not in b.log.read_text()
    # The control: a client not yet linked to a server (it never sent a query) is closed.
    with _client(b, postgres):
        assert _eventually(lambda: "client_idle_timeout" in b.log.read_text())


def test_postgresqls_idle_session_timeout_ends_it(pgbouncer: PgBouncer, postgres: Postgres) -> None:
    su = psycopg.connect(
        host=str(postgres.socket_dir), port=postgres.port, user="postgres", dbname="postgres",
        autocommit=True,
    )  # fmt: skip
    role = psycopg.sql.Identifier(postgres.user)
    with su:
        su.execute(psycopg.sql.SQL("ALTER ROLE {} SET idle_session_timeout = '1s'").format(role))
        try:
            with _client(pgbouncer, postgres) as conn:
                pid = _backend(conn)
                assert _eventually(lambda: not _alive(postgres, pid))
                with pytest.raises(psycopg.OperationalError):
                    _backend(conn)
        finally:
            su.execute(psycopg.sql.SQL("ALTER ROLE {} RESET idle_session_timeout").format(role))
