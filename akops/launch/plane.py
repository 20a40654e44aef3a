"""Starting and stopping a real Kubernetes control plane on loopback, and finding it again.

Rule: I/O (processes through ``akops.process``, files, HTTPS to the plane). One plane lives in
one folder (``root``): its certificates, etcd's data, one log per component, the kubeconfig
(context ``akops-local``) and ``state.json``, which names every process by pid and start time.
Whoever holds the folder can stop the plane, from any process (``stop``), and only processes
recorded there are signalled, after checking that the pid still is the same process.

What runs, each in its own process group on ``127.0.0.1`` with ports the kernel handed out:

- etcd (TLS, client certificates) and kube-apiserver (TLS, RBAC and Node authorization, the
  PodSecurity admission plugin, service-account tokens signed with the plane's key);
- kube-controller-manager (Deployments → ReplicaSets → Pods, PDB status, EndpointSlices,
  garbage collection, namespaces, service accounts), each controller with its own account;
- kube-scheduler, and kwok managing ``NODES``, four fake nodes named like the real cluster's,
  so pods are scheduled, become Running and Ready, and rollouts, PDBs and spread behave.

Nothing outlives its owner: ``start`` stops whatever it started when it fails or is
interrupted, and with ``owner`` a watchdog (``python -m akops.launch watch``) stops the plane
as soon as that process is gone, even when it was killed with no chance to clean up. Without an
owner (``invoke cluster.up``) the folder is the owner and ``invoke cluster.down`` stops it.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import http.client
import json
import os
import shutil
import socket
import ssl
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from akops import names, process
from akops.errors import ControlPlaneError
from akops.launch.binaries import Binaries
from akops.launch.certs import Pki, make_pki

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

#: The kubeconfig context (and cluster and user) name of the local plane.
CONTEXT = "akops-local"
#: The fake nodes, named like the real cluster's.
NODES = ("k8s-node1", "k8s-node2", "k8s-node3", "k8s-node4")
#: What each fake node offers the scheduler (a small real node's worth).
NODE_ALLOCATABLE = {"cpu": "8", "memory": "32Gi", "pods": "110", "ephemeral-storage": "100Gi"}
SERVICE_CIDR = "10.96.0.0/12"
#: TEST-NET-1 (RFC 5737), never routed: the fake nodes' addresses and the API's advertised one.
ADVERTISE = "192.0.2.254"
#: kwok manages the nodes carrying this annotation and leaves any other node alone.
KWOK_ANNOTATION = (names.KWOK_NODE_ANNOTATION, names.KWOK_NODE)
#: Seconds for the whole start (the API server alone takes 10-30 s on a loaded two-core machine).
START_TIMEOUT = 240.0
#: Seconds each component gets between TERM and KILL.
STOP_GRACE = 5.0
#: Attempts when a port the kernel handed out was taken before the component bound it.
PORT_ATTEMPTS = 3
REQUEST_TIMEOUT = 10.0
STATE = "state.json"


@dataclass(frozen=True)
class Component:
    """One running process of the plane: what it is, its pid and start time, where it logs."""

    name: str
    pid: int
    started: int  # /proc/<pid>/stat start time (clock ticks since boot): pid reuse shows
    log: str


@dataclass(frozen=True)
class ControlPlane:
    """A running plane: where to reach it, and what runs."""

    root: Path
    server: str  # https://127.0.0.1:PORT
    kubeconfig: Path
    version: str  # the API server's /version gitVersion
    components: tuple[Component, ...]
    nodes: tuple[str, ...]
    binaries: str  # where the programs came from (Binaries.source)
    missing: tuple[str, ...]  # optional programs that were not there (Binaries.missing)
    context: str = CONTEXT

    @property
    def pki(self) -> Pki:
        return Pki(self.root / "pki")

    def running(self) -> tuple[str, ...]:
        """The components whose process is still the one that was started."""
        return tuple(c.name for c in self.components if _same_process(c.pid, c.started))

    def healthy(self) -> bool:
        """Every component still runs and the API server answers ``/readyz``."""
        if len(self.running()) != len(self.components):
            return False
        try:
            return _Api(self.server, self.pki, "admin").status("/readyz") == 200
        except OSError:
            return False

    def api_client(self) -> ApiClient:
        """A ``kubernetes`` client for the plane as the operator (``system:masters``)."""
        from kubernetes import config

        client: ApiClient = config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=str(self.kubeconfig), context=self.context, persist_config=False
        )
        return client

    def describe(self) -> dict[str, Any]:
        """The plane's record in ``state.json`` (the components are recorded beside it)."""
        data = asdict(self)
        del data["components"]
        data["root"] = str(self.root)
        data["kubeconfig"] = str(self.kubeconfig)
        return data

    @classmethod
    def from_record(cls, data: dict[str, Any], components: tuple[Component, ...]) -> ControlPlane:
        return cls(
            root=Path(data["root"]),
            server=data["server"],
            kubeconfig=Path(data["kubeconfig"]),
            version=data["version"],
            components=components,
            nodes=tuple(data["nodes"]),
            binaries=data["binaries"],
            missing=tuple(data["missing"]),
            context=data["context"],
        )


