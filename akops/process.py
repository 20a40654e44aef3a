"""Every child process the project starts: its own process group, a deadline, killed as a group.

Rule: I/O edge (subprocess, signal). kubectl execs, helm, runbook commands, rehearsal services
and test servers all start here, so there is one answer to "how is a child stopped": TERM to its
whole process group, a grace period, then KILL. That happens on timeout, and on interrupt or
termination of the parent: every live child is registered, and ``signal_guard`` (entry points
only) turns SIGINT, SIGTERM and SIGHUP into ``Interrupted`` and stops them all on the way out.

Every child also belongs to the ``Owner`` in effect where it was started (a context
variable: ``with owned(owner):``), so that a part of a task (a runbook's check step) stops
exactly what it started, and not the child another thread started meanwhile (a rehearsal's
outpost writer). Threads a part starts carry its owner along (``carried``).
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO

from akops.errors import Interrupted, ProcessTimeout, ToolMissingError

__all__ = [
    "GRACE",
    "Child",
    "Completed",
    "Interrupted",
    "Owner",
    "carried",
    "children",
    "kill_group",
    "owned",
    "run",
    "shell",
    "signal_guard",
    "spawn",
    "stop_owned",
    "terminate_all",
]

#: Seconds a group gets between TERM and KILL when nobody says otherwise.
GRACE = 2.0
GUARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

_lock = threading.Lock()
_live: dict[int, subprocess.Popen[bytes]] = {}


class Owner:
    """Who started a child: a part of a task that stops its own children (``stop_owned``)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Owner({self.name!r})"


_owner: contextvars.ContextVar[Owner | None] = contextvars.ContextVar("akops_owner", default=None)
_owners: dict[int, Owner | None] = {}
#: Set when a stopped task is exiting (``signal_guard(exiting=True)``): a child whose start
#: finishes after that is killed at once instead of outliving the task.
_closed = False


@contextlib.contextmanager
def owned(owner: Owner) -> Iterator[Owner]:
    """Children started in this block (in this thread, and in threads it starts with
    ``carried``) belong to ``owner``."""
    token = _owner.set(owner)
    try:
        yield owner
    finally:
        _owner.reset(token)


def carried(fn: Callable[[], None]) -> Callable[[], None]:
    """``fn`` to run on another thread in a copy of this context: with this thread's owner."""
    context = contextvars.copy_context()
    return lambda: context.run(fn)


