"""PgBouncer runs the way the rendered Deployment runs it: non-root, read-only root filesystem.

The real Debian PgBouncer is started from the rendered pgbouncer.ini (ConfigMap) and
userlist.txt (Secret), as the rendered ``runAsUser``/``runAsGroup``/``fsGroup``, with no
capabilities and no new privileges, in a mount namespace whose every filesystem is
read-only except a tmpfs at each rendered ``emptyDir`` mount (``readonly_root.py``). It
must start, carry psql to PostgreSQL over TCP and over its unix socket, and write
nothing anywhere else. Removing one emptyDir must make the same check fail, loudly.

Only what a test machine needs is changed in the rendered config: the listen address
and port and the upstream host and port (the ``postgres`` fixture).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
import yaml

from akops.layout import Layout
from akops.render import render_env
from akops.secrets import Secrets
from tests.integration.conftest import (
    Postgres,
    adjust_ini,
    free_port,
    pgbouncer_binary,
    require,
    stop_process,
    wait_port,
)

SANDBOX = Path(__file__).with_name("readonly_root.py")
PSQL = Path("/usr/bin/psql")
TIMEOUT = 20
# Directories the image itself has (edoburu/docker-pgbouncer Dockerfile, v1.24.1-p1:
# `mkdir -p /etc/pgbouncer /var/log/pgbouncer /var/run/pgbouncer`), owned by postgres.
IMAGE_DIRS = ("/etc/pgbouncer", "/var/log/pgbouncer", "/var/run/pgbouncer")
# Where the image has its PgBouncer (built with --prefix=/usr); the sandbox bind-mounts the
# version prod runs (1.24.1, akops.tools.pgbouncer) there, read-only like the rest of the root.
IMAGE_BINARY = "/usr/bin/pgbouncer"


@dataclass(frozen=True)
class Bind:
    """A ConfigMap/Secret key mounted as a file (``subPath``), with its volume's owner and mode."""

    text: str = field(repr=False)
    target: str
    mode: int
    gid: int


@dataclass(frozen=True)
class PodRun:
    """What the rendered Deployment says about how PgBouncer's container runs."""

    user: int
    group: int
    fs_group: int
    read_only_root: bool
    binds: tuple[Bind, ...]
    empty_dirs: tuple[str, ...]
    argv: tuple[str, ...]

    def without_empty_dir(self, path: str) -> PodRun:
        return replace(self, empty_dirs=tuple(p for p in self.empty_dirs if p != path))