# --- processes ----------------------------------------------------------------------------


def _start_ticks(pid: int) -> int | None:
    """The process's start time from /proc (None when there is no such process)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":
        return None
    return int(fields[19])  # field 22 of stat; fields[0] is field 3


def _same_process(pid: int, started: int) -> bool:
    return _start_ticks(pid) == started


def _free_ports(count: int) -> list[int]:
    """``count`` distinct ports the kernel hands out now (held open together, then released)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]


def _tail(log: Path, lines: int = 3) -> str:
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "no log"
    kept = [line.strip() for line in text.splitlines() if line.strip()][-lines:]
    return " | ".join(kept) or "empty log"


class _PortTaken(Exception):
    """A component lost the race for its port to another process: start again elsewhere."""


class _Launcher:
    """The processes of one start attempt, recorded in ``state.json`` as each one starts (so
    ``stop`` and the watchdog find them at any moment) and stopped together if it fails."""

    def __init__(self, root: Path, env: dict[str, str], owner: int | None) -> None:
        self.root = root
        self.env = env
        self.children: list[tuple[process.Child, Component]] = []
        self.record(None)
        if owner is not None:
            owner_started = _start_ticks(owner)
            if owner_started is None:
                raise ControlPlaneError(f"the owner process {owner} of the control plane is gone")
            self.spawn(
                "watchdog",
                [sys.executable, "-m", "akops.launch", "watch", "--owner", str(owner),
                 "--owner-started", str(owner_started), str(root)],
            )  # fmt: skip

    @property
    def components(self) -> tuple[Component, ...]:
        return tuple(c for _, c in self.children)

    def record(self, plane: ControlPlane | None) -> None:
        state = {
            "components": [asdict(c) for c in self.components],
            "plane": None if plane is None else plane.describe(),
        }
        _write_private(self.root / STATE, json.dumps(state, indent=2) + "\n")

    def spawn(self, name: str, argv: list[str]) -> process.Child:
        log = self.root / "logs" / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        child = process.spawn(argv, env=self.env, log=log, cwd=self.root)
        started = _start_ticks(child.pid)
        if started is None:  # exited at once; ``check`` reports why
            started = -1
        self.children.append((child, Component(name, child.pid, started, str(log))))
        self.record(None)
        return child

    def log(self, name: str) -> str:
        return str(self.root / "logs" / f"{name}.log")

    def check(self) -> None:
        """Raise when a component has exited (with its log's last lines)."""
        for child, comp in self.children:
            code = child.wait(0)
            if code is None:
                continue
            tail = _tail(Path(comp.log))
            if "address already in use" in tail:
                raise _PortTaken(comp.name)
            raise ControlPlaneError(
                f"{comp.name} exited ({code}) while the control plane started: {tail} "
                f"(log: {comp.log})"
            )

    def stop(self) -> None:
        for child, _ in reversed(self.children):
            child.stop(STOP_GRACE)
        self.children.clear()
        (self.root / STATE).unlink(missing_ok=True)


# --- the API, just enough to start -------------------------------------------------------


class _Api:
    """HTTPS to the API server with one of the plane's identities (stdlib only)."""

    def __init__(self, server: str, pki: Pki, identity: str) -> None:
        host, port = server.removeprefix("https://").rsplit(":", 1)
        self.host, self.port = host, int(port)
        self.ctx = ssl.create_default_context(cafile=str(pki.ca))
        self.ctx.load_cert_chain(str(pki.cert(identity)), str(pki.key(identity)))

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        conn = http.client.HTTPSConnection(
            self.host, self.port, context=self.ctx, timeout=REQUEST_TIMEOUT
        )
        try:
            payload = None if body is None else json.dumps(body).encode()
            headers = {"Content-Type": "application/json"} if payload else {}
            conn.request(method, path, body=payload, headers=headers)
            response = conn.getresponse()
            raw = response.read()
        finally:
            conn.close()
        try:
            return response.status, json.loads(raw) if raw else None
        except ValueError:
            return response.status, raw.decode("utf-8", errors="replace")

    def status(self, path: str) -> int:
        return self.request("GET", path)[0]


