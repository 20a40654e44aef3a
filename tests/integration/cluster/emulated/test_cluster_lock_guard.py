"""The deploy lock guards the pipeline: a run whose lock is broken stops before its next stage.

Before, ``DeployLock.check()`` was called by tests only: after ``invoke unlock`` (or a lapsed
renewal) the run went on applying and verifying while another run could take the lock.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import kmock
import pytest

from akops.cluster import lease
from akops.cluster.connect import connect
from akops.environment import load_environment
from akops.errors import AkopsError, LockLost
from akops.layout import Layout
from akops.ops.pipeline import Stage, run_stages
from harness.emulator import Cluster

from .conftest import ENV
from .test_cluster_lease import holder, wait_for_holder

pytestmark = pytest.mark.integration
NS = "authentik"


def wait_until(what: Callable[[], object], timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < end, "the deploy never reached its rollout wait"
        time.sleep(0.1)


def test_unlock_during_the_rollout_wait_stops_the_deploy_before_verify(
    run: Callable[..., Any], cluster: Cluster, emu: Layout
) -> None:
    cluster.api.auto_converge = False  # the rollout waits until the test converges it
    deploy = subprocess.Popen(
        [sys.executable, "-m", "invoke", "deploy", "--env", ENV, "--skip-helm", "--yes"],
        cwd=emu.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        wait_for_holder(cluster)
        # Applied: the Deployment exists and nothing converges it, so the run is waiting.
        wait_until(lambda: cluster.get("deployments", "pgbouncer", api_version="apps/v1"))
        broken = run("unlock", "--env", ENV, "--yes")
        assert broken.returncode == 0, broken.stderr
        key = (kmock.resource("apps/v1/deployments"), NS, "pgbouncer")
        cluster.run(cluster.api.converge(key))
        out, err = deploy.communicate(timeout=120)
    finally:
        if deploy.poll() is None:
            deploy.kill()
    assert deploy.returncode == 1, out + err
    [line] = err.strip().splitlines()
    assert line.startswith("error: verify: not started: the deploy lock (")
    assert "is no longer this run's: it is held by nobody (it was broken)" in line
    summary = out[out.rindex("\nsummary:") + 1 :].splitlines()[1:-1]
    stages = {ln.split()[0]: ln.split()[1] for ln in summary}
    assert (stages["rollout"], stages["verify"]) == ("ok", "failed")
    assert "result: failed at verify (exit 1)" in out


def test_the_guard_sees_a_takeover_at_once_not_at_the_next_renewal(
    cluster: Cluster, emu: Layout
) -> None:
    env = load_environment(ENV, emu.environments)
    api = connect(env, None)
    ran: list[str] = []
    stages = [Stage("first", lambda _: ran.append("first") or "ok")]
    stages.append(Stage("second", lambda _: ran.append("second") or "ok"))
    with api, lease.DeployLock(api, NS, holder("me"), duration=600) as lock:
        lock.check()  # ours
        assert lease.break_lock(api, NS) is not None  # `invoke unlock`, from another shell
        summary = run_stages(stages, None, guard=lock.check)
    assert ran == []
    failed = summary.failed
    assert failed is not None and failed.name == "first" and summary.exit_code == 1
    assert isinstance(failed.error, LockLost)


def test_a_failing_read_is_tolerated_only_while_the_lease_cannot_have_lapsed(
    cluster: Cluster, emu: Layout
) -> None:
    env = load_environment(ENV, emu.environments)
    api = connect(env, None)
    with api, lease.DeployLock(api, NS, holder("me"), duration=600) as lock:
        cluster.fail("GET", f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases/", 500, times=20)
        lock.check()  # written moments ago: nobody can have taken it yet
        cluster.api.faults.clear()
        lock.duration = 0  # as if the last write were older than the Lease's duration
        cluster.fail("GET", f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases/", 500, times=20)
        with pytest.raises(LockLost, match="could not be renewed for 0 s"):
            lock.check()
        cluster.api.faults.clear()
    assert issubclass(LockLost, AkopsError)
