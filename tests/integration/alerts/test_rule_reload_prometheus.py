"""A rule change loads without a restart: the rendered recipe (``alerts-prometheus-values.yaml``)
with a real Prometheus and the real config-reloader of the prometheus-community chart
(prometheus-operator's ``prometheus-config-reloader``, built from its Go module).

The pod is laid out in a temp dir standing for its root: ``etc/config`` holds the chart's own
ConfigMap (``prometheus.yml`` with the recipe's ``rule_files``), and the rule ConfigMap is
mounted at the recipe's ``mountPath``. The reloader gets the arguments the chart gives it (its
``--watched-dir=/etc/config`` and one per ``extraVolumeDirs``), Prometheus the chart's
``--web.enable-lifecycle``; only the paths move under the temp root and the ports to free ones.

A ConfigMap volume is updated the way the kubelet's atomic writer does it (the one stand-in
here, for the kubelet): the files go into a new ``..<timestamp>`` directory, a ``..data``
symlink is swapped to it in one rename, and each key is a symlink through ``..data``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from akops import process
from akops.layout import Layout
from akops.rehearse.start import free_port
from akops.render import render_env
from tests.integration.alerts.exporters import go_program
from tests.integration.alerts.real_prometheus import (
    PROMETHEUS,
    Prometheus,
    rendered_rule_file,
    timestamp,
    wait_for,
)

CHART_DIR = "/etc/config"  # the chart's own ConfigMap, which its reloader always watches
CHANGED = "PgBouncerClientsWaiting"


class ConfigMapVolume:
    """A ConfigMap volume as the kubelet writes it (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.generation = 0
        path.mkdir(parents=True, exist_ok=True)

    def write(self, files: Mapping[str, str]) -> None:
        self.generation += 1
        fresh = self.path / f"..2026_12_07_00_00_{self.generation:02d}.000000000"
        fresh.mkdir()
        for key, text in files.items():
            (fresh / key).write_text(text)
        old = (self.path / "..data").resolve() if (self.path / "..data").exists() else None
        tmp = self.path / "..data_tmp"
        tmp.symlink_to(fresh.name)
        os.replace(tmp, self.path / "..data")
        for key in files:
            link = self.path / key
            if not link.is_symlink():
                link.symlink_to(f"..data/{key}")
        if old is not None:
            for f in old.iterdir():
                f.unlink()
            old.rmdir()


def under(root: Path, path: str) -> str:
    """A pod path (``/etc/config/...``) under the temp root standing for the pod's."""
    assert path.startswith("/"), path
    return str(root / path.lstrip("/"))


def rules_for(repo: Layout, clients_waiting_for: str) -> str:
    """The prod rules as rendered, with ``pool_clients_waiting.for`` set (an alert change)."""
    data = yaml.safe_load((repo.environments / "prod.yaml").read_text())
    data["name"] = "reloadtest"
    data["monitoring"]["alerts"]["pool_clients_waiting"]["for"] = clients_waiting_for
    (repo.environments / "reloadtest.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return rendered_rule_file(repo, "reloadtest").text


@contextlib.contextmanager
def chart_pod(recipe: dict[str, Any], root: Path, tmp: Path) -> Iterator[Prometheus]:
    """Prometheus and its config-reloader as the chart runs them with ``recipe`` merged."""
    if not PROMETHEUS.exists():
        pytest.fail(f"{PROMETHEUS} not found: apt-get install prometheus", pytrace=False)
    rule_files = recipe["serverFiles"]["prometheus.yml"]["rule_files"]
    config = {
        "global": {"evaluation_interval": "1s"},
        "rule_files": [under(root, f) for f in rule_files],
    }
    chart = root / CHART_DIR.lstrip("/")
    chart.mkdir(parents=True, exist_ok=True)
    (chart / "prometheus.yml").write_text(yaml.safe_dump(config))
    port, reloader_port = free_port(), free_port()
    server = [
        str(PROMETHEUS),
        f"--config.file={chart / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--web.enable-lifecycle",  # the chart's default server.extraFlags
    ]
    dirs = recipe["configmapReload"]["prometheus"].get("extraVolumeDirs", [])
    reloader = [
        str(go_program("prometheus-config-reloader")),
        f"--watched-dir={chart}",
        *(f"--watched-dir={under(root, d)}" for d in dirs),
        f"--reload-url=http://127.0.0.1:{port}/-/reload",
        f"--runtimeinfo-url=http://127.0.0.1:{port}/api/v1/status/runtimeinfo",
        f"--listen-address=127.0.0.1:{reloader_port}",
    ]
    with (
        process.spawn(server, log=tmp / "prometheus.log") as child,
        process.spawn(reloader, log=tmp / "reloader.log") as watcher,
    ):
        prom = Prometheus(f"http://127.0.0.1:{port}", child, tmp / "prometheus.log")
        wait_for("Prometheus with the stack's rules", lambda: prom.rule(CHANGED), 60, prom.log)
        assert watcher.alive(), (tmp / "reloader.log").read_text()[-2000:]
        yield prom


def runtime(prom: Prometheus) -> dict[str, Any]:
    """Prometheus's ``/api/v1/status/runtimeinfo``: start time, last config load, success."""
    info: dict[str, Any] = prom._api("status/runtimeinfo")
    return info


def test_a_rule_change_loads_without_a_restart(repo: Layout, tmp_path: Path) -> None:
    _, stack = render_env(repo, "prod")
    files = stack.by_name()
    recipe = yaml.safe_load(files["alerts-prometheus-values.yaml"])
    configmap = yaml.safe_load(files["alerts-rules.yaml"])
    (mount,) = recipe["configmapReload"]["prometheus"]["extraConfigmapMounts"]
    assert recipe["server"]["extraConfigmapMounts"] == [mount]
    assert mount["configMap"] == configmap["metadata"]["name"]
    root = tmp_path / "pod"
    volume = ConfigMapVolume(Path(under(root, mount["mountPath"])))
    volume.write(configmap["data"])
    with chart_pod(recipe, root, tmp_path) as prom:
        assert prom.rule(CHANGED)["duration"] == 120  # prod: for 2m
        before = runtime(prom)
        # An operator changes the alert; `invoke apply` updates the ConfigMap; the kubelet
        # swaps the volume's files.
        (key,) = configmap["data"]
        volume.write({key: rules_for(repo, "7m")})
        wait_for(
            f"{CHANGED} with for: 7m in Prometheus",
            lambda: prom.rule(CHANGED)["duration"] == 420,
            120,
            prom.log,
        )
        # Reloaded in place: the same process, a later successful configuration load.
        after = runtime(prom)
        assert prom.child.alive() and after["startTime"] == before["startTime"]
        assert timestamp(after["lastConfigTime"]) > timestamp(before["lastConfigTime"])
        assert after["reloadConfigSuccess"] is True