def _wait(
    what: str, ready: Callable[[], bool], launcher: _Launcher, deadline: float, log: str
) -> None:
    """Poll ``ready`` until it holds; a component that exits, or the deadline, ends the wait."""
    while True:
        launcher.check()
        with contextlib.suppress(OSError, ssl.SSLError, http.client.HTTPException):
            if ready():
                return
        if time.monotonic() >= deadline:
            raise ControlPlaneError(
                f"the control plane did not start within {START_TIMEOUT:g}s: {what} (log: {log})"
            )
        time.sleep(0.2)


# --- kubeconfigs ---------------------------------------------------------------------------


def kubeconfig_text(server: str, pki: Pki, identity: str, name: str = CONTEXT) -> str:
    """A self-contained kubeconfig (certificates inline) for ``identity`` at ``server``."""

    def inline(path: Path) -> str:
        return base64.b64encode(path.read_bytes()).decode("ascii")

    data = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": name,
                "cluster": {"server": server, "certificate-authority-data": inline(pki.ca)},
            }
        ],
        "users": [
            {
                "name": name,
                "user": {
                    "client-certificate-data": inline(pki.cert(identity)),
                    "client-key-data": inline(pki.key(identity)),
                },
            }
        ],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
    }
    return yaml.safe_dump(data, sort_keys=False)


def _write_private(path: Path, text: str) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.chmod(0o600)
    os.replace(tmp, path)
    return path


# --- start ---------------------------------------------------------------------------------


def _node(name: str, index: int, version: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
            },
            "annotations": {KWOK_ANNOTATION[0]: KWOK_ANNOTATION[1]},
        },
        "spec": {"podCIDR": f"10.244.{index}.0/24"},
        "status": {
            "allocatable": NODE_ALLOCATABLE,
            "capacity": NODE_ALLOCATABLE,
            "addresses": [
                {"type": "InternalIP", "address": f"192.0.2.{index}"},
                {"type": "Hostname", "address": name},
            ],
            "nodeInfo": {"kubeletVersion": version, "operatingSystem": "linux"},
        },
    }


