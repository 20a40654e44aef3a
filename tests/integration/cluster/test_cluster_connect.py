"""Connecting: context guard, deadlines, bounded retries — against the real API server, the
fault proxy in front of it, and real sockets."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from akops.cluster.apply import get
from akops.cluster.connect import ATTEMPTS, connect
from akops.cluster.objects import Ref
from akops.environment import Environment, load_environment
from akops.errors import ClusterError
from akops.layout import Layout

from .conftest import CONTEXT, ENV, local_environment, write_kubeconfig
from .plane import Plane

pytestmark = pytest.mark.integration
NAME = "pgbouncer-config"


@pytest.fixture
def env(repo: Layout, kubeconfig: Path, cluster: Plane) -> Environment:
    local_environment(repo, cluster.namespace, kube__api_timeout=3)
    return load_environment(ENV, repo.environments)


@pytest.fixture
def configmap(cluster: Plane) -> Ref:
    """A ConfigMap of the test's namespace (absent: a real GET of it is a real 404)."""
    return Ref("ConfigMap", cluster.namespace, NAME)


def test_current_context_must_be_the_environments(
    env: Environment,
    configmap: Ref,
    cluster: Plane,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = write_kubeconfig(tmp_path / "other", cluster, current="kind-somewhere-else")
    monkeypatch.setenv("KUBECONFIG", str(path))
    with pytest.raises(ClusterError) as refused:
        connect(env)
    assert str(refused.value) == (
        f"current kube context is 'kind-somewhere-else' but environment '{ENV}' runs against "
        f"'{CONTEXT}'; switch with `kubectl config use-context {CONTEXT}` or pass --context "
        f"{CONTEXT}"
    )
    assert cluster.requests() == []  # refused before any request
    with connect(env, context=CONTEXT) as api:  # an explicit context is a deliberate choice
        assert get(api, configmap) is None


def test_unknown_explicit_context_and_missing_kubeconfig(
    env: Environment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(
        ClusterError, match=rf"kube context 'nope' is not in .* \(known: {CONTEXT}\)"
    ):
        connect(env, context="nope")
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    with pytest.raises(ClusterError, match=r"no kubeconfig at .*absent; set KUBECONFIG"):
        connect(env)


def test_429_and_500_are_retried_within_the_bound(
    env: Environment, configmap: Ref, cluster: Plane
) -> None:
    cluster.fail("GET", "/configmaps/pgbouncer-config$", 429, times=2)
    cluster.fail("GET", "/configmaps/pgbouncer-config$", 500, times=1)
    with connect(env) as api:
        assert get(api, configmap) is None  # answered 404 in the end
    assert len(cluster.requests("GET", "/configmaps/pgbouncer-config$")) == 4


def test_retries_stop_after_the_attempt_bound_with_the_apis_message(
    env: Environment, configmap: Ref, cluster: Plane
) -> None:
    cluster.fail("GET", "/configmaps/pgbouncer-config$", 503, times=50)
    start = time.monotonic()
    with connect(env) as api, pytest.raises(ClusterError) as failed:
        get(api, configmap)
    assert str(failed.value) == "ConfigMap/pgbouncer-config: the API answered 503: injected 503"
    # Bounded twice: at most ATTEMPTS tries, and no backoff sleep past the call's deadline.
    assert 1 < len(cluster.requests("GET", "/configmaps/pgbouncer-config$")) <= ATTEMPTS
    assert time.monotonic() - start < env.kube.api_timeout


def test_dropped_connections_are_retried(env: Environment, configmap: Ref, cluster: Plane) -> None:
    cluster.fail("GET", "/configmaps/pgbouncer-config$", 0, times=2)
    with connect(env) as api:
        assert get(api, configmap) is None
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
        f"apiVersion: v1\nkind: Config\ncurrent-context: {CONTEXT}\n"
        f"clusters: [{{name: c, cluster: {{server: '{server}'}}}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        f"contexts: [{{name: {CONTEXT}, context: {{cluster: c, user: u}}}}]\n",
        encoding="utf-8",
    )
    return path


def test_unreachable_api_server_fails_fast(
    env: Environment, configmap: Ref, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    monkeypatch.setenv(
        "KUBECONFIG", str(kubeconfig_for(tmp_path / "kc", f"http://127.0.0.1:{port}"))
    )
    start = time.monotonic()
    with connect(env) as api, pytest.raises(ClusterError) as failed:
        get(api, configmap)
    took = time.monotonic() - start
    assert str(failed.value).startswith(
        f"cannot reach the Kubernetes API at http://127.0.0.1:{port} ("
    )
    assert "Connection refused" in str(failed.value)
    assert took < env.kube.api_timeout + 0.5


def test_hung_api_server_times_out_at_the_configured_deadline(
    env: Environment,
    configmap: Ref,
    silent_server: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "KUBECONFIG", str(kubeconfig_for(tmp_path / "kc", f"http://127.0.0.1:{silent_server}"))
    )
    start = time.monotonic()
    with connect(env) as api, pytest.raises(ClusterError) as failed:
        get(api, configmap)
    took = time.monotonic() - start
    assert (
        f"did not answer GET /api/v1/namespaces/{configmap.namespace}/configmaps/{NAME} within "
        f"{env.kube.api_timeout:g}s" in str(failed.value)
    )
    assert env.kube.api_timeout - 0.5 < took < env.kube.api_timeout + 1.0


def test_tls_failure_is_one_clear_error(
    env: Environment, control_plane: Any, configmap: Ref, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    # The real API server, with a kubeconfig that does not trust its CA: verification fails.
    server = control_plane.server
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig_for(tmp_path / "kc", server)))
    with connect(env) as api, pytest.raises(ClusterError) as failed:
        get(api, configmap)
    assert str(failed.value).startswith(f"cannot talk to the Kubernetes API at {server}: ")
    assert "SSL" in str(failed.value)
