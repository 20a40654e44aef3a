"""Fixtures for the tests still on ``harness/emulator.py`` (harness/__init__.py says why each is).

The rest of tests/integration/cluster/ runs on the real control plane (../conftest.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from akops.layout import Layout
from harness.emulator import Cluster
from tests.integration.controlplane import write_environment

CONTEXT = "emulator"
ENV = "emu"
CANARY = "canary-Zq8vT3pW-never-print-me"
PASSWORD_VAR = "AKOPS_EMU_POSTGRES_PASSWORD"


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    """A fresh emulated API server on 127.0.0.1 (kmock + server-side apply adapter)."""
    c = Cluster().start()
    try:
        yield c
    finally:
        c.stop()


def write_kubeconfig(
    path: Path, cluster: Cluster, context: str = CONTEXT, current: str | None = None
) -> Path:
    path.write_text(yaml.safe_dump(cluster.kubeconfig(context, current)), encoding="utf-8")
    return path


@pytest.fixture
def kubeconfig(cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """KUBECONFIG pointing the ``emulator`` context (the current one) at the emulator."""
    path = write_kubeconfig(tmp_path / "kubeconfig", cluster)
    monkeypatch.setenv("KUBECONFIG", str(path))
    return path


@pytest.fixture
def canary(monkeypatch: pytest.MonkeyPatch) -> str:
    """The database password, set to a value that must never appear in any output."""
    monkeypatch.setenv(PASSWORD_VAR, CANARY)
    return CANARY


def emu_environment(repo: Layout, **changes: object) -> str:
    """Add environments/emu.yaml (the lab, aimed at the emulator) to a scratch repository."""
    data = yaml.safe_load((repo.environments / "lab.yaml").read_text(encoding="utf-8"))
    data["name"] = ENV
    data["kube"].update(context=CONTEXT, api_timeout=3, rollout_timeout=15)
    data["secrets"] = {"postgres_password": {"env": PASSWORD_VAR}}
    # PgBouncer's objects only, by default: test_cluster_alert_rules.py puts the rules back.
    data.pop("monitoring", None)
    return write_environment(repo, ENV, data, **changes)


@pytest.fixture
def emu(
    repo: Layout, kubeconfig: Path, canary: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Layout:
    """A scratch repository with environment ``emu`` aimed at the emulator (own akops cache)."""
    monkeypatch.setenv("AKOPS_CACHE_DIR", str(tmp_path / "akops-cache"))
    emu_environment(repo)
    return repo
