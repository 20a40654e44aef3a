"""Faults a rehearsal injects into its own data path.

Rule: I/O (the process helper, signals). Each fault returns what the runbook may act on
(stand-ins for its kubectl steps) and is undone, at the latest, when the rehearsal's
``ExitStack`` unwinds: every process a fault starts is entered into it.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path

from akops import process
from akops.rehearse.drive import MIGRATION_LOCK, Credentials, Endpoints, Fleet
from akops.rehearse.start import Bouncer, StartError
from akops.rehearse.start import tmpfs as start_tmpfs
from akops.rehearse.steps import StandIn

HOLD_TIMEOUT = 20.0


@dataclass
class Injected:
    """What a fault left for the runbook and for cleaning up."""

    description: str
    stand_ins: dict[str, StandIn] = field(default_factory=dict)
    children: list[process.Child] = field(default_factory=list)
    stops: list[Callable[[], None]] = field(default_factory=list)


def boot_storm(
    stack: contextlib.ExitStack,
    fleet: Fleet,
    endpoints: Endpoints,
    creds: Credentials,
    workdir: Path,
    *,
    freeze: bool,
    act: str,
) -> Injected:
    """Every pod restarts at once; the first migration takes the advisory lock and freezes.

    The holder is a separate process (``akops.rehearse.holder``) so that it can be frozen with
    SIGSTOP like a pod on a dead node: its socket open, its transaction idle, its lock held.
    """
    address = endpoints.pick()
    log = workdir / f"holder-{act}.log"
    env = {**os.environ, "PGPASSWORD": creds.password}
    holder = stack.enter_context(
        process.spawn(
            [
                sys.executable,
                "-m",
                "akops.rehearse.holder",
                "--address",
                address,
                "--user",
                creds.user,
                "--dbname",
                creds.database,
                "--lock",
                str(MIGRATION_LOCK),
                "--app",
                f"authentik migrate ({act} holder)",
            ],
            env=env,
            log=log,
            cwd=workdir,
        )
    )
    _wait_for_line(holder, log, "holding lock", HOLD_TIMEOUT)
    if freeze:
        holder.signal(signal.SIGSTOP)
    fleet.restart_all()
    what = "frozen (SIGSTOP) mid-transaction" if freeze else "holding"
    return Injected(
        f"every pod restarted at once; the migration lock holder (pid {holder.pid}, "
        f"via {address}) {what}",
        children=[holder],
    )


def _wait_for_line(child: process.Child, log: Path, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if text in log.read_text(errors="replace"):
                return
        if not child.alive():
            break
        time.sleep(0.05)
    tail = ""
    with contextlib.suppress(OSError):
        tail = " | ".join(log.read_text(errors="replace").strip().splitlines()[-3:])
    raise StartError(f"the lock holder did not take the lock within {timeout:g}s: {tail[-400:]}")


def stop_all(injected: Injected, grace: float = 2.0) -> None:
    for child in injected.children:
        child.stop(grace)
    for stop in injected.stops:
        stop()


class _Controller:
    """A stand-in controller looping in a thread: ``stop`` ends the loop, a crash stays in
    ``error`` for whoever waits on the controller to report."""

    def __init__(self, name: str, workdir: Path) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.stopping = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._guarded, name=name, daemon=True)

    def _guarded(self) -> None:
        try:
            self._loop()
        except BaseException as e:
            self.error = e

    def _loop(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        self.stopping.set()
        if self.thread.ident is not None:
            self.thread.join(30)


@dataclass(eq=False)
class OutpostPod(_Controller):
    """The outpost's pod as its kubelet keeps it: a tmpfs at /dev/shm (an emptyDir lives and
    dies with its pod) and the session writer in it. When the writer dies (the runbook's
    ``kubectl delete pod`` stands in as a kill of it) the pod is replaced: the tmpfs is
    unmounted, a fresh empty one mounted, a new writer started, and ``pod-N.ready`` written."""

    path: Path
    size: int
    _: KW_ONLY
    rate: float
    session_bytes: int
    max_age: float
    workdir: Path

    def __post_init__(self) -> None:
        super().__init__("outpost-kubelet", self.workdir)
        self.log = self.workdir / "outpost.log"
        self.generation = 0
        self.child: process.Child | None = None

    def marker(self, generation: int) -> Path:
        return self.workdir / f"pod-{generation}.ready"

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + HOLD_TIMEOUT
        while not self.marker(1).exists():
            if self.error is not None or time.monotonic() > deadline:
                raise StartError(f"the outpost stand-in did not start: {self.error}")
            time.sleep(0.05)

    def _loop(self) -> None:
        while not self.stopping.is_set():
            self.generation += 1
            with start_tmpfs(self.path, self.size):
                child = process.spawn(
                    [
                        sys.executable,
                        "-m",
                        "akops.rehearse.outpost",
                        "--dir",
                        str(self.path),
                        "--rate",
                        f"{self.rate:.4f}",
                        "--size",
                        str(self.session_bytes),
                        "--max-age",
                        f"{self.max_age:.3f}",
                    ],
                    log=self.log,
                    cwd=self.workdir,
                )
                self.child = child
                with child:
                    self.marker(self.generation).touch()
                    while child.alive() and not self.stopping.is_set():
                        time.sleep(0.05)

    def stand_ins(self) -> dict[str, StandIn]:
        """What the outpost-shm-full runbook's kubectl steps become against this pod."""
        assert self.child is not None
        df = ("df", "-h", str(self.path))
        ready = self.marker(self.generation + 1)
        return {
            "outpost-errors": StandIn(
                ("tail", "-n", "5000", str(self.log)), "the outpost stand-in's log (kubectl logs)"
            ),
            "shm-df": StandIn(df, "df -h on the rehearsal's /dev/shm tmpfs (kubectl exec df)"),
            "restart-outpost": StandIn(
                ("kill", "-TERM", str(self.child.pid)),
                "stops the outpost stand-in; its 'kubelet' replaces the pod with a fresh tmpfs "
                "(kubectl delete pod)",
            ),
            "outpost-ready": StandIn(
                ("/bin/sh", "-c", f"until [ -e {shlex.quote(str(ready))} ]; do sleep 0.1; done"),
                "waits for the replacement pod (kubectl rollout status)",
            ),
            "shm-size": StandIn(df, "df -h on the new pod's tmpfs (kubectl exec df)"),
        }


