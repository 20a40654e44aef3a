"""The exporter's stats-only user, proven on the real PgBouncer 1.24.1 and PostgreSQL.

PgBouncer runs from prod's RENDERED pgbouncer.ini and userlist.txt (the ``pgbouncer-auth``
Secret, both placeholders injected: the application's password and the stats user's own).
The exporter's user (``monitoring.exporter.user``, listed in ``stats_users``) must read
``SHOW POOLS`` on the admin console, must not run admin commands, and must not get a server
connection to the database. The defence against the last is the [databases] entry without a
forced ``user=``: with the old entry (``user=authentik``) the same login reaches the database
as the application, which the last test shows.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from akops.environment import load_environment
from akops.errors import AkopsError
from akops.layout import Layout
from akops.rehearse import start, topology
from tests.integration.conftest import Postgres, pgbouncer_binary, rendered_pgbouncer_files

STATS_PASSWORD = "stats-canary-3f9b2c"  # a canary: never the application's password


@pytest.fixture
def stats_user(layout: Layout) -> str:
    env = load_environment("prod", layout.environments)
    assert env.monitoring is not None
    return env.monitoring.exporter.user


@pytest.fixture
def bouncer(layout: Layout, postgres: Postgres) -> Callable[..., Any]:
    """Start prod's rendered PgBouncer (1.24.1); ``force_user`` puts back the old ``user=``."""

    @contextlib.contextmanager
    def launch(force_user: str | None = None) -> Iterator[start.Bouncer]:
        pgbouncer_binary()
        ini, userlist = rendered_pgbouncer_files(layout)
        assert STATS_PASSWORD not in ini + userlist

        def adjust(text: str, local: dict[str, str]) -> str:
            text = topology.adjust_ini(text, local, (postgres.host, postgres.port))
            if force_user:
                text = re.sub(r"(?m)^(authentik = .*)$", rf"\1 user={force_user}", text)
            return text

        with contextlib.ExitStack() as stack, start.workdir("akops-stats-") as root:
            try:
                yield start.start_pgbouncer(
                    stack,
                    root,
                    0,
                    ini,
                    userlist,
                    postgres.password,
                    adjust,
                    stats_password=STATS_PASSWORD,
                )
            except AkopsError as e:
                pytest.fail(f"PgBouncer: {e}", pytrace=False)

    return launch


def _connect(b: start.Bouncer, user: str, dbname: str) -> psycopg.Connection[Any]:
    return psycopg.connect(
        host="127.0.0.1",
        port=b.port,
        user=user,
        password=STATS_PASSWORD,
        dbname=dbname,
        autocommit=True,
        connect_timeout=5,
    )


def test_the_stats_user_reads_pools_and_nothing_more(
    bouncer: Callable[..., Any], stats_user: str, postgres: Postgres
) -> None:
    with bouncer() as b:
        app = psycopg.connect(
            host="127.0.0.1", port=b.port, user=postgres.user, password=postgres.password,
            dbname=postgres.database, autocommit=True, connect_timeout=5,
        )  # fmt: skip
        with app, _connect(b, stats_user, "pgbouncer") as console:
            app.execute("SELECT 1")  # the application's pool exists and has a server
            cur = psycopg.ClientCursor(console)  # the console speaks the simple protocol only
            cur.execute("SHOW POOLS")
            names = [c.name for c in cur.description or ()]
            assert {"database", "cl_waiting", "sv_active"} <= set(names)
            pools = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
            mine = [p for p in pools if p["database"] == postgres.database]
            assert [p["user"] for p in mine] == [postgres.user]  # its user, its own pool
            # stats_users is read-only: no PAUSE, no RELOAD, no SHUTDOWN.
            with pytest.raises(psycopg.Error, match="admin access needed"):
                cur.execute("PAUSE authentik")
        with pytest.raises(psycopg.OperationalError) as refused:
            _connect(b, stats_user, postgres.database).execute("SELECT 1")
        assert f'"{stats_user}"' in str(refused.value)  # PostgreSQL refused that role
        assert STATS_PASSWORD not in b.log.read_text()
    # PostgreSQL never ran a session for it.
    with psycopg.connect(
        host=str(postgres.socket_dir), port=postgres.port, user="postgres", dbname="postgres"
    ) as su:
        roles = su.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (stats_user,)).fetchall()
    assert roles == []


def test_the_stats_password_is_not_the_applications(
    bouncer: Callable[..., Any], stats_user: str, postgres: Postgres
) -> None:
    with bouncer() as b:
        # The application's password does not open the console as the stats user...
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(
                host="127.0.0.1", port=b.port, user=stats_user, password=postgres.password,
                dbname="pgbouncer", connect_timeout=5,
            )  # fmt: skip
        # ...and the stats password does not log in as the application.
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            _connect(b, postgres.user, postgres.database)


def test_with_a_forced_user_the_stats_login_reaches_the_database(
    bouncer: Callable[..., Any], stats_user: str, postgres: Postgres
) -> None:
    """The defence removed: the old [databases] entry hands every PgBouncer user the app's role."""
    with bouncer(force_user=postgres.user) as b, _connect(b, stats_user, postgres.database) as c:
        row = c.execute("SELECT current_user").fetchone()
    assert row == (postgres.user,)
