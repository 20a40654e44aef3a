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

import pytest

from akops.cluster import lease
from akops.cluster.connect import connect
from akops.environment import load_environment
from akops.errors import AkopsError, LockLost
from akops.layout import Layout
from akops.ops.pipeline import Stage, run_stages

from .conftest import ENV
from .plane import Plane
from .test_cluster_lease import holder, wait_for_holder

pytestmark = pytest.mark.integration


def wait_until(what: Callable[[], object], timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < end, "the deploy never reached its rollout wait"
        time.sleep(0.1)


def test_unlock_during_the_rollout_wait_stops_the_deploy_before_verify(
    run: Callable[..., Any], cluster: Plane, local: Layout
) -> None:
    # PgBouncer's pods wait for nodes labelled for this test: the rollout waits until the test
    # labels them (then the real scheduler places the pods and kwok makes them Ready).
    key = cluster.gate()
    template = local.templates / "pgbouncer" / "deployment.yaml.j2"
    text = template.read_text()
    anchor = "      automountServiceAccountToken: false\n"
    assert anchor in text
    template.write_text(text.replace(anchor, anchor + f'      nodeSelector: {{{key}: "go"}}\n'))
    deploy = subprocess.Popen(
        [sys.executable, "-m", "invoke", "deploy", "--env", ENV, "--skip-helm", "--yes"],
        cwd=local.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        wait_for_holder(cluster)
        # Applied: the Deployment exists and nothing converges it, so the run is waiting.
        wait_until(lambda: cluster.deployment())
        broken = run("unlock", "--env", ENV, "--yes")
        assert broken.returncode == 0, broken.stderr
        cluster.label_nodes(key, "go")
        out, err = deploy.communicate(timeout=300)
    finally:
        if deploy.poll() is None:
            deploy.kill()
        cluster.label_nodes(key, None)
    assert deploy.returncode == 1, out + err
    [line] = err.strip().splitlines()
    assert line.startswith("error: verify: not started: the deploy lock (")
    assert "is no longer this run's: it is held by nobody (it was broken)" in line
    summary = out[out.rindex("\nsummary:") + 1 :].splitlines()[1:-1]
    stages = {ln.split()[0]: ln.split()[1] for ln in summary}
    assert (stages["rollout"], stages["verify"]) == ("ok", "failed")
    assert "result: failed at verify (exit 1)" in out


def test_the_guard_sees_a_takeover_at_once_not_at_the_next_renewal(
    cluster: Plane, local: Layout
) -> None:
    ns = cluster.make_namespace()
    env = load_environment(ENV, local.environments)
    api = connect(env, None)
    ran: list[str] = []
    stages = [Stage("first", lambda _: ran.append("first") or "ok")]
    stages.append(Stage("second", lambda _: ran.append("second") or "ok"))
    with api, lease.DeployLock(api, ns, holder("me"), duration=600) as lock:
        lock.check()  # ours
        assert lease.break_lock(api, ns) is not None  # `invoke unlock`, from another shell
        summary = run_stages(stages, None, guard=lock.check)
    assert ran == []
    failed = summary.failed
    assert failed is not None and failed.name == "first" and summary.exit_code == 1
    assert isinstance(failed.error, LockLost)


def test_a_failing_read_is_tolerated_only_while_the_lease_cannot_have_lapsed(
    cluster: Plane, local: Layout
) -> None:
    ns = cluster.make_namespace()
    env = load_environment(ENV, local.environments)
    api = connect(env, None)
    with api, lease.DeployLock(api, ns, holder("me"), duration=600) as lock:
        cluster.fail("GET", f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/", 500, times=20)
        lock.check()  # written moments ago: nobody can have taken it yet
        cluster.proxy.clear()
        lock.duration = 0  # as if the last write were older than the Lease's duration
        cluster.fail("GET", f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/", 500, times=20)
        with pytest.raises(LockLost, match="could not be renewed for 0 s"):
            lock.check()
        cluster.proxy.clear()
    assert issubclass(LockLost, AkopsError)
