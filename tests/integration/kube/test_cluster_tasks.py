"""``invoke cluster.up`` / ``cluster.down`` and the launcher's promise: nothing outlives its owner.

Each test here starts planes of its own (in its own folder, on ports the kernel hands out),
so they stop, crash and get interrupted without touching the session's plane.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from akops import launch
from akops.launch.plane import STATE
from tests.conftest import Cli

pytestmark = pytest.mark.integration

PATIENCE = 240.0


def recorded(root: Path) -> list[dict[str, Any]]:
    """The processes ``state.json`` names (empty when there is no record)."""
    try:
        components: list[dict[str, Any]] = json.loads((root / STATE).read_text())["components"]
    except FileNotFoundError:
        return []
    return components


def alive(components: list[dict[str, Any]]) -> list[str]:
    """Those of ``components`` whose process still runs (same pid, same start time)."""
    from akops.launch.plane import _same_process

    return [c["name"] for c in components if _same_process(c["pid"], c["started"])]


def wait_gone(components: list[dict[str, Any]], limit: float = 30.0) -> list[str]:
    deadline = time.monotonic() + limit
    while alive(components) and time.monotonic() < deadline:
        time.sleep(0.2)
    return alive(components)


@pytest.fixture
def built() -> launch.Binaries:
    """The plane's programs (built once per machine; the session's plane built them first)."""
    try:
        return launch.find_binaries()
    except Exception as e:  # a missing Go is the test's failure, with the reason
        pytest.fail(f"no control plane programs: {e}", pytrace=False)


def test_up_prints_the_kubeconfig_and_down_leaves_nothing_running(
    cli: Cli, tmp_path: Path, built: launch.Binaries
) -> None:
    root = tmp_path / "plane"
    mine = tmp_path / "kube" / "config"
    env = {"KUBECONFIG": str(mine)}
    up = cli("cluster.up", "--dir", str(root), env=env, timeout=PATIENCE + 60)
    components = recorded(root)
    try:
        assert up.returncode == 0, up.stderr
        assert "Traceback" not in up.stderr
        # stdout is the path alone: `export KUBECONFIG=$(invoke cluster.up)`.
        assert up.stdout == f"{root / 'kubeconfig'}\n"
        assert f"context akops-local is in {mine}" in up.stderr
        names = {c["name"] for c in components}
        assert names == {
            "etcd",
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler",
            "kwok",
        }  # fmt: skip  (no watchdog: the folder is the owner)
        assert sorted(alive(components)) == sorted(names)

        # The operator's kubeconfig now has the context (not current), and it works.
        merged = yaml.safe_load(mine.read_text())
        assert [c["name"] for c in merged["contexts"]] == ["akops-local"]
        from kubernetes import client, config

        api = config.new_client_from_config(config_file=str(mine), context="akops-local")
        assert client.VersionApi(api).get_code().minor == "33"

        again = cli("cluster.up", "--dir", str(root), env=env, timeout=60)
        assert again.returncode == 0, again.stderr
        assert again.stdout == up.stdout
        assert "already runs" in again.stderr
    finally:
        down = cli("cluster.down", "--dir", str(root), env=env, timeout=60)
    assert down.returncode == 0, down.stderr
    assert wait_gone(components) == []
    assert not root.exists()
    assert "akops-local" not in mine.read_text()
    # Idempotent: nothing to stop is no error.
    twice = cli("cluster.down", "--dir", str(root), env=env, timeout=60)
    assert twice.returncode == 0
    assert "no control plane ran" in twice.stderr


def test_an_interrupted_up_stops_what_it_started(
    cli: Cli, tmp_path: Path, built: launch.Binaries
) -> None:
    root = tmp_path / "plane"
    proc = subprocess.Popen(
        [sys.executable, "-m", "invoke", "cluster.up", "--dir", str(root), "--no-merge"],
        cwd=cli.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + PATIENCE
        # Interrupt once etcd and the API server run (the record names both).
        while len(alive(recorded(root))) < 2 and proc.poll() is None:
            assert time.monotonic() < deadline, "etcd and kube-apiserver never both started"
            time.sleep(0.1)
        components = recorded(root)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "interrupted by SIGINT" in err
    assert "Traceback" not in err
    assert {"etcd", "kube-apiserver"} <= {c["name"] for c in components}
    assert wait_gone(components) == []
    assert not (root / STATE).exists()


def test_a_killed_owner_takes_its_plane_along(tmp_path: Path, built: launch.Binaries) -> None:
    root = tmp_path / "plane"
    with subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import os, sys, time\n"
            "from pathlib import Path\n"
            "from akops import launch\n"
            "launch.start(Path(sys.argv[1]), launch.find_binaries(), owner=os.getpid())\n"
            "print('up', flush=True)\n"
            "time.sleep(600)\n",
            str(root),
        ],
        stdout=subprocess.PIPE,
        text=True,
    ) as owner:
        try:
            assert owner.stdout is not None
            assert owner.stdout.readline() == "up\n"
            components = recorded(root)
            assert "watchdog" in alive(components)
            assert len(alive(components)) == 6
            owner.kill()  # SIGKILL: no cleanup of its own can run
            owner.wait()
            assert wait_gone(components) == []
        finally:
            if owner.poll() is None:
                owner.kill()
                owner.wait()
            launch.stop(root)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_stopped_watchdog_stops_its_plane_rather_than_orphan_it(
    tmp_path: Path, built: launch.Binaries, signum: int
) -> None:
    # What `pkill -f .nox` did to a CI run: the owner and its watchdog stopped together.
    root = tmp_path / "plane"
    with subprocess.Popen(["sleep", "600"]) as owner:
        try:
            launch.start(root, built, owner=owner.pid)
            components = recorded(root)
            [watchdog] = [c for c in components if c["name"] == "watchdog"]
            assert len(alive(components)) == 6
            os.kill(watchdog["pid"], signum)
            assert wait_gone(components) == []
            assert not (root / STATE).exists()
        finally:
            owner.kill()
            launch.stop(root)


def test_an_envtest_folder_serves_the_api_without_building(
    tmp_path: Path, built: launch.Binaries, monkeypatch: pytest.MonkeyPatch
) -> None:
    assets = tmp_path / "envtest"
    assets.mkdir()
    for name in ("kube-apiserver", "etcd"):
        (assets / name).symlink_to(built.path(name) or "")
    # No Go on PATH: nothing may be built when KUBEBUILDER_ASSETS names the programs.
    bare = "/usr/bin:/bin"  # openssl, for the plane's certificates
    assert not any((Path(d) / "go").exists() for d in bare.split(":")), "Go is in /usr/bin"
    monkeypatch.setenv("PATH", bare)
    monkeypatch.setenv(launch.ASSETS_VAR, str(assets))
    found = launch.find_binaries()
    assert found.missing == ("kube-controller-manager", "kube-scheduler", "kwok")
    with launch.running(tmp_path / "plane", found) as plane:
        from kubernetes import client

        api = plane.api_client()
        assert client.VersionApi(api).get_code().minor == "33"
        assert {c.name for c in plane.components} == {"etcd", "kube-apiserver", "watchdog"}
        assert plane.nodes == ()
        components = [c.__dict__ for c in plane.components]
    assert wait_gone(components) == []


@pytest.mark.parametrize("extra", [(), ("--dry-run",)])
def test_a_broken_kubebuilder_assets_is_one_line_and_exit_2(
    cli: Cli, tmp_path: Path, extra: tuple[str, ...]
) -> None:
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "etcd").write_text("not a program")
    result = cli(
        "cluster.up", "--dir", str(tmp_path / "plane"), "--no-merge", *extra,
        env={launch.ASSETS_VAR: str(tmp_path / "assets")},
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {launch.ASSETS_VAR}={tmp_path / 'assets'}: no executable etcd in that folder "
        "(it should hold envtest's kube-apiserver and etcd; unset it to build them from tools/go)"
    ]
    assert not (tmp_path / "plane" / STATE).exists()


def test_without_go_or_kubebuilder_assets_up_says_what_to_install(cli: Cli, tmp_path: Path) -> None:
    bare = os.pathsep.join([str(Path(sys.executable).parent), "/usr/bin", "/bin"])
    for d in bare.split(os.pathsep):
        if (Path(d) / "go").exists():
            pytest.fail(f"{d}/go exists: this test needs a PATH without Go", pytrace=False)
    result = cli(
        "cluster.up", "--dir", str(tmp_path / "plane"), "--no-merge",
        env={"PATH": bare, "AKOPS_CACHE_DIR": str(tmp_path / "cache"), launch.ASSETS_VAR: ""},
    )  # fmt: skip
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "there is no `go` on PATH" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_dry_run_starts_nothing(cli: Cli, tmp_path: Path, built: launch.Binaries) -> None:
    root = tmp_path / "plane"
    result = cli("cluster.up", "--dir", str(root), "--dry-run", env={"KUBECONFIG": "/dev/null/x"})
    assert result.returncode == 0, result.stderr
    assert f"would start a control plane in {root}" in result.stderr
    assert "would add context akops-local to /dev/null/x" in result.stderr
    assert not (root / STATE).exists()
    down = cli("cluster.down", "--dir", str(root), "--dry-run")
    assert down.returncode == 0
    assert "would stop: nothing" in down.stderr