def pod_run(files: dict[str, str], ini: str, userlist: str) -> PodRun:
    """The run of the rendered PgBouncer container, with the test's ini and userlist texts."""
    deployment = yaml.safe_load(files["pgbouncer-deployment.yaml"])
    pod = deployment["spec"]["template"]["spec"]
    (container,) = [c for c in pod["containers"] if c["name"] == "pgbouncer"]
    pod_sc, sc = pod["securityContext"], container["securityContext"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    texts = {"configMap": {"pgbouncer.ini": ini}, "secret": {"userlist.txt": userlist}}
    binds, empty = [], []
    for m in container["volumeMounts"]:
        volume = volumes[m["name"]]
        if "emptyDir" in volume:
            empty.append(m["mountPath"])
            continue
        kind = "configMap" if "configMap" in volume else "secret"
        mode = volume[kind].get("defaultMode", 0o644)
        binds.append(Bind(texts[kind][m["subPath"]], m["mountPath"], mode, pod_sc["fsGroup"]))
    return PodRun(
        user=pod_sc["runAsUser"],
        group=pod_sc["runAsGroup"],
        fs_group=pod_sc["fsGroup"],
        read_only_root=sc["readOnlyRootFilesystem"],
        binds=tuple(binds),
        empty_dirs=tuple(empty),
        # The image's CMD: pgbouncer with the config path it mounts.
        argv=(IMAGE_BINARY, "/etc/pgbouncer/pgbouncer.ini"),
    )


@dataclass
class Sandboxed:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path
    run: PodRun

    def enter(
        self, *argv: str, user: int | None = None, **env: str
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside PgBouncer's mount namespace (as ``user`` when given)."""
        prefix = ["nsenter", f"--target={self.proc.pid}", "--mount", "--"]
        if user is not None:
            prefix += ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"]
        return subprocess.run(
            [*prefix, *argv],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            env={**os.environ, **env},
        )


@contextlib.contextmanager
def sandboxed(run: PodRun, postgres: Postgres) -> Iterator[Sandboxed]:
    """PgBouncer started as ``run`` says, stopped (with its namespace) on exit."""
    binary = pgbouncer_binary()
    if os.geteuid() != 0:
        pytest.fail("mount namespaces need root (run the integration tests as root, as CI does)")
    with tempfile.TemporaryDirectory(prefix="akops-ro-") as tmp:
        root = Path(tmp)
        sources = []
        for i, b in enumerate(run.binds):
            src = root / f"file{i}"
            src.write_text(b.text)
            src.chmod(0o600)  # the sandbox gives its copy the volume's owner and mode
            sources.append([str(src), b.target, b.mode, 0, b.gid])
        sources.append([str(binary), IMAGE_BINARY, 0o755, 0, 0])
        scratch = root / "scratch"
        scratch.mkdir()
        spec = {
            "binds": sources,
            "tmpfs": list(run.empty_dirs),
            "dirs": list(IMAGE_DIRS),
            "scratch": str(scratch),
            "user": run.user,
            "group": run.group,
            "groups": [run.fs_group],
            "argv": list(run.argv),
        }
        log = root / "pgbouncer.log"
        port = int(_listen_port(run))
        with log.open("wb") as out:
            proc = subprocess.Popen(
                ["unshare", "--mount", "--", sys.executable, str(SANDBOX), json.dumps(spec)],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_port(port, proc, log)
            yield Sandboxed(proc, port, log, run)
        finally:
            stop_process(proc)


def _listen_port(run: PodRun) -> str:
    ini = next(b.text for b in run.binds if b.target.endswith(".ini"))
    return next(
        line.split("=", 1)[1].strip()
        for line in ini.splitlines()
        if line.split("=", 1)[0].strip() == "listen_port"
    )


def psql(
    args: list[str], password: str, via: Sandboxed | None = None
) -> subprocess.CompletedProcess[str]:
    argv = [str(PSQL), "-X", "-A", "-t", *args, "-c", "SELECT 'through-pgbouncer'"]
    env = {"PGPASSWORD": password, "PGCONNECT_TIMEOUT": "5"}
    if via is not None:
        return via.enter(*argv, **env)
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=TIMEOUT, env={**os.environ, **env}
    )


def problems(box: Sandboxed, postgres: Postgres) -> list[str]:
    """Everything wrong with a sandboxed PgBouncer run; empty when it behaves as a pod must."""
    found = []
    db = ["-U", postgres.user, "-d", postgres.database, "-p", str(box.port)]
    tcp = psql(["-h", "127.0.0.1", *db], postgres.password)
    if tcp.stdout.strip() != "through-pgbouncer":
        found.append(f"psql over TCP failed: {tcp.stderr.strip()}")
    ini = next(b.text for b in box.run.binds if b.target.endswith(".ini"))
    socket_dir = next(
        line.split("=", 1)[1].strip()
        for line in ini.splitlines()
        if line.split("=", 1)[0].strip() == "unix_socket_dir"
    )
    unix = psql(["-h", socket_dir, *db], postgres.password, via=box)
    if unix.stdout.strip() != "through-pgbouncer":
        found.append(f"psql over the unix socket in {socket_dir} failed: {unix.stderr.strip()}")
    for line in box.log.read_text().splitlines():
        if any(w in line for w in ("WARNING", "ERROR", "FATAL", "Read-only", "denied")):
            found.append(f"PgBouncer logged: {line}")
    # What it wrote: only its socket, only in the emptyDirs.
    for d in box.run.empty_dirs:
        listed = box.enter("ls", "-A", d)
        names = set(listed.stdout.split())
        if names - {f".s.PGSQL.{box.port}"}:
            found.append(f"unexpected files in emptyDir {d}: {sorted(names)}")
    return found


@pytest.fixture
def rendered(layout: Layout, postgres: Postgres) -> PodRun:
    _, stack = render_env(layout, "prod")
    files = stack.by_name()
    ini = yaml.safe_load(files["pgbouncer-configmap.yaml"])["data"]["pgbouncer.ini"]
    userlist = yaml.safe_load(files["pgbouncer-secret.yaml"])["stringData"]["userlist.txt"]
    settings = {"listen_addr": "127.0.0.1", "listen_port": str(free_port())}
    return pod_run(
        files,
        adjust_ini(ini, settings, (postgres.host, postgres.port)),
        Secrets({"postgres_password": postgres.password, "stats_password": "st-x"}).inject(
            userlist
        ),
    )


def test_rendered_pod_is_non_root_with_a_read_only_root(rendered: PodRun) -> None:
    assert rendered.user != 0 and rendered.group != 0
    assert rendered.read_only_root
    assert rendered.empty_dirs  # the socket directory at least


def test_pgbouncer_runs_non_root_on_a_read_only_root(rendered: PodRun, postgres: Postgres) -> None:
    require(PSQL, "apt-get install postgresql-client")
    with sandboxed(rendered, postgres) as box:
        assert problems(box, postgres) == []
        # The version prod's image runs, not the host's Debian package.
        assert "PgBouncer 1.24.1" in box.enter(IMAGE_BINARY, "--version").stdout
        # The sandbox is what it claims: the process's user, and a root it cannot write.
        status = Path(f"/proc/{box.proc.pid}/status").read_text()
        assert f"Uid:\t{rendered.user}\t" in status
        assert f"Gid:\t{rendered.group}\t" in status
        probe = box.enter("touch", "/tmp/akops-write-probe", user=rendered.user)
        assert probe.returncode != 0 and "Read-only file system" in probe.stderr
        # The userlist is readable by the fsGroup only, as the Secret's defaultMode says.
        stolen = box.enter("cat", "/etc/pgbouncer/userlist.txt", user=65534)
        assert stolen.returncode != 0 and postgres.password not in stolen.stdout
        assert postgres.password not in box.log.read_text()


def outcome(run: PodRun, postgres: Postgres) -> list[str]:
    """``problems`` of a sandboxed run, or the log of a PgBouncer that refused to start.

    PgBouncer 1.24.1 exits when it cannot create its unix socket (1.18 logged a warning and
    served TCP only): either way the missing emptyDir must show up, naming its path.
    """
    try:
        with sandboxed(run, postgres) as box:
            return problems(box, postgres)
    except pytest.fail.Exception as e:
        if "process exited" not in str(e):
            raise
        return [line for line in str(e).splitlines() if "WARNING" in line or "FATAL" in line]


def test_without_any_one_empty_dir_the_check_fails_loudly(
    rendered: PodRun, postgres: Postgres
) -> None:
    for removed in rendered.empty_dirs:
        found = outcome(rendered.without_empty_dir(removed), postgres)
        assert any(removed in p and "Read-only file system" in p for p in found), found
