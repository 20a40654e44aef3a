"""Starting the rehearsal's data path for real: PostgreSQL, one PgBouncer per replica, a tmpfs.

Rule: I/O. Every process starts through ``akops.process`` (own process group, log file) and is
entered into the caller's ``ExitStack``, so leaving the stack, by success, failure or
Ctrl-C, stops each of them; the tmpfs is unmounted the same way. PostgreSQL and PgBouncer
refuse to run as root: as root they run as ``nobody`` through ``setpriv``. Everything
listens on 127.0.0.1 on ports the OS picks.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from akops import process
from akops.errors import AkopsError, ToolMissingError
from akops.secrets import Secrets

PG_BINS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
SERVICE_USER = "nobody"
START_TIMEOUT = 30.0


class StartError(AkopsError):
    """A service of the rehearsal could not start (exit 2: the rehearsal could not run)."""


def _random() -> str:
    import secrets

    return secrets.token_urlsafe(24)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pg_bin(name: str) -> Path:
    for d in PG_BINS:
        if (d / name).exists():
            return d / name
    raise ToolMissingError(f"PostgreSQL's {name} not found: apt-get install postgresql")


def pgbouncer_bin(version: str | None = None) -> Path:
    """PgBouncer at ``version`` (default: production's, 1.24.1), from ``akops.tools.pgbouncer``."""
    from akops.tools.pgbouncer import PROD, ensure_pgbouncer

    return ensure_pgbouncer(version or PROD.version)


def runnable_binary(binary: Path, home: Path) -> Path:
    """``binary``, or a copy of it in ``home`` when the service user cannot reach it.

    A build cached under root's home (``/root`` is 0700) is not executable by ``nobody``;
    the copy lives in the service's own scratch directory and goes with it.
    """
    if os.geteuid() != 0 or _world_reachable(binary):
        return binary
    copy = home / binary.name
    shutil.copy2(binary, copy)
    copy.chmod(0o755)
    return copy


def _world_reachable(path: Path) -> bool:
    path = path.resolve()
    if not path.stat().st_mode & 0o001:
        return False
    return all(p.stat().st_mode & 0o001 for p in path.parents)


def as_service_user(argv: list[str]) -> list[str]:
    """PostgreSQL and PgBouncer refuse root: drop to ``nobody`` when we are root."""
    if os.geteuid() != 0:
        return argv
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise ToolMissingError("setpriv not found: apt-get install util-linux")
    return [setpriv, f"--reuid={SERVICE_USER}", "--regid=nogroup", "--clear-groups", *argv]


def hand_over(*paths: Path) -> None:
    if os.geteuid() == 0:
        pw = pwd.getpwnam(SERVICE_USER)
        for p in paths:
            os.chown(p, pw.pw_uid, pw.pw_gid)


@contextlib.contextmanager
def workdir(prefix: str = "akops-rehearse-") -> Iterator[Path]:
    """A scratch directory the service user can use, removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    root.chmod(0o755)
    hand_over(root)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def wait_until(ready: Callable[[], bool], child: process.Child, what: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if not child.alive():
            raise StartError(f"{what} exited at start: {_tail(log)}")
        with contextlib.suppress(OSError):
            if ready():
                return
        time.sleep(0.05)
    raise StartError(f"{what} not ready after {START_TIMEOUT:g}s: {_tail(log)}")


def _tail(log: Path) -> str:
    try:
        lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "(no log)"
    return " | ".join(lines[-3:])[-600:] or "(empty log)"


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), 0.2):
            return True
    except OSError:
        return False


# --- PostgreSQL -------------------------------------------------------------------------


@dataclass(frozen=True)
class Postgres:
    port: int
    socket_dir: Path
    user: str
    database: str
    max_connections: int
    password: str = field(repr=False)
    host: str = "127.0.0.1"

    def superuser(self, dbname: str | None = None, **kw: object) -> object:
        """A psycopg connection as the superuser over the Unix socket (the rehearsal's observer)."""
        import psycopg

        return psycopg.connect(
            host=str(self.socket_dir),
            port=self.port,
            user="postgres",
            dbname=dbname or self.database,
            connect_timeout=5,
            **kw,  # type: ignore[arg-type]
        )


def start_postgres(
    stack: contextlib.ExitStack,
    root: Path,
    user: str,
    database: str,
    max_connections: int,
    password: str,
) -> Postgres:
    """A PostgreSQL with ``max_connections`` and the Authentik role and database."""
    data, sockets = root / "pgdata", root / "pgsockets"
    data.mkdir()
    sockets.mkdir()
    hand_over(data, sockets)
    init = process.run(
        as_service_user(
            [
                str(pg_bin("initdb")),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--no-sync",
                "-E",
                "UTF8",
            ]
        ),
        timeout=120,
        cwd=root,
    )
    if init.returncode != 0:
        raise StartError(f"initdb failed: {init.stderr.strip()[-400:]}")
    port = free_port()
    log = root / "postgres.log"
    child = stack.enter_context(
        process.spawn(
            as_service_user(
                [
                    str(pg_bin("postgres")),
                    "-D",
                    str(data),
                    "-k",
                    str(sockets),
                    "-p",
                    str(port),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                    "-c",
                    "shared_buffers=16MB",
                    "-c",
                    f"max_connections={max_connections}",
                ]
            ),
            cwd=root,
            log=log,
        )
    )
    pg = Postgres(port, sockets, user, database, max_connections, password)

    def accepts() -> bool:
        try:
            conn = pg.superuser("postgres", autocommit=True)
        except Exception:
            return False
        conn.close()  # type: ignore[attr-defined]
        return True

    wait_until(accepts, child, "PostgreSQL", log)
    import psycopg
    from psycopg import sql

    with psycopg.connect(
        host=str(sockets), port=port, user="postgres", dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(user), sql.Literal(password)
            )
        )
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(database), sql.Identifier(user)
            )
        )
    return pg


