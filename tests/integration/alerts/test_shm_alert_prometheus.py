"""The /dev/shm alerts end to end, on the real signal: a real tmpfs of the rendered size (the
outpost's memory-backed emptyDir), the rendered sidecar's node_exporter (at the image's tag,
built from its Go module) reading it through a read-only bind mount in a mount and PID
namespace of its own, as the pod's UID, a writer filling it with session files as the outpost
does, and a real Prometheus evaluating the RENDERED rules of a test environment (a 4Mi
/dev/shm, each ``for:`` a few seconds).

What is shown, on Prometheus's own record (``real_prometheus``):

- the metric is the volume itself: node_exporter's size and free bytes are the tmpfs's
  (``statvfs``, what ``df`` shows), and the size is the rendered sizeLimit;
- below the threshold (a static half-full volume) no /dev/shm alert is pending or firing;
- with the writer running, ``AuthentikOutpostDevShmFillingUp`` fires while the volume is still
  below the threshold, and ``AuthentikOutpostDevShmFull`` goes pending at the first evaluation
  above 80 % and fires at the first evaluation ``for:`` later;
- with the sidecar gone, ``AuthentikOutpostShmMetricsMissing`` fires.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from akops import process
from akops.alerts.rules import alerts_of
from akops.layout import Layout
from akops.quantities import parse_quantity
from akops.rehearse import start
from akops.render import render_env
from tests.integration.alerts.exporters import ShmSidecar, shm_exporter, shm_sidecar
from tests.integration.alerts.real_prometheus import (
    Prometheus,
    Target,
    prometheus,
    rendered_rule_file,
    timestamp,
    wait_for,
)

FULL = "AuthentikOutpostDevShmFull"
FILLING = "AuthentikOutpostDevShmFillingUp"
MISSING = "AuthentikOutpostShmMetricsMissing"
SHM_ALERTS = (FULL, FILLING, MISSING)
SHM_SIZE = "4Mi"
POD = "ak-outpost-authentik-embedded-outpost-6c9d7f8b5-zq4tw"
#: What the chart's kubernetes-pods job gives the sidecar's series (pod name and labels).
POD_LABELS = {
    "namespace": "authentik",
    "pod": POD,
    "app": "authentik-outpost",
    "goauthentik_io_outpost_name": "authentik-embedded-outpost",
}
SESSION_BYTES = 1536  # one outpost session file (2026-04-18); a 4 KiB page of the tmpfs
#: Session files a second: from half full, the 4Mi volume is full in about 32 s.
RATE = 16


def shm_test_environment(repo: Layout) -> str:
    """``shmtest``: prod with a 4Mi /dev/shm and the /dev/shm alerts at a few seconds."""
    data = yaml.safe_load((repo.environments / "prod.yaml").read_text())
    data["name"] = "shmtest"
    data["authentik"]["outpost"]["shm_size"] = SHM_SIZE
    alerts = data["monitoring"]["alerts"]
    alerts["outpost_shm_full"] = {"for": "5s"}
    alerts["outpost_shm_filling"] = {"window": "10s", "horizon": "1m", "for": "3s"}
    alerts["outpost_shm_metrics_missing"] = {"for": "5s"}
    (repo.environments / "shmtest.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return "shmtest"


def used_ratio(prom: Prometheus, at: float) -> float:
    """The share of the volume in use, as Prometheus had it at ``at``."""
    sel = f'namespace="authentik",pod="{POD}",mountpoint="/dev/shm"'
    expr = f"1 - node_filesystem_avail_bytes{{{sel}}} / node_filesystem_size_bytes{{{sel}}}"
    (sample,) = prom.query(expr, at=at)
    return float(sample["value"][1])


def statvfs(path: Path) -> tuple[int, int]:
    st = os.statvfs(path)
    return st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize


@contextlib.contextmanager
def writer(volume: Path, log: Path) -> Iterator[process.Child]:
    """The outpost's session store (``akops.rehearse.outpost``) writing into the volume."""
    argv = [
        sys.executable, "-m", "akops.rehearse.outpost", "--dir", str(volume),
        "--rate", str(RATE), "--size", str(SESSION_BYTES), "--max-age", "1e9",
    ]  # fmt: skip
    with process.spawn(argv, log=log) as child:
        yield child


