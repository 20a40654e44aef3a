"""Connecting: context guard, deadlines, bounded retries — against real sockets."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from akops.cluster.apply import get
from akops.cluster.connect import ATTEMPTS, connect
from akops.cluster.objects import Ref
from akops.environment import Environment, load_environment
from akops.errors import ClusterError
from akops.layout import Layout
from harness.emulator import Cluster

from .conftest import ENV, emu_environment, write_kubeconfig

pytestmark = pytest.mark.integration
CONFIGMAP = Ref("ConfigMap", "authentik", "pgbouncer-config")


@pytest.fixture
def env(repo: Layout, kubeconfig: Path) -> Environment:
    emu_environment(repo, kube__api_timeout=1.5)
    return load_environment(ENV, repo.environments)


def test_current_context_must_be_the_environments(
    env: Environment, cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_kubeconfig(tmp_path / "other", cluster, current="kind-somewhere-else")
    monkeypatch.setenv("KUBECONFIG", str(path))
    with pytest.raises(ClusterError) as refused:
        connect(env)
    assert str(refused.value) == (
        "current kube context is 'kind-somewhere-else' but environment 'emu' runs against "
        "'emulator'; switch with `kubectl config use-context emulator` or pass --context emulator"
    )
    assert cluster.requests() == []  # refused before any request
    with connect(env, context="emulator") as api:  # an explicit context is a deliberate choice
        assert get(api, CONFIGMAP) is None


def test_unknown_explicit_context_and_missing_kubeconfig(
    env: Environment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ClusterError, match=r"kube context 'nope' is not in .* \(known: emulator\)"):
        connect(env, context="nope")
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    with pytest.raises(ClusterError, match=r"no kubeconfig at .*absent; set KUBECONFIG"):
        connect(env)


def test_429_and_500_are_retried_within_the_bound(env: Environment, cluster: Cluster) -> None:
    cluster.fail("GET", "/configmaps/pgbouncer-config$", 429, times=2)
    cluster.fail("GET", "/configmaps/pgbouncer-config$", 500, times=1)
    with connect(env) as api:
        assert get(api, CONFIGMAP) is None  # answered 404 in the end
    assert len(cluster.requests("GET", "/configmaps/pgbouncer-config$")) == 4


def test_retries_stop_after_the_attempt_bound_with_the_apis_message(
    env: Environment, cluster: Cluster
) -> None:
    cluster.fail("GET", "/configmaps/pgbouncer-config$", 503, times=50)
    start = time.monotonic()
    with connect(env) as api, pytest.raises(ClusterError) as failed:
        get(api, CONFIGMAP)
    assert str(failed.value) == "ConfigMap/pgbouncer-config: the API answered 503: injected 503"
    # Bounded twice: at most ATTEMPTS tries, and no backoff sleep past the call's deadline.
    assert 1 < len(cluster.requests("GET", "/configmaps/pgbouncer-config$")) <= ATTEMPTS
    assert time.monotonic() - start < env.kube.api_timeout


def test_dropped_connections_are_retried(env: Environment, cluster: Cluster) -> None:
    cluster.fail("GET", "/configmaps/pgbouncer-config$", 0, times=2)
    with connect(env) as api:
        assert get(api, CONFIGMAP) is None
    assert len(cluster.requests("GET", "/configmaps/pgbouncer-config$")) == 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server that accepts connections and never answers (a hung API server)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                held.append(conn)
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield int(server.getsockname()[1])
    stop.set()
    t.join()
    for c in held:
        c.close()
    server.close()


def kubeconfig_for(path: Path, server: str) -> Path:
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: emulator\n"
        f"clusters: [{{name: c, cluster: {{server: '{server}'}}}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: emulator, context: {cluster: c, user: u}}]\n",
        encoding="utf-8",
    )
    return path


def test_unreachable_api_server_fails_fast(
    env: Environment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    monkeypatch.setenv(
        "KUBECONFIG", str(kubeconfig_for(tmp_path / "kc", f"http://127.0.0.1:{port}"))
    )
    start = time.monotonic()
    with connect(env) as api, pytest.raises(ClusterError) as failed:
        get(api, CONFIGMAP)
    took = time.monotonic() - start
    assert str(failed.value).startswith(
        f"cannot reach the Kubernetes API at http://127.0.0.1:{port} ("
    )
    assert "Connection refused" in str(failed.value)
    assert took < env.kube.api_timeout + 0.5


def test_hung_api_server_times_out_at_the_configured_deadline(
    env: Environment, silent_server: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "KUBECONFIG", str(kubeconfig_for(tmp_path / "kc", f"http://127.0.0.1:{silent_server}"))
    )
    start = time.monotonic()
    with connect(env) as api, pytest.raises(ClusterError) as failed:
        get(api, CONFIGMAP)
    took = time.monotonic() - start
    assert (
        "did not answer GET /api/v1/namespaces/authentik/configmaps/pgbouncer-config within 1.5s"
        in str(failed.value)
    )
    assert env.kube.api_timeout - 0.5 < took < env.kube.api_timeout + 1.0


def test_tls_failure_is_one_clear_error(
    env: Environment, cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An https URL in front of a plain-HTTP server: the handshake fails.
    monkeypatch.setenv(
        "KUBECONFIG", str(kubeconfig_for(tmp_path / "kc", f"https://127.0.0.1:{cluster.port}"))
    )
    with connect(env) as api, pytest.raises(ClusterError) as failed:
        get(api, CONFIGMAP)
    assert str(failed.value).startswith(
        f"cannot talk to the Kubernetes API at https://127.0.0.1:{cluster.port}: "
    )
    assert "SSL" in str(failed.value)