# --- PgBouncer --------------------------------------------------------------------------


@dataclass(frozen=True)
class Bouncer:
    index: int
    port: int
    ini: Path
    log: Path
    child: process.Child

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


def start_pgbouncer(
    stack: contextlib.ExitStack,
    root: Path,
    index: int,
    ini_text: str,
    userlist: str,
    password: str,
    adjust: Callable[[str, dict[str, str]], str],
    port: int | None = None,
    version: str | None = None,
    stats_password: str | None = None,
) -> Bouncer:
    """One PgBouncer from ``ini_text`` with only listen address, port and paths changed
    (``adjust`` applies them and the scaled times); ``userlist`` gets the password injected.
    ``version``: the PgBouncer version to run (default: production's). ``stats_password`` is
    the exporter's stats-only user's (a fresh random one when not given: nobody uses it)."""
    home = root / f"pgbouncer-{index}"
    home.mkdir(exist_ok=True)
    port = port or free_port()
    auth = home / "userlist.txt"
    values = {"postgres_password": password, "stats_password": stats_password or _random()}
    auth.write_text(Secrets(values).inject(userlist))
    auth.chmod(0o600)
    settings = {
        "listen_addr": "127.0.0.1",
        "listen_port": str(port),
        "auth_file": str(auth),
        "unix_socket_dir": str(home),
    }
    ini = home / "pgbouncer.ini"
    ini.write_text(adjust(ini_text, settings))
    ini.chmod(0o600)
    hand_over(home, ini, auth)
    log = home / "pgbouncer.log"
    child = stack.enter_context(
        process.spawn(
            as_service_user([str(runnable_binary(pgbouncer_bin(version), home)), str(ini)]),
            cwd=home,
            log=log,
        )
    )
    wait_until(lambda: port_open(port), child, f"PgBouncer {index}", log)
    return Bouncer(index, port, ini, log, child)


# --- tmpfs ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tmpfs:
    path: Path
    size: int


@contextlib.contextmanager
def tmpfs(path: Path, size: int) -> Iterator[Tmpfs]:
    """A real tmpfs of ``size`` bytes at ``path`` (needs root, as CI has); unmounted after."""
    if os.geteuid() != 0:
        raise StartError("mounting a tmpfs needs root (run the shm rehearsal as root, as CI does)")
    path.mkdir(parents=True, exist_ok=True)
    done = process.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=1777", "tmpfs", str(path)], timeout=30
    )
    if done.returncode != 0:
        raise StartError(f"mount tmpfs at {path}: {done.stderr.strip()[-300:]}")
    try:
        yield Tmpfs(path, size)
    finally:
        process.run(["umount", "-l", str(path)], timeout=30)
