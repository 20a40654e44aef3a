"""Real PgBouncer, at every version lint has a table for, is the oracle for its pgbouncer.ini rules.

Each row is an ini snippet (plus any files it includes). It is written to a directory,
started in a real PgBouncer there (as the service user; PgBouncer refuses root) and
linted with `lint_paths` as that version's image would be (``pgbouncer_image``).
PgBouncer accepts a file when it logs "process up", refuses it when it exits first; lint
accepts it when it reports no `pgbouncer.invalid` error. The two must agree on every row,
for each supported version: Debian's 1.18.0 and production's 1.24.1 (built from its source,
``akops.tools.pgbouncer``). PgBouncer runs with the ini's directory as its working directory,
where it resolves relative `%include` files (lint resolves them against the including file,
the same directory here).

Besides the rows, each version's ``SHOW CONFIG`` (every parameter the program knows) must list
exactly the parameters of lint's table for that release.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from akops.lint import lint_paths
from akops.lint.pgbouncer import RELEASES, Release
from akops.rehearse.start import free_port, runnable_binary
from tests.integration.conftest import as_service_user, hand_over, pgbouncer_binary, service_dir

ROOT = Path(__file__).resolve().parents[3]
START_TIMEOUT_S = 10
OLD, NEW = "1.18", "1.24"

# (name, [pgbouncer] lines, other files, whether PgBouncer starts: one answer for every
# version, or a version's minor -> its answer)
ROWS: list[tuple[str, str, dict[str, str], bool | dict[str, bool]]] = [
    ("plain", "default_pool_size = 20\n", {}, True),
    ("number-word", "default_pool_size = lots\n", {}, False),
    ("number-hex", "default_pool_size = 0x10\n", {}, True),
    ("number-octal", "default_pool_size = 010\n", {}, True),
    ("number-bad-octal", "default_pool_size = 08\n", {}, False),
    ("number-fraction", "default_pool_size = 1.5\n", {}, False),
    ("number-negative", "max_client_conn = -1\n", {}, True),
    ("number-unit", "max_client_conn = 1k\n", {}, False),
    ("number-quoted", 'default_pool_size = "20"\n', {}, False),
    ("number-empty", "default_pool_size =\n", {}, False),
    ("inline-comment", "default_pool_size = 20 ; twenty\n", {}, False),
    ("no-spaces", "default_pool_size=20\n", {}, True),
    ("time-fraction", "query_wait_timeout = 1.5\n", {}, True),
    ("time-leading-dot", "query_wait_timeout = .5\n", {}, True),
    ("time-exponent", "query_wait_timeout = 1e3\n", {}, True),
    ("time-unit", "query_wait_timeout = 5s\n", {}, False),
    ("time-negative", "query_wait_timeout = -1\n", {}, False),
    ("bool-word", "log_connections = true\n", {}, False),
    ("bool-number", "server_reset_query_always = 1\n", {}, True),
    ("enum-case", "pool_mode = Session\n", {}, True),
    ("enum-bad", "pool_mode = bogus\n", {}, False),
    ("enum-quoted", "pool_mode = 'session'\n", {}, False),
    ("auth-scram", "auth_type = scram-sha-256\n", {}, True),
    ("unknown-parameter", "defualt_pool_size = 3\n", {}, False),
    ("parameter-case", "DEFAULT_POOL_SIZE = 20\n", {}, False),
    ("duplicate-key", "pool_mode = session\npool_mode = transaction\n", {}, True),
    ("no-equals", "default_pool_size 20\n", {}, False),
    ("string-anything", "ignore_startup_parameters = extra_float_digits, options\n", {}, True),
    ("comments", "# c\n; c\n  pool_mode = session\n", {}, True),
    ("bad-section", "[bogus]\na = b\n", {}, False),
    ("section-case", "[PGBOUNCER]\npool_mode = session\n", {}, False),
    ("users-section", "[users]\nbob = pool_mode=session\n", {}, True),
    ("users-bad-mode", "[users]\nbob = pool_mode=bogus\n", {}, False),
    ("db-unknown-key", "[databases]\nx = host=127.0.0.1 bogus=1\n", {}, False),
    ("db-quoted-value", "[databases]\nx = host=127.0.0.1 password='a b'\n", {}, True),
    ("db-unclosed-quote", "[databases]\nx = host=127.0.0.1 password='a b\n", {}, False),
    ("db-bad-port", "[databases]\nx = host=127.0.0.1 port=lots\n", {}, False),
    ("db-star", "[databases]\n* = host=127.0.0.1\n", {}, True),
    ("include", "%include extra.ini\n", {"extra.ini": "default_pool_size = 7\n"}, True),
    (
        "include-bad-value",
        "%include extra.ini\n",
        {"extra.ini": "default_pool_size = lots\n"},
        False,
    ),
    ("include-missing", "%include gone.ini\n", {}, False),
    ("include-cycle", "%include extra.ini\n", {"extra.ini": "%include pgbouncer.ini\n"}, False),
    ("conffile", "conffile = /nonexistent/pgbouncer.ini\n", {}, True),
    # What 1.19 to 1.24 added: refused by 1.18, accepted by 1.24.
    ("max-prepared-statements", "max_prepared_statements = 100\n", {}, {OLD: False, NEW: True}),
    ("max-prepared-statements-word", "max_prepared_statements = lots\n", {}, False),
    (
        "track-extra-parameters",
        "track_extra_parameters = IntervalStyle\n",
        {},
        {OLD: False, NEW: True},
    ),
    ("cancel-wait-timeout", "cancel_wait_timeout = 5\n", {}, {OLD: False, NEW: True}),
    ("cancel-wait-timeout-unit", "cancel_wait_timeout = 5s\n", {}, False),
    (
        "client-connection-caps",
        "max_db_client_connections = 10\nmax_user_client_connections = 5\n",
        {},
        {OLD: False, NEW: True},
    ),
    (
        "db-load-balance-hosts",
        "[databases]\nx = host=127.0.0.1 load_balance_hosts=round-robin\n",
        {},
        {OLD: False, NEW: True},
    ),
    (
        "db-load-balance-bad",
        "[databases]\nx = host=127.0.0.1 load_balance_hosts=sideways\n",
        {},
        False,
    ),
    (
        "db-reserve-pool-size",
        "[databases]\nx = host=127.0.0.1 reserve_pool_size=3\n",
        {},
        {OLD: False, NEW: True},
    ),
    (
        "db-server-lifetime",
        "[databases]\nx = host=127.0.0.1 server_lifetime=60\n",
        {},
        {OLD: False, NEW: True},
    ),
    (
        "users-pool-size",
        "[users]\nbob = pool_size=5 idle_transaction_timeout=30\n",
        {},
        {OLD: False, NEW: True},
    ),
    ("users-unknown-key", "[users]\nbob = pool_sise=5\n", {}, False),
    ("peers-section", "[peers]\n1 = host=127.0.0.1\n", {}, {OLD: False, NEW: True}),
    ("peers-no-host", "[peers]\n1 = port=6432\n", {}, False),
    ("peers-name-not-an-id", "[peers]\nabc = host=127.0.0.1\n", {}, False),
    (
        "include-nested",
        "%include a.ini\n",
        {"a.ini": "%include b.ini\n", "b.ini": "max_client_conn = 50\n"},
        True,
    ),
    (
        "include-keeps-section",
        "%include extra.ini\npool_mode = session\n",
        {"extra.ini": "[databases]\ny = host=127.0.0.1\n"},
        False,
    ),
]


def _ini(directory: Path, lines: str) -> str:
    # A PgBouncer that can start here: a Unix socket in the test's directory only.
    return (
        "[databases]\n"
        "authentik = host=127.0.0.1 port=5432 dbname=authentik\n"
        "[pgbouncer]\n"
        "listen_port = 6432\n"
        f"unix_socket_dir = {directory}\n"
        "auth_type = trust\n"
        "idle_transaction_timeout = 300\n"
        f"{lines}"
    )


def _expected(row: tuple[str, str, dict[str, str], bool | dict[str, bool]], minor: str) -> bool:
    starts = row[3]
    return starts if isinstance(starts, bool) else starts[minor]


def _pgbouncer_starts(binary: Path, directory: Path) -> bool:
    proc = subprocess.Popen(
        as_service_user([str(binary), str(directory / "pgbouncer.ini")]),
        cwd=directory,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT_S
    try:
        for line in proc.stdout:  # PgBouncer logs to stderr until it is up or gives up
            if "process up" in line:
                return True
            if time.monotonic() > deadline:
                pytest.fail(f"PgBouncer neither started nor exited in {START_TIMEOUT_S} s")
        return False
    finally:
        proc.kill()
        proc.wait(timeout=START_TIMEOUT_S)
        proc.stdout.close()


@pytest.fixture(scope="module", params=RELEASES, ids=[r.minor for r in RELEASES])
def release(request: pytest.FixtureRequest) -> Release:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def verdicts(release: Release) -> Iterator[dict[str, tuple[bool, list[str]]]]:
    """Row name → (this release's PgBouncer started, lint's pgbouncer.invalid messages)."""
    binary = pgbouncer_binary(release.tested)
    image = f"edoburu/pgbouncer:v{release.tested}-p1"
    with service_dir("pgb-oracle") as root:
        binary = runnable_binary(binary, root)
        dirs = {}
        for name, lines, files, _ in ROWS:
            d = root / name
            d.mkdir()
            (d / "pgbouncer.ini").write_text(_ini(d, lines))
            for fname, text in files.items():
                (d / fname).write_text(text)
            hand_over(d, *d.iterdir())
            dirs[name] = d

        def judge(name: str) -> tuple[str, tuple[bool, list[str]]]:
            d = dirs[name]
            report = lint_paths(
                [d / "pgbouncer.ini"], root=ROOT, cache=False, jobs=1, pgbouncer_image=image
            )
            refused = [f.message for f in report.findings if f.rule == "pgbouncer.invalid"]
            return name, (_pgbouncer_starts(binary, d), refused)

        with ThreadPoolExecutor(max_workers=4) as pool:
            yield dict(pool.map(judge, [r[0] for r in ROWS]))


@pytest.mark.parametrize("row", ROWS, ids=[r[0] for r in ROWS])
def test_lint_accepts_what_pgbouncer_accepts(
    verdicts: dict[str, tuple[bool, list[str]]],
    release: Release,
    row: tuple[str, str, dict[str, str], bool | dict[str, bool]],
) -> None:
    started, refused = verdicts[row[0]]
    assert started == _expected(row, release.minor), (
        f"the table is wrong about PgBouncer {release.tested} for {row[0]}"
    )
    assert (not refused) == started, refused
    if refused and isinstance(row[3], dict):
        # A refusal of a newer release's setting names the version that refused it.
        assert all(f"PgBouncer {release.tested}" in m for m in refused), refused


def test_the_rows_tell_the_versions_apart() -> None:
    """The table would pass with one version's answers for both if no row differed."""
    assert {r[0] for r in ROWS if _expected(r, OLD) != _expected(r, NEW)} >= {
        "max-prepared-statements",
        "track-extra-parameters",
        "db-load-balance-hosts",
    }