def test_no_rendered_alert_reads_cadvisor_fs_for_dev_shm(repo: Layout) -> None:
    for env in ("prod", "lab"):
        for a in alerts_of(rendered_rule_file(repo, env)):
            assert "container_fs_" not in a.expr, (env, a.name)
        names = {a.name for a in alerts_of(rendered_rule_file(repo, env)) if "/dev/shm" in a.expr}
        assert names == set(SHM_ALERTS), (env, names)


def test_the_rendered_sidecar_sees_the_volume_read_only(repo: Layout) -> None:
    _, stack = render_env(repo, shm_test_environment(repo))
    sidecar = shm_sidecar(stack.by_name()["outpost-patches.yaml"])
    assert sidecar.size_limit == SHM_SIZE
    assert sidecar.mount_path == "/dev/shm" and sidecar.read_only
    assert sidecar.uid != 0


def test_a_filling_dev_shm_fires_the_shm_alerts_in_prometheus(repo: Layout, tmp_path: Path) -> None:
    env = shm_test_environment(repo)
    rf = rendered_rule_file(repo, env)
    _, stack = render_env(repo, env)
    sidecar: ShmSidecar = shm_sidecar(stack.by_name()["outpost-patches.yaml"])
    size = parse_quantity(sidecar.size_limit)
    assert size is not None
    threshold = 0.8
    assert f"> {threshold}" in next(a.expr for a in alerts_of(rf) if a.name == FULL)
    with contextlib.ExitStack() as stack_:
        try:
            shm = stack_.enter_context(start.tmpfs(tmp_path / "dshm", int(size)))
        except start.StartError as e:
            pytest.fail(f"tmpfs: {e}", pytrace=False)
        volume = shm.path
        exporter = stack_.enter_context(shm_exporter(sidecar, volume, tmp_path))
        target = Target("kubernetes-pods", exporter.port, POD_LABELS)
        prom = stack_.enter_context(prometheus(rf.text, [target], tmp_path))

        # Half full (the sessions of the last days), nobody writing.
        (volume / "session_bulk").write_bytes(b"s" * (int(size) // 2))
        total, avail = statvfs(volume)
        sel = f'pod="{POD}",mountpoint="/dev/shm"'

        def seen() -> bool:
            found = prom.query(f"node_filesystem_avail_bytes{{{sel}}}")
            return bool(found) and float(found[0]["value"][1]) == avail

        wait_for("the half-full volume in Prometheus", seen, 30, prom.log)
        # The metric is the volume itself: its size is the rendered sizeLimit, its free
        # bytes what statvfs (df) says of the tmpfs the writer fills.
        (size_sample,) = prom.query(f"node_filesystem_size_bytes{{{sel}}}")
        assert float(size_sample["value"][1]) == total == size
        # Below the threshold, flat: no /dev/shm alert, once the fill is out of the trend's
        # window.
        prom.evaluated_past(prom.now() + 10)
        quiet = prom.now()
        for name in SHM_ALERTS:
            prom.assert_silent(name, quiet)

        since = prom.now()
        with writer(volume, tmp_path / "writer.log"):
            # A day ahead (here: a minute): the trend alert fires below the threshold.
            filling = prom.firing(FILLING)
            prom.assert_fired_after_for(FILLING, filling, since)
            assert used_ratio(prom, prom.now()) < threshold
            assert prom.alerts(FULL, "firing") == []
            assert filling["labels"]["pod"] == POD
            assert float(filling["value"]) > 0  # bytes over the limit by the horizon
            full = prom.firing(FULL)
        prom.assert_fired_after_for(FULL, full, since)
        pending_from = timestamp(full["activeAt"])
        # Pending from the first evaluation above the threshold, not before.
        assert used_ratio(prom, pending_from) > threshold
        assert used_ratio(prom, pending_from - 1) <= threshold
        assert float(full["value"]) > threshold
        assert full["labels"]["severity"] == "critical" and full["labels"]["pod"] == POD
        assert "/dev/shm is" in full["annotations"]["summary"]
        assert "statfs" in full["annotations"]["description"]
        assert prom.alerts(MISSING) == []

        # The sidecar gone: its series go stale and the alerts above are blind; this says so.
        since = prom.now()
        exporter.stop()
        missing = prom.firing(MISSING)
        prom.assert_fired_after_for(MISSING, missing, since)
        assert missing["labels"]["severity"] == "warning"
        assert "the /dev/shm alerts are blind" in missing["annotations"]["summary"]
