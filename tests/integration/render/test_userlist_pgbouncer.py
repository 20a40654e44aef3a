"""The rendered userlist.txt, injected with an awkward password, works in a real PgBouncer."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

# A double quote must be doubled inside userlist.txt; a space and a backslash must not break it.
AWKWARD = 'canary "quoted" pass\\word'


@pytest.fixture
def awkward_password(postgres: Any) -> Iterator[str]:
    """The upstream role's password set to ``AWKWARD`` for one test, then restored."""

    def set_password(value: str) -> None:
        with postgres.connect() as conn:
            conn.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    sql.Identifier(postgres.user), sql.Literal(value)
                )
            )

    set_password(AWKWARD)
    try:
        yield AWKWARD
    finally:
        set_password(postgres.password)


def test_quoted_password_reaches_the_database_through_pgbouncer(
    postgres: Any, pgbouncer_factory: Callable[..., Any], awkward_password: str
) -> None:
    bouncer = pgbouncer_factory(password=awkward_password)
    userlist = (bouncer.ini.parent / "userlist.txt").read_text()
    assert '"canary ""quoted"" pass\\word"' in userlist
    # Client auth against the userlist (md5) and server login with it (SCRAM) both need the
    # value PgBouncer parses to be the original password.
    with psycopg.connect(
        host="127.0.0.1",
        port=bouncer.port,
        user=postgres.user,
        dbname=postgres.database,
        password=awkward_password,
        connect_timeout=5,
    ) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (postgres.user,)
