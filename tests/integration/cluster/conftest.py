"""Fixtures for the cluster wiring: the real control plane, a fault proxy, an environment aimed at it.

Every test here runs against the session's real control plane (kube-apiserver 1.33, the
controllers, the scheduler and kwok's four nodes: ``control_plane``, docs/guides/local-cluster.md)
in a namespace of its own that the code under test creates, as a first deploy does. The code
under test reaches the API server through ``harness.proxy.FaultProxy`` (its kubeconfig points
there) so that a test can break the network in between; ``cluster`` (``plane.Plane``) is the
test's own hands on the plane.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from akops import launch
from akops.layout import Layout
from harness.proxy import FaultProxy
from tests.integration.controlplane import new_namespace_name, write_environment

from .plane import Plane

CONTEXT = launch.CONTEXT
ENV = "local"
CANARY = "canary-Zq8vT3pW-never-print-me"
PASSWORD_VAR = "AKOPS_LOCAL_POSTGRES_PASSWORD"


def fault_proxy(plane: launch.ControlPlane) -> FaultProxy:
    """A ``FaultProxy`` in front of ``plane``'s API server, with the plane's certificates."""
    pki = plane.pki
    return FaultProxy(
        plane.server,
        ca=pki.ca,
        server_cert=pki.cert("kube-apiserver"),
        server_key=pki.key("kube-apiserver"),
        client_cert=pki.cert("admin"),
        client_key=pki.key("admin"),
    )


@pytest.fixture
def proxy(control_plane: launch.ControlPlane) -> Iterator[FaultProxy]:
    """The fault proxy in front of the session's API server (closed after the test)."""
    with fault_proxy(control_plane) as p:
        yield p


@pytest.fixture
def cluster(
    control_plane: launch.ControlPlane, kube_api: Any, proxy: FaultProxy
) -> Iterator[Plane]:
    """The test's view of the plane: its own namespace (not created: the code under test
    creates it, as a first deploy does), the proxy, reads and writes as the operator."""
    plane = Plane(kube_api, proxy, new_namespace_name("stack"))
    try:
        yield plane
    finally:
        for ns in (plane.namespace, f"{plane.namespace}-mon"):
            with contextlib.suppress(Exception):
                plane.api.call_api(
                    *plane.api.param_serialize(
                        method="DELETE",
                        resource_path=f"/api/v1/namespaces/{ns}",
                        header_params={"Accept": "application/json"},
                    )
                ).read()


def write_kubeconfig(
    path: Path, cluster: Plane, context: str = CONTEXT, current: str | None = None
) -> Path:
    path.write_text(yaml.safe_dump(cluster.kubeconfig(context, current)), encoding="utf-8")
    path.chmod(0o600)
    return path


@pytest.fixture
def kubeconfig(cluster: Plane, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """KUBECONFIG whose ``akops-local`` context (the current one) goes through the proxy."""
    path = write_kubeconfig(tmp_path / "kubeconfig", cluster)
    monkeypatch.setenv("KUBECONFIG", str(path))
    return path


@pytest.fixture
def canary(monkeypatch: pytest.MonkeyPatch) -> str:
    """The database password, set to a value that must never appear in any output."""
    monkeypatch.setenv(PASSWORD_VAR, CANARY)
    return CANARY


def local_environment(repo: Layout, namespace: str, **changes: object) -> str:
    """Add environments/local.yaml (the lab, aimed at the plane's ``namespace``)."""
    data = yaml.safe_load((repo.environments / "lab.yaml").read_text(encoding="utf-8"))
    data["name"] = ENV
    # A loaded two-core machine: generous deadlines (the tests never wait for one to pass
    # unless they set their own).
    data["kube"].update(context=CONTEXT, namespace=namespace, api_timeout=10, rollout_timeout=180)
    data["secrets"] = {"postgres_password": {"env": PASSWORD_VAR}}
    # PgBouncer's objects only, by default: test_cluster_alert_rules.py puts the rules back.
    data.pop("monitoring", None)
    return write_environment(repo, ENV, data, **changes)


@pytest.fixture
def local(
    repo: Layout,
    cluster: Plane,
    kubeconfig: Path,
    canary: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Layout:
    """A scratch repository with environment ``local`` aimed at the plane (own akops cache)."""
    monkeypatch.setenv("AKOPS_CACHE_DIR", str(tmp_path / "akops-cache"))
    local_environment(repo, cluster.namespace)
    return repo


def clean_runs(cli: Callable[..., Any]) -> Callable[..., Any]:
    """``cli`` whose every run is held to print no secret (the canary) and no traceback."""

    def invoke(*args: str, **kw: Any) -> Any:
        result = cli(*args, **kw)
        assert CANARY not in result.stdout + result.stderr
        assert "Traceback" not in result.stdout + result.stderr
        return result

    return invoke


@pytest.fixture
def run(cli: Any, local: Layout) -> Callable[..., Any]:
    """`invoke ...` in the scratch repository, with environment ``local`` aimed at the plane."""
    return clean_runs(cli)


def pgbouncer_template(cluster: Plane) -> dict[str, Any]:
    live = cluster.deployment()
    assert live is not None
    template: dict[str, Any] = live["spec"]["template"]
    return template


@pytest.fixture
def helm(real_helm: Path, chart_repo: Any, local: Layout, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The real helm on PATH, and environment ``local`` taking the real chart 2026.2.2 from a
    chart repository on 127.0.0.1 (``chart_repo``)."""
    monkeypatch.setenv("PATH", f"{real_helm.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    path = local.environments / f"{ENV}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["authentik"]["chart"]["repo"] = chart_repo.url
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return real_helm


@pytest.fixture
def no_helm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A PATH without helm (only the directory of this Python), and an empty akops cache."""
    monkeypatch.setenv("AKOPS_CACHE_DIR", str(tmp_path / "empty-cache"))
    path = os.pathsep.join([str(Path(sys.executable).parent), "/usr/bin", "/bin"])
    for d in path.split(os.pathsep):
        assert not (Path(d) / "helm").exists(), (
            f"{d}/helm exists: this test needs a PATH without helm"
        )
    monkeypatch.setenv("PATH", path)
    return path
