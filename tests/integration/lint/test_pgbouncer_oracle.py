"""Real PgBouncer (Debian's 1.18) is the oracle for lint's pgbouncer.ini parsing.

Each row is an ini snippet (plus any files it includes). It is written to a directory,
started in a real PgBouncer there (as the service user; PgBouncer refuses root) and
linted with `lint_paths`. PgBouncer accepts a file when it logs "process up", refuses
it when it exits first; lint accepts it when it reports no `pgbouncer.invalid` error.
The two must agree on every row. PgBouncer runs with the ini's directory as its
working directory, where it resolves relative `%include` files (lint resolves them
against the including file, the same directory here).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from akops.lint import lint_paths
from tests.integration.conftest import as_service_user, hand_over, pgbouncer_binary, service_dir

ROOT = Path(__file__).resolve().parents[3]
START_TIMEOUT_S = 10

# (name, [pgbouncer] lines, other files, whether PgBouncer 1.18 starts)
ROWS: list[tuple[str, str, dict[str, str], bool]] = [
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


def _pgbouncer_starts(directory: Path) -> bool:
    proc = subprocess.Popen(
        as_service_user([str(pgbouncer_binary("1.18.0")), str(directory / "pgbouncer.ini")]),
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


@pytest.fixture(scope="module")
def verdicts() -> Iterator[dict[str, tuple[bool, list[str]]]]:
    """Row name → (PgBouncer started, lint's pgbouncer.invalid messages)."""
    pgbouncer_binary("1.18.0")
    with service_dir("pgb-oracle") as root:
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
            report = lint_paths([d / "pgbouncer.ini"], root=ROOT, cache=False, jobs=1)
            refused = [f.message for f in report.findings if f.rule == "pgbouncer.invalid"]
            return name, (_pgbouncer_starts(d), refused)

        with ThreadPoolExecutor(max_workers=4) as pool:
            yield dict(pool.map(judge, [r[0] for r in ROWS]))


@pytest.mark.parametrize(
    ("name", "expected"), [(r[0], r[3]) for r in ROWS], ids=[r[0] for r in ROWS]
)
def test_lint_accepts_what_pgbouncer_accepts(
    verdicts: dict[str, tuple[bool, list[str]]], name: str, expected: bool
) -> None:
    started, refused = verdicts[name]
    assert started == expected, f"the table is wrong about PgBouncer for {name}"
    assert (not refused) == started, refused