def shm_fill(
    stack: contextlib.ExitStack,
    path: Path,
    size: int,
    *,
    rate: float,
    session_bytes: int,
    max_age: float,
    workdir: Path,
    source: str,
) -> tuple[Injected, OutpostPod]:
    """The outpost writing sessions at ``rate`` per second into a tmpfs of ``size`` bytes."""
    pod = OutpostPod(
        path, size, rate=rate, session_bytes=session_bytes, max_age=max_age, workdir=workdir
    )
    stack.callback(pod.stop)
    pod.start()
    injected = Injected(
        f"the outpost writes {rate:g} session files/s of {session_bytes} bytes into a "
        f"{size // 1024} KiB tmpfs ({source})",
        stand_ins=pod.stand_ins(),
        stops=[pod.stop],
    )
    return injected, pod


@dataclass(eq=False)
class BouncerPod(_Controller):
    """A PgBouncer pod as its Deployment keeps it, for ``pgbouncer-kill``: the fault kills it
    (SIGKILL to its group, as a node dies); its Service endpoint goes once the readiness probe
    has failed long enough; the runbook's restart (``touch restart.request`` stands in for
    ``kubectl rollout restart``) makes this 'controller' start it again on the same port and
    put it back into the endpoints, then write ``restart.done``."""

    bouncer: Bouncer
    endpoints: Endpoints
    restart: Callable[[contextlib.ExitStack], Bouncer]
    _: KW_ONLY
    readiness: float
    workdir: Path

    def __post_init__(self) -> None:
        super().__init__("pgbouncer-ctl", self.workdir)
        self.request = self.workdir / "restart.request"
        self.done = self.workdir / "restart.done"
        self.stack = contextlib.ExitStack()

    def kill(self) -> None:
        self.bouncer.child.signal(signal.SIGKILL)
        self.bouncer.child.wait(5)
        self.thread.start()

    def _loop(self) -> None:
        # A crash here shows in the stand-in's wait: it never sees restart.done.
        if self.stopping.wait(self.readiness):
            return
        self.endpoints.remove(self.bouncer.address)
        while not self.stopping.is_set():
            if self.request.exists():
                again = self.restart(self.stack)
                self.endpoints.add(again.address)
                self.done.touch()
                return
            self.stopping.wait(0.05)

    def stop(self) -> None:
        super().stop()
        self.stack.close()

    def stand_ins(self) -> dict[str, StandIn]:
        """What the pgbouncer-down runbook's kubectl steps become against this pod."""
        wait = f"until [ -e {shlex.quote(str(self.done))} ]; do sleep 0.1; done"
        return {
            "logs": StandIn(
                ("tail", "-n", "200", str(self.bouncer.log)),
                "the killed PgBouncer's own log (kubectl logs)",
            ),
            "restart": StandIn(
                ("touch", str(self.request)),
                "asks the rehearsal's 'Deployment' to start the PgBouncer again "
                "(kubectl rollout restart)",
            ),
            "wait": StandIn(
                ("/bin/sh", "-c", wait),
                "waits until it serves again and is back in the endpoints (invoke rollout)",
            ),
        }


def pgbouncer_kill(
    stack: contextlib.ExitStack,
    bouncer: Bouncer,
    endpoints: Endpoints,
    restart: Callable[[contextlib.ExitStack], Bouncer],
    *,
    readiness: float,
    workdir: Path,
) -> tuple[Injected, BouncerPod]:
    pod = BouncerPod(bouncer, endpoints, restart, readiness=readiness, workdir=workdir)
    stack.callback(pod.stop)
    pod.kill()
    injected = Injected(
        f"PgBouncer {bouncer.index} ({bouncer.address}) killed (SIGKILL); its endpoint goes "
        f"after the readiness probe's {readiness:g} s here",
        stand_ins=pod.stand_ins(),
    )
    return injected, pod
