"""`invoke rollout` interrupted by SIGINT, SIGTERM and SIGHUP while it waits on the real plane:
exit 128 + the signal, one line saying so, no traceback, long before the rollout deadline."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from akops.layout import Layout

from .conftest import ENV, local_environment
from .plane import Plane

pytestmark = pytest.mark.integration


def stuck_deployment() -> dict[str, object]:
    """A Deployment whose pods ask for a node that does not exist: they stay Pending, and the
    wait would last until its deadline."""
    labels = {"app": "pgbouncer"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "pgbouncer"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "nodeSelector": {"akops-test/nowhere": "true"},
                    "containers": [{"name": "pgbouncer", "image": "edoburu/pgbouncer:v1.24.1-p1"}],
                },
            },
        },
    }


@pytest.mark.parametrize(
    "sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name
)
def test_a_signal_during_a_rollout_wait(
    repo: Layout, kubeconfig: Path, canary: str, cluster: Plane, sig: signal.Signals
) -> None:
    local_environment(repo, cluster.namespace, kube__rollout_timeout=600)
    cluster.make_namespace()
    cluster.create(stuck_deployment(), "deployments")
    proc = subprocess.Popen(
        [sys.executable, "-m", "invoke", "rollout", "--env", ENV, "--deployment", "pgbouncer"],
        cwd=repo.root,
        env=os.environ.copy(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    waiting = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "Deployment/pgbouncer" in line:  # the wait is under way
                waiting.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        while not waiting.wait(0.2):
            assert proc.poll() is None, "".join(lines)
        proc.send_signal(sig)
        code = proc.wait(timeout=30)  # the rollout deadline is 600 s
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join(5)
    assert proc.stdout is not None
    proc.stdout.close()
    out = "".join(lines)
    assert code == 128 + sig, out
    # The last words (after the live table, which ends without a newline when piped).
    assert out.rstrip().endswith(
        f"interrupted by {sig.name}: every process this task started was stopped"
    ), out
    assert "Traceback" not in out
