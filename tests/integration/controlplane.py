"""The tests' real Kubernetes control plane: one per test session, shared by xdist workers.

``akops.launch`` starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok
(four nodes) on 127.0.0.1 (docs/guides/local-cluster.md). A session starts one plane, the first
time a test asks for it, and stops it when the session ends:

- without xdist, in pytest's own process (``launch.running``: a watchdog also stops it if
  pytest is killed);
- under pytest-xdist, the first worker to ask starts it in a folder all workers share, under a
  file lock; the others find it there. Its owner is the xdist controller (the workers'
  parent): the watchdog stops the plane as soon as the controller exits, so no worker has to
  know whether it is the last one.

One plane, not one per worker: a start costs 20-60 s of CPU on a two-core machine, and tests
keep apart by namespace (``fresh_namespace``) instead.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from akops import launch
from akops.errors import AkopsError
from akops.launch import ControlPlane
from akops.layout import Layout

#: A plane already running in this folder serves the session instead of a new one, and is left
#: running after it (the inner loop: ``python -m akops.launch up DIR`` once, then many runs).
REUSE_VAR = "AKOPS_TEST_PLANE"
#: Environment variable a test environment reads the database password from (a canary).
PASSWORD_VAR = "AKOPS_PLANE_POSTGRES_PASSWORD"
#: Environment variable the exporter's stats-only password comes from (another canary).
STATS_VAR = "AKOPS_PLANE_STATS_PASSWORD"


def _binaries() -> launch.Binaries:
    try:
        return launch.find_binaries()
    except AkopsError as e:
        pytest.fail(f"no control plane programs for the tests: {e}", pytrace=False)


@contextlib.contextmanager
def session_plane(factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """The session's plane (see the module docstring for who starts and stops it)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    try:
        given = os.environ.get(REUSE_VAR)
        if given:
            found = launch.load(Path(given))
            if found is None or not found.healthy():
                pytest.fail(
                    f"{REUSE_VAR}={given} holds no running control plane "
                    f"(start one: python -m akops.launch up {given})",
                    pytrace=False,
                )
            yield found  # someone else's: left running
            return
        if not worker:
            with launch.running(factory.mktemp("control-plane"), _binaries()) as plane:
                yield plane
            return
        common = factory.getbasetemp().parent
        root = common / "control-plane"
        with (common / "control-plane.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            plane = launch.load(root)
            if plane is None or not plane.healthy():
                launch.stop(root)
                plane = launch.start(root, _binaries(), owner=os.getppid())
        yield plane
    except AkopsError as e:
        pytest.fail(f"control plane: {e}", pytrace=False)


def require_workloads(plane: ControlPlane) -> None:
    """Fail a test that needs pods when the plane runs without controllers, scheduler or nodes."""
    if plane.missing:
        pytest.fail(
            f"this test needs pods, and {plane.binaries} has no {', '.join(plane.missing)}: "
            f"unset {launch.ASSETS_VAR} to build them from tools/go",
            pytrace=False,
        )


def new_namespace_name(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def plane_environment(
    repo: Layout,
    name: str,
    *,
    base: str = "lab",
    namespace: str,
    context: str = launch.CONTEXT,
    **changes: Any,
) -> str:
    """Write environments/<name>.yaml: ``base`` aimed at the plane (context, namespace), the
    database password from ``PASSWORD_VAR``, the exporter's from ``STATS_VAR``. ``changes`` set dotted fields (``kube__api_timeout``).
    """
    data = yaml.safe_load((repo.environments / f"{base}.yaml").read_text(encoding="utf-8"))
    data["name"] = name
    data["kube"].update(context=context, namespace=namespace)
    data["secrets"] = {
        "postgres_password": {"env": PASSWORD_VAR},
        "stats_password": {"env": STATS_VAR},
    }
    return write_environment(repo, name, data, **changes)


def write_environment(repo: Layout, name: str, data: dict[str, Any], **changes: Any) -> str:
    """Write ``data`` as environments/<name>.yaml, each dotted field of ``changes``
    (``kube__api_timeout=3``) set first; the environment's name."""
    for dotted, value in changes.items():
        node = data
        *parents, last = dotted.split("__")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    (repo.environments / f"{name}.yaml").write_text(
        yaml.safe_dump(data, sort_keys=False), encoding="utf-8"
    )
    return name


def kubeconfig_for(plane: ControlPlane, path: Path, context: str = launch.CONTEXT) -> Path:
    """A copy of the plane's kubeconfig at ``path`` (a test may edit its copy freely)."""
    path.write_text(plane.kubeconfig.read_text(encoding="utf-8"), encoding="utf-8")
    path.chmod(0o600)
    return path