def test_show_config_lists_exactly_the_tables_parameters(release: Release) -> None:
    """Every parameter the real program knows is in lint's table for it, and no other."""
    with service_dir("pgb-config") as root:
        binary = runnable_binary(pgbouncer_binary(release.tested), root)
        port = free_port()
        (root / "users.txt").write_text('"admin" ""\n')
        (root / "pgbouncer.ini").write_text(
            "[databases]\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir = {root}\n"
            f"auth_type = trust\nauth_file = {root / 'users.txt'}\nadmin_users = admin\n"
        )
        hand_over(*root.iterdir())
        proc = subprocess.Popen(
            as_service_user([str(binary), str(root / "pgbouncer.ini")]),
            cwd=root,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while True:
                try:
                    conn = psycopg.connect(
                        host="127.0.0.1", port=port, user="admin", dbname="pgbouncer",
                        autocommit=True, connect_timeout=2,
                    )  # fmt: skip
                    break
                except psycopg.OperationalError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise
                    time.sleep(0.1)
            with contextlib.closing(conn):
                # The admin console speaks the simple query protocol only.
                rows = conn.execute("SHOW CONFIG", prepare=False).fetchall()
                version = conn.execute("SHOW VERSION", prepare=False).fetchone()
        finally:
            proc.terminate()
            proc.wait(timeout=START_TIMEOUT_S)
    assert version is not None and release.tested in str(version[0])
    assert {str(r[0]) for r in rows} == set(release.parameters)
