"""A booting pod's migration that takes the advisory lock and then stops answering.

Rule: a child main (``python -m akops.rehearse.holder``), started by ``akops.rehearse.inject``
through the process helper. It connects through PgBouncer, opens a transaction, takes the
migration's advisory lock, says so on stdout, and waits. The rehearsal then freezes it with
SIGSTOP: its socket stays open and its transaction stays idle, as a pod's does when its node
dies under it. The password comes from ``PGPASSWORD``, never from the command line.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

#: The longest a holder lives even if nobody stops it (the process helper stops it first).
MAX_LIFETIME = 900.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m akops.rehearse.holder")
    parser.add_argument("--address", required=True, help="PgBouncer HOST:PORT")
    parser.add_argument("--user", required=True)
    parser.add_argument("--dbname", required=True)
    parser.add_argument("--lock", type=int, required=True)
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
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (args.lock,))
    print(f"holding lock {args.lock} in backend {pid[0] if pid else '?'}", flush=True)
    time.sleep(MAX_LIFETIME)
    return 0


if __name__ == "__main__":
    sys.exit(main())