def _node_ready(api: _Api, name: str) -> bool:
    code, node = api.request("GET", f"/api/v1/nodes/{name}")
    if code != 200:
        return False
    conditions = node.get("status", {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _lease_held(api: _Api, name: str) -> bool:
    code, lease = api.request(
        "GET", f"/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/{name}"
    )
    return code == 200 and bool(lease.get("spec", {}).get("holderIdentity"))


def _attempt(
    root: Path, binaries: Binaries, launcher: _Launcher, say: Callable[[str], None]
) -> ControlPlane:
    deadline = time.monotonic() + START_TIMEOUT
    pki = make_pki(root / "pki")
    data = root / "etcd"
    shutil.rmtree(data, ignore_errors=True)
    etcd_port, peer_port, api_port = _free_ports(3)
    etcd_url = f"https://127.0.0.1:{etcd_port}"
    peer_url = f"http://127.0.0.1:{peer_port}"
    launcher.spawn(
        "etcd",
        [
            str(binaries.etcd),
            "--name=akops-local",
            f"--data-dir={data}",
            f"--listen-client-urls={etcd_url}",
            f"--advertise-client-urls={etcd_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=akops-local={peer_url}",
            f"--cert-file={pki.cert('etcd')}",
            f"--key-file={pki.key('etcd')}",
            f"--trusted-ca-file={pki.ca}",
            "--client-cert-auth",
            # Throwaway data on a shared disk: fsync buys nothing here and costs seconds.
            "--unsafe-no-fsync",
            "--log-level=warn",
        ],
    )
    server = f"https://127.0.0.1:{api_port}"
    launcher.spawn(
        "kube-apiserver",
        [
            str(binaries.kube_apiserver),
            f"--etcd-servers={etcd_url}",
            f"--etcd-cafile={pki.ca}",
            f"--etcd-certfile={pki.cert('apiserver-etcd-client')}",
            f"--etcd-keyfile={pki.key('apiserver-etcd-client')}",
            "--bind-address=127.0.0.1",
            # The `kubernetes` Service's endpoint: an Endpoints address may not be loopback, so
            # a documentation address (routed nowhere; nothing in a kwok pod dials it).
            f"--advertise-address={ADVERTISE}",
            f"--secure-port={api_port}",
            f"--cert-dir={root / 'apiserver'}",
            f"--tls-cert-file={pki.cert('kube-apiserver')}",
            f"--tls-private-key-file={pki.key('kube-apiserver')}",
            f"--client-ca-file={pki.ca}",
            "--authorization-mode=Node,RBAC",
            # PodSecurity is on by default in 1.33; named so a namespace's
            # pod-security.kubernetes.io/enforce label is enforced here as in the cluster.
            "--enable-admission-plugins=NodeRestriction,PodSecurity",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki.sa_pub}",
            f"--service-account-signing-key-file={pki.sa_key}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--allow-privileged=true",
            "--profiling=false",
        ],
    )
    api = _Api(server, pki, "admin")
    say(f"waiting for kube-apiserver at {server}")
    _wait(
        "kube-apiserver is not ready",
        lambda: api.status("/readyz") == 200,
        launcher,
        deadline,
        launcher.log("kube-apiserver"),
    )
    code, info = api.request("GET", "/version")
    version = str(info.get("gitVersion", "unknown")) if code == 200 else "unknown"
    kubeconfig = _write_private(root / "kubeconfig", kubeconfig_text(server, pki, "admin"))

    leases: list[str] = []
    for name, program, args in (
        (
            "kube-controller-manager",
            binaries.kube_controller_manager,
            [
                "--use-service-account-credentials=true",
                f"--service-account-private-key-file={pki.sa_key}",
                f"--root-ca-file={pki.ca}",
                f"--cluster-signing-cert-file={pki.ca}",
                f"--cluster-signing-key-file={pki.root / 'ca.key'}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--leader-elect=true",
                "--secure-port=0",
            ],
        ),
        ("kube-scheduler", binaries.kube_scheduler, ["--leader-elect=true", "--secure-port=0"]),
    ):
        if program is None:
            continue
        config = _write_private(root / f"{name}.kubeconfig", kubeconfig_text(server, pki, name))
        launcher.spawn(name, [str(program), f"--kubeconfig={config}", *args])
        leases.append(name)

    nodes: tuple[str, ...] = ()
    if binaries.kwok is not None:
        config = _write_private(root / "kwok.kubeconfig", kubeconfig_text(server, pki, "kwok"))
        launcher.spawn(
            "kwok",
            [
                str(binaries.kwok),
                f"--kubeconfig={config}",
                "--manage-all-nodes=false",
                f"--manage-nodes-with-annotation-selector={'='.join(KWOK_ANNOTATION)}",
                "--node-lease-duration-seconds=40",
            ],
        )
        for index, name in enumerate(NODES, start=1):
            code, answer = api.request("POST", "/api/v1/nodes", _node(name, index, version))
            if code not in (201, 409):
                raise ControlPlaneError(f"creating node {name} answered {code}: {answer}")
        nodes = NODES

    say(f"waiting for {', '.join([*leases, *(['kwok'] if nodes else [])]) or 'nothing else'}")
    for name in nodes:
        ready = functools.partial(_node_ready, api, name)
        _wait(f"node {name} is not Ready", ready, launcher, deadline, launcher.log("kwok"))
    for name in leases:
        held = functools.partial(_lease_held, api, name)
        _wait(f"{name} holds no leader lease", held, launcher, deadline, launcher.log(name))
    if binaries.kube_controller_manager is not None:
        # Pods need their namespace's `default` ServiceAccount (the ServiceAccount admission).
        _wait(
            "the service-account controller made no `default` account",
            lambda: api.status("/api/v1/namespaces/default/serviceaccounts/default") == 200,
            launcher,
            deadline,
            launcher.log("kube-controller-manager"),
        )
    return ControlPlane(
        root=root,
        server=server,
        kubeconfig=kubeconfig,
        version=version,
        components=launcher.components,
        nodes=nodes,
        binaries=binaries.source,
        missing=binaries.missing,
    )


def _component_env() -> dict[str, str]:
    """The components' environment: ours, less what would point them elsewhere."""
    env = dict(os.environ)
    for name in ("KUBECONFIG", "ETCDCTL_ENDPOINTS", "ETCD_DATA_DIR"):
        env.pop(name, None)
    return env


def start(
    root: Path,
    binaries: Binaries,
    *,
    owner: int | None = None,
    say: Callable[[str], None] = lambda _: None,
) -> ControlPlane:
    """Start a plane in ``root`` (created; must hold no running plane) and wait until it is ready.

    With ``owner`` (a pid), a watchdog stops the plane when that process is gone. On any failure
    or interrupt, every process started here is stopped before the error goes up.
    """
    root.mkdir(parents=True, exist_ok=True)
    if _recorded(root):
        raise ControlPlaneError(
            f"a control plane is already recorded in {root}; stop it first "
            f"(invoke cluster.down, or python -m akops.launch down {root})"
        )
    for attempt in range(1, PORT_ATTEMPTS + 1):
        launcher = _Launcher(root, _component_env(), owner)
        try:
            plane = _attempt(root, binaries, launcher, say)
            launcher.record(plane)
            return plane
        except _PortTaken as e:
            launcher.stop()
            if attempt == PORT_ATTEMPTS:
                raise ControlPlaneError(
                    f"{e.args[0]} found its port taken {PORT_ATTEMPTS} times; too many "
                    f"processes race for loopback ports on this machine"
                ) from None
            say(f"{e.args[0]}: its port was taken meanwhile, starting again")
        except BaseException:
            launcher.stop()
            raise
    raise AssertionError("unreachable")


def make_namespaces(plane: ControlPlane, names: Iterable[str]) -> list[str]:
    """Create the namespaces ``names`` that do not exist yet; the ones it created.

    What a cluster has before the stack arrives (Prometheus's namespace, the database's), so a
    deploy to the plane meets what it meets in the cluster.
    """
    api = _Api(plane.server, plane.pki, "admin")
    made = []
    for name in sorted(set(names)):
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        code, answer = api.request("POST", "/api/v1/namespaces", body)
        if code == 201:
            made.append(name)
        elif code != 409:
            raise ControlPlaneError(f"creating namespace {name} answered {code}: {answer}")
    return made


# --- find and stop -------------------------------------------------------------------------


def _read_state(root: Path) -> dict[str, Any] | None:
    try:
        text = (root / STATE).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as e:
        raise ControlPlaneError(f"{root / STATE}: {e.strerror}") from e
    try:
        state = json.loads(text)
        if not isinstance(state, dict) or not isinstance(state.get("components"), list):
            raise ValueError("no components")
        return state
    except ValueError as e:
        raise ControlPlaneError(f"{root / STATE}: not a control plane record ({e})") from e


def _components(state: dict[str, Any], where: Path) -> tuple[Component, ...]:
    try:
        return tuple(Component(**c) for c in state["components"])
    except TypeError as e:
        raise ControlPlaneError(f"{where / STATE}: not a control plane record ({e})") from e


def _recorded(root: Path) -> bool:
    """Whether ``root`` records a process that still runs."""
    state = _read_state(root)
    return state is not None and any(
        _same_process(c.pid, c.started) for c in _components(state, root)
    )


def load(root: Path) -> ControlPlane | None:
    """The plane recorded in ``root`` once it started (running or not), else None."""
    state = _read_state(root)
    if state is None or not isinstance(state.get("plane"), dict):
        return None
    try:
        return ControlPlane.from_record(state["plane"], _components(state, root))
    except (KeyError, TypeError) as e:
        raise ControlPlaneError(f"{root / STATE}: not a control plane record ({e})") from e


def stop(root: Path, *, grace: float = STOP_GRACE) -> tuple[str, ...]:
    """Stop every process recorded in ``root``; returns the names of those it stopped.

    Idempotent: nothing recorded, or nothing still running, stops nothing. A pid that now
    belongs to another process (its start time differs) is left alone.
    """
    state = _read_state(root)
    if state is None:
        return ()
    stopped = []
    me = os.getpid()
    for comp in reversed(_components(state, root)):
        if comp.pid == me or not _same_process(comp.pid, comp.started):
            continue
        process.kill_group(comp.pid, grace)
        stopped.append(comp.name)
    (root / STATE).unlink(missing_ok=True)
    return tuple(stopped)


def watch(root: Path, owner: int, owner_started: int, poll: float = 0.5) -> bool:
    """While ``root`` records a plane: once ``owner`` is gone, stop it. True if it stopped it."""
    while (root / STATE).exists():
        if not _same_process(owner, owner_started):
            stop(root)
            return True
        time.sleep(poll)
    return False


@contextlib.contextmanager
def running(
    root: Path, binaries: Binaries, *, say: Callable[[str], None] = lambda _: None
) -> Iterator[ControlPlane]:
    """A plane for the duration of the block, owned by this process (watchdog included)."""
    plane = start(root, binaries, owner=os.getpid(), say=say)
    try:
        yield plane
    finally:
        stop(root)
