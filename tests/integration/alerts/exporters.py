"""The stack's exporters, as the rendered manifests run them, on this machine: the PgBouncer
sidecar's pgbouncer_exporter and the outpost's /dev/shm sidecar (node_exporter).

Each is the upstream Go program at the tag of the image the environment pins, built once per
machine by ``akops.tools`` from its module set in ``tools/go/`` (a unit test holds the two
versions equal). Each runs with the arguments and environment of its rendered container; only
what a test machine needs changes: the listen address (``127.0.0.1:<free port>``), PgBouncer's
address in the exporter's connection string, and the secret values the rendered Secret holds
as placeholders.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from akops import process
from akops.errors import ToolMissingError
from akops.rehearse import start
from akops.rehearse.start import free_port
from akops.secrets import Secrets
from akops.tools import ensure_go_program
from akops.tools.programs import PROGRAMS
from tests.integration.alerts.real_prometheus import HTTP_TIMEOUT, wait_for

LISTEN = re.compile(r"^--web\.listen-address=.*$")


def go_program(name: str) -> Path:
    """The cached build of a registered Go program (fails, with why, when Go cannot build it)."""
    try:
        return ensure_go_program(PROGRAMS[name])
    except ToolMissingError as e:
        pytest.fail(f"{name}: {e}", pytrace=False)


def rendered_container(text: str, name: str, path: tuple[str | int, ...]) -> dict[str, Any]:
    """Container ``name`` in the document of ``text`` whose containers list is at ``path``."""
    for doc in yaml.safe_load_all(text):
        node: Any = doc
        for key in path:
            if not isinstance(node, dict | list):
                break
            try:
                node = node[key]
            except (KeyError, IndexError, TypeError):
                node = None
                break
        for c in node if isinstance(node, list) else []:
            if isinstance(c, dict) and c.get("name") == name:
                return c
    raise AssertionError(f"no rendered container {name!r}")


def local_args(args: list[str], port: int) -> list[str]:
    """The rendered arguments with the listen address on 127.0.0.1:``port``."""
    assert any(LISTEN.match(a) for a in args), args
    return [f"--web.listen-address=127.0.0.1:{port}" if LISTEN.match(a) else a for a in args]


@dataclass
class Exporter:
    port: int
    child: process.Child
    log: Path

    def metrics(self) -> str:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{self.port}/metrics", timeout=HTTP_TIMEOUT
        ) as answer:
            return str(answer.read().decode())

    def stop(self) -> None:
        self.child.stop()


@contextlib.contextmanager
def serving(
    argv: list[str], env: Mapping[str, str], port: int, log: Path, shows: str
) -> Iterator[Exporter]:
    """Start an exporter; yield once its /metrics shows ``shows``."""
    with process.spawn(argv, env=dict(env), log=log) as child:
        exporter = Exporter(port, child, log)

        def ready() -> bool:
            if not child.alive():
                pytest.fail(f"{argv[0]} exited: {log.read_text()[-2000:]}", pytrace=False)
            return shows in exporter.metrics()

        wait_for(f"{Path(argv[0]).name} serving {shows}", ready, 30, log)
        yield exporter


def secret_value(secret_doc: str, key: str, values: Mapping[str, str]) -> str:
    """A key of the rendered Secret, its placeholders replaced by ``values``."""
    data = yaml.safe_load(secret_doc)
    raw = (data.get("stringData") or {})[key]
    return Secrets(dict(values)).inject(str(raw))


@contextlib.contextmanager
def pgbouncer_exporter(
    files: Mapping[str, str],
    pgbouncer_port: int,
    secrets: Mapping[str, str],
    tmp: Path,
    *,
    password: str | None = None,
    port: int | None = None,
) -> Iterator[Exporter]:
    """prometheus-community's pgbouncer_exporter as the rendered PgBouncer pod runs it.

    ``password``: what the exporter logs in with instead of the rendered Secret's value (a
    broken credential, for the metrics-missing alert). ``port``: listen there (a restarted
    sidecar keeps its scrape target).
    """
    c = rendered_container(
        files["pgbouncer-deployment.yaml"], "exporter", ("spec", "template", "spec", "containers")
    )
    env: dict[str, str] = {"PATH": "/usr/bin:/bin"}
    for var in c.get("env", []):
        if "value" in var:
            env[var["name"]] = str(var["value"])
        else:
            ref = var["valueFrom"]["secretKeyRef"]
            env[var["name"]] = secret_value(files["pgbouncer-secret.yaml"], ref["key"], secrets)
    if password is not None:
        env["PGPASSWORD"] = password
    url = env["PGBOUNCER_EXPORTER_CONNECTION_STRING"]
    # The sidecar reaches PgBouncer on the pod's loopback; here PgBouncer listens elsewhere.
    env["PGBOUNCER_EXPORTER_CONNECTION_STRING"] = re.sub(
        r"@127\.0\.0\.1:[0-9]+/", f"@127.0.0.1:{pgbouncer_port}/", url
    )
    assert env["PGBOUNCER_EXPORTER_CONNECTION_STRING"] != url or str(pgbouncer_port) in url
    port = port or free_port()
    argv = [str(go_program("pgbouncer_exporter")), *local_args(list(c["args"]), port)]
    with serving(argv, env, port, tmp / "pgbouncer-exporter.log", "pgbouncer_up") as exporter:
        yield exporter


# --- the outpost's /dev/shm sidecar ----------------------------------------------------------


@dataclass(frozen=True)
class ShmSidecar:
    """The rendered outpost patches, as far as the /dev/shm sidecar is concerned."""

    container: dict[str, Any]
    size_limit: str  # the dshm emptyDir's sizeLimit
    mount_path: str  # where the sidecar mounts it
    read_only: bool
    uid: int  # the pod's runAsUser / runAsGroup
    gid: int


def shm_sidecar(patches_text: str) -> ShmSidecar:
    ops = yaml.safe_load(patches_text)["kubernetes_json_patches"]["deployment"]
    by_path: dict[str, Any] = {op["path"]: op["value"] for op in ops if op["op"] == "add"}
    (container,) = [
        v
        for p, v in by_path.items()
        if p == "/spec/template/spec/containers/-" and v["name"] == "shm-exporter"
    ]
    (mount,) = container["volumeMounts"]
    (volume,) = [v for v in by_path["/spec/template/spec/volumes"] if v["name"] == mount["name"]]
    pod = by_path["/spec/template/spec/securityContext"]
    return ShmSidecar(
        container,
        str(volume["emptyDir"]["sizeLimit"]),
        str(mount["mountPath"]),
        bool(mount.get("readOnly")),
        int(pod["runAsUser"]),
        int(pod["runAsGroup"]),
    )


@contextlib.contextmanager
def shm_exporter(sidecar: ShmSidecar, volume: Path, tmp: Path) -> Iterator[Exporter]:
    """node_exporter as the rendered sidecar runs it, in a pod-like sandbox of its own.

    A new mount and PID namespace (``unshare``): ``volume`` (the tmpfs the "proxy container"
    writes into) is bind-mounted at the sidecar's mount path, read-only as rendered, and the
    exporter runs as the pod's UID and GID, as PID 1 of its namespace, so that its
    ``/proc/1/mountinfo`` is its own, as in a container. The host's mounts are not touched.
    """
    unshare, setpriv = shutil.which("unshare"), shutil.which("setpriv")
    if unshare is None or setpriv is None:
        pytest.fail("unshare/setpriv not found: apt-get install util-linux", pytrace=False)
    port = free_port()
    remount = "mount -o remount,bind,ro" if sidecar.read_only else "true"
    script = 'mount --bind "$1" "$2" && ' + remount + ' "$2" && shift 2 && exec "$@"'
    with start.workdir("akops-shm-exporter-") as home:
        # The build lives under root's 0700 cache; the pod's UID runs a copy it can reach.
        binary = home / "node_exporter"
        shutil.copy2(go_program("node_exporter"), binary)
        binary.chmod(0o755)
        argv = [
            unshare, "--mount", "--pid", "--fork", "--mount-proc", "--propagation", "private",
            "/bin/sh", "-c", script, "sh", str(volume), sidecar.mount_path,
            setpriv, f"--reuid={sidecar.uid}", f"--regid={sidecar.gid}", "--clear-groups",
            str(binary), *local_args(list(sidecar.container["args"]), port),
        ]  # fmt: skip
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        log = tmp / "node-exporter.log"
        with serving(argv, env, port, log, "node_filesystem_size_bytes") as exporter:
            yield exporter
