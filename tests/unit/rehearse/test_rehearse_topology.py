"""The rehearsal's topology: the environment's shape, the rendered config with only
addresses, paths and (scaled) times changed."""

from __future__ import annotations

from pathlib import Path

import yaml

from akops.environment import load_environment
from akops.layout import Layout
from akops.rehearse import topology
from akops.rehearse.topology import Scale
from akops.render import render_env

SEED_INI = Path(__file__).resolve().parents[2] / "fixtures" / "seed" / "seed-pgbouncer.ini"


def rendered_ini(layout: Layout) -> str:
    _, stack = render_env(layout, "prod")
    return yaml.safe_load(stack.by_name()["pgbouncer-configmap.yaml"])["data"]["pgbouncer.ini"]


def test_load_shape_is_the_environments_authentik(layout: Layout) -> None:
    env = load_environment("prod", layout.environments)
    shape = topology.load_shape(env, Scale(10))
    a = env.authentik
    assert shape.threads == (
        a.server.replicas * a.server.web_workers * a.server.web_threads
        + a.worker.replicas * a.worker.threads
    )
    assert len(shape.pods) == a.server.replicas + a.worker.replicas
    assert shape.conn_max_age == a.conn_max_age / 10
    surged = topology.load_shape(env, Scale(10), surge=1)
    assert len(surged.pods) == len(shape.pods) + 2


def test_only_addresses_paths_and_times_change(layout: Layout) -> None:
    ini = rendered_ini(layout)
    times = topology.scaled_times(ini, Scale(10))
    assert times["idle_transaction_timeout"] == "30.000"
    assert times["reserve_pool_timeout"] == "0.500"
    local = {"listen_addr": "127.0.0.1", "listen_port": "7000", "auth_file": "/x/u.txt"}
    out = topology.adjust_ini(ini, {**local, **times}, ("127.0.0.1", 5999))
    before, after = topology.settings_of(ini), topology.settings_of(out)
    changed = {k for k in after if before.get(k) != after[k]}
    assert changed == set(local) | set(times)
    assert "authentik = host=127.0.0.1 port=5999 dbname=authentik\n" in out
    assert after["pool_mode"] == before["pool_mode"] == "session"


def test_the_seed_ini_gets_its_password_and_keeps_no_timeout() -> None:
    ini = SEED_INI.read_text()
    assert topology.database_placeholders(ini) == {"password"}
    out = topology.adjust_ini(ini, {"listen_port": "7000"}, ("127.0.0.1", 5999), {"password": "pw"})
    assert "password=pw" in out and "${password}" not in out
    assert "idle_transaction_timeout" not in topology.settings_of(out)
    assert "idle_transaction_timeout" not in topology.scaled_times(ini, Scale(10))


def test_patched_shm_size_reads_the_rendered_patch(layout: Layout) -> None:
    env = load_environment("prod", layout.environments)
    _, stack = render_env(layout, "prod")
    patches = yaml.safe_load(stack.by_name()["outpost-patches.yaml"])
    assert topology.patched_shm_size(patches) == env.authentik.outpost.shm_size
    assert topology.patched_shm_size(None) is None
    assert topology.patched_shm_size({"kubernetes_json_patches": {"deployment": []}}) is None


def test_tmpfs_bytes_scale_to_whole_pages() -> None:
    assert topology.tmpfs_bytes("64Mi", 64) == 1024 * 1024
    assert topology.tmpfs_bytes("2Gi", 64) == 32 * 1024 * 1024
    assert topology.tmpfs_bytes("64Mi", 10**6) == 16 * topology.PAGE