@dataclass(frozen=True)
class Completed:
    """A finished child: its argv, exit status and (masked) output."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def _register(proc: subprocess.Popen[bytes]) -> None:
    with _lock:
        if not _closed:
            _live[proc.pid] = proc
            _owners[proc.pid] = _owner.get()
            return
    # The task was stopped while another thread was starting this child (its Popen returned
    # after the cleanup had run): nobody is left to stop it, so it goes now.
    _signal_group(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=GRACE)
    raise Interrupted()


def _close() -> None:
    global _closed
    with _lock:
        _closed = True


def _unregister(proc: subprocess.Popen[bytes]) -> None:
    with _lock:
        _live.pop(proc.pid, None)
        _owners.pop(proc.pid, None)


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _stop(proc: subprocess.Popen[bytes], grace: float) -> None:
    """TERM the group, give the leader ``grace`` seconds, then KILL whatever of the group is left.

    The KILL goes out even when the leader exited in time: a grandchild that ignored TERM
    (a shell's background job, kubectl's port-forward) must not outlive the task.
    """
    _signal_group(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace)
    _signal_group(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace)
    _unregister(proc)


def kill_group(pid: int, grace: float = GRACE) -> None:
    """TERM the process group ``pid``, wait up to ``grace`` for it to go, then KILL it."""
    proc = _live.get(pid)
    if proc is not None:
        _stop(proc, grace)
        return
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(0.05)
    _signal_group(pid, signal.SIGKILL)


def children() -> frozenset[int]:
    """The process groups of every live child started here (to stop only those a task started)."""
    with _lock:
        return frozenset(_live)


def stop_owned(owner: Owner, grace: float = GRACE) -> None:
    """Stop every live child of ``owner``, and only those: TERM to their groups, then KILL."""
    with _lock:
        procs = [p for pid, p in _live.items() if _owners.get(pid) is owner]
    _stop_all(procs, grace)


def terminate_all(grace: float = GRACE, *, keep: frozenset[int] = frozenset()) -> None:
    """Stop every live child this process started (but those in ``keep``): TERM to all groups
    at once, then KILL."""
    with _lock:
        procs = [p for pid, p in _live.items() if pid not in keep]
    _stop_all(procs, grace)


def _stop_all(procs: Sequence[subprocess.Popen[bytes]], grace: float) -> None:
    for proc in procs:
        _signal_group(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
    for proc in procs:
        _signal_group(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace)
        _unregister(proc)


def _popen(
    argv: Sequence[str],
    *,
    cwd: Path | None,
    env: Mapping[str, str] | None,
    stdin: int | IO[bytes],
    stdout: int | IO[bytes],
    stderr: int | IO[bytes],
) -> subprocess.Popen[bytes]:
    if not argv:
        raise ToolMissingError("no program given to run")
    try:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=None if env is None else dict(env),
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,  # its own group: the kill reaches everything it spawns
        )
    except FileNotFoundError as e:
        raise ToolMissingError(f"{argv[0]}: program not found; install it or put it on PATH") from e
    except PermissionError as e:
        raise ToolMissingError(f"{argv[0]}: not executable ({e.strerror})") from e
    _register(proc)
    return proc


def _text(raw: bytes, mask: Callable[[str], str] | None) -> str:
    text = raw.decode("utf-8", errors="replace")
    return mask(text) if mask else text


def run(
    argv: Sequence[str],
    *,
    timeout: float,
    input: str | None = None,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    mask: Callable[[str], str] | None = None,
    on_line: Callable[[str], None] | None = None,
) -> Completed:
    """Run ``argv`` to completion within ``timeout`` seconds; its group is killed on any way out.

    Output is captured as text and masked. With ``on_line``, stdout and stderr are merged and
    each line is passed on (masked) while the child runs; ``stdout`` then holds all of it.
    Raises ``ToolMissingError`` (no such program) and ``ProcessTimeout`` (killed at the deadline).
    The run ends when the program exits, not when its pipes close: a background grandchild
    still holding them is killed with the group instead of hanging the caller.
    """
    proc = _popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if on_line else subprocess.PIPE,
    )
    out: list[bytes] = []
    err: list[bytes] = []
    threads = [_reader(proc.stdout, out, mask, on_line)]
    if proc.stderr is not None:
        threads.append(_reader(proc.stderr, err, mask, None))
    if input is not None:
        threads.append(_feeder(proc.stdin, input.encode()))
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop(proc, GRACE)
        raise ProcessTimeout(
            f"{Path(argv[0]).name}: no answer within {timeout:g}s (its process group was killed)"
        ) from None
    except BaseException:
        _stop(proc, GRACE)
        raise
    else:
        # The leader has exited; whatever it left in its group goes too.
        _signal_group(proc.pid, signal.SIGKILL)
        _unregister(proc)
    finally:
        for thread in threads:
            thread.join(timeout=GRACE)
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
    return Completed(
        tuple(argv), proc.returncode, _text(b"".join(out), mask), _text(b"".join(err), mask)
    )


def _reader(
    stream: IO[bytes] | None,
    sink: list[bytes],
    mask: Callable[[str], str] | None,
    on_line: Callable[[str], None] | None,
) -> threading.Thread:
    assert stream is not None

    def pump() -> None:
        with contextlib.suppress(OSError, ValueError):
            for raw in iter(stream.readline, b""):
                sink.append(raw)
                if on_line is not None:
                    on_line(_text(raw, mask).rstrip("\r\n"))

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    return thread


def _feeder(stream: IO[bytes] | None, data: bytes) -> threading.Thread:
    assert stream is not None

    def feed() -> None:
        with contextlib.suppress(OSError, ValueError):
            stream.write(data)
            stream.close()

    thread = threading.Thread(target=feed, daemon=True)
    thread.start()
    return thread


def shell(command: str, *, timeout: float, **kw: object) -> Completed:
    """``run`` of ``/bin/sh -c command``; the command must already be quoted (shlex/testinfra)."""
    return run(["/bin/sh", "-c", command], timeout=timeout, **kw)  # type: ignore[arg-type]


class Child:
    """A long-running child (a server): its own group, stopped as a group, also on interrupt."""

    def __init__(self, proc: subprocess.Popen[bytes], argv: Sequence[str], log: Path | None):
        self.proc = proc
        self.argv = tuple(argv)
        self.log = log

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the whole group (SIGSTOP/SIGCONT freeze and thaw a server)."""
        _signal_group(self.proc.pid, sig)

    def wait(self, timeout: float) -> int | None:
        """The exit status, or None if still running after ``timeout`` seconds."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, grace: float = 5.0) -> int | None:
        """TERM the group, wait up to ``grace``, KILL what is left; returns the exit status."""
        # A stopped (SIGSTOP) group never acts on TERM until continued.
        _signal_group(self.proc.pid, signal.SIGCONT)
        _stop(self.proc, grace)
        return self.proc.returncode

    def __enter__(self) -> Child:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def spawn(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    log: Path | None = None,
) -> Child:
    """Start a long-running child whose output goes to ``log`` (appended) or nowhere."""
    if log is None:
        return Child(
            _popen(
                argv,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            ),
            argv,
            None,
        )
    with log.open("ab") as sink:
        proc = _popen(
            argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT
        )
    return Child(proc, argv, log)


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signum)


@contextlib.contextmanager
def signal_guard(*, exiting: bool = False) -> Iterator[None]:
    """Entry points: SIGINT/SIGTERM/SIGHUP raise ``Interrupted``; leaving by any exception stops
    every child started inside the block. Outside the main thread (where handlers cannot be
    set) it only cleans up.

    ``exiting``: the caller exits as soon as a signal has stopped the block (a task). The
    guarded signals then stay ignored instead of going back to their default action, so a
    second one (Ctrl-C then TERM, one still pending) cannot kill the process before it says
    why it stops and exits 128 + the first one's number.

    Children that were already running when the block began belong to whoever started them
    (a rehearsal's PostgreSQL around a runbook run, a test's services): they are left alone.
    """
    main = threading.current_thread() is threading.main_thread()
    with _lock:
        before = frozenset(_live)
    previous: dict[int, object] = {}
    if main:
        for sig in GUARDED:
            previous[sig] = signal.signal(sig, _raise_interrupted)
    stopping = False
    try:
        yield
    except BaseException as e:
        stopping = exiting and isinstance(e, KeyboardInterrupt)
        if stopping:
            _close()
        with _quiet(main):
            terminate_all(keep=before)
        raise
    finally:
        for signum, handler in previous.items():
            # Ignoring also drops a signal still pending (blocked around a fork or a stop).
            signal.signal(signum, signal.SIG_IGN if stopping else handler)  # type: ignore[arg-type]


@contextlib.contextmanager
def _quiet(main: bool) -> Iterator[None]:
    """A second Ctrl-C (or a hangup) during the cleanup must not leave children behind."""
    if not main:
        yield
        return
    saved = {sig: signal.signal(sig, signal.SIG_IGN) for sig in GUARDED}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
