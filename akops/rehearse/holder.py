"""A booting pod's migration that takes the advisory lock and then stops answering.

Rule: a child main (``python -m akops.rehearse.holder``), started by ``akops.rehearse.inject``
through the process helper. It does what Authentik 2026.2's ``lifecycle/migrate.py`` does with
its lock connection, up to Django's ``migrate`` (``akops.rehearse.drive.take_migration_lock``, shared with the
booting pods of the load):

1. one psycopg 3 connection through PgBouncer, not in autocommit (psycopg's default);
2. ``SELECT pg_advisory_lock(1000)``: a *session-level* lock (``ADV_LOCK_UID``), which survives
   the end of a transaction and goes only with ``pg_advisory_unlock`` or the session;
3. on the same cursor, each system migration's ``needs_migration()`` check, a ``SELECT`` on
   ``information_schema.tables``: psycopg opens a transaction on it and nobody commits it, so
   from here on the connection is *idle in transaction* while Django migrates on connections of
   its own.

It then says so on stdout and waits, holding both; the rehearsal freezes it with SIGSTOP: its
socket stays open and its transaction idle, as a pod's does when its node dies under it. (Read
from the upstream source; whether the lock is taken inside ``conn.transaction()`` or as the
implicit transaction's first statement changes nothing of the above.) The password comes from
``PGPASSWORD``, never from the command line.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from akops.rehearse.drive import MIGRATION_LOCK, take_migration_lock

#: The longest a holder lives even if nobody stops it (the process helper stops it first).
MAX_LIFETIME = 900.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m akops.rehearse.holder")
    parser.add_argument("--address", required=True, help="PgBouncer HOST:PORT")
    parser.add_argument("--user", required=True)
    parser.add_argument("--dbname", required=True)
    parser.add_argument("--lock", type=int, default=MIGRATION_LOCK)
    parser.add_argument("--app", default="authentik migrate (holder)")
    args = parser.parse_args(argv)
    import psycopg

    host, _, port = args.address.rpartition(":")
    conn = psycopg.connect(
        host=host,
        port=int(port),
        dbname=args.dbname,
        user=args.user,
        password=os.environ.get("PGPASSWORD", ""),
        application_name=args.app,
        connect_timeout=10,
    )
    pid = conn.execute("SELECT pg_backend_pid()").fetchone()
    conn.commit()
    take_migration_lock(conn, args.lock)
    print(f"holding lock {args.lock} in backend {pid[0] if pid else '?'}", flush=True)
    time.sleep(MAX_LIFETIME)
    return 0


if __name__ == "__main__":
    sys.exit(main())
