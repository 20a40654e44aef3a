"""Every HTTP call of the project: one timeout policy, one wording of failures.

Rule: I/O (sockets through urllib), at the foundation so every edge shares it: the registry,
the chart repository's index, the Authentik API, Prometheus, the checks' GETs. A call has

- a connect timeout (TCP and TLS handshake), a read timeout (each wait for bytes), and a
  total deadline for the whole exchange, enforced by a watchdog that shuts the socket down,
  so a peer that accepts and then trickles or never answers cannot hold a run past it;
- a cap on the body it reads (an endless answer is refused, not buffered);
- no retry: callers that retry own their budget.

A call in the main thread is interrupted by SIGINT, SIGTERM or SIGHUP within a second
(the signal interrupts the blocking ``recv``; ``akops.process.signal_guard`` turns it into
``Interrupted``). Calls made concurrently run in daemon threads (``concurrently``), so the
interrupted main thread never waits for them. Helm's network calls are a child process's,
bounded by ``Timeouts.total`` through ``akops.process.run``.

``failure`` words a transport exception ("connection refused", "no answer within 5s",
"cannot resolve host: ..."), so the same failure reads the same everywhere.
"""

from __future__ import annotations

import contextlib
import http.client
import queue
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from email.message import Message
from typing import Any, Literal, TypeVar

from akops.errors import NetworkError

__all__ = ["Answer", "NetworkError", "Timeouts", "concurrently", "failure", "request"]

K = TypeVar("K")
V = TypeVar("V")

#: Seconds a TCP connect (and TLS handshake) may take unless the caller says otherwise.
CONNECT_TIMEOUT = 10.0
#: Seconds any one wait for bytes may take.
READ_TIMEOUT = 30.0
#: Seconds a whole exchange may take.
TOTAL_TIMEOUT = 60.0
#: Bytes of an answer's body read at most unless the caller says otherwise.
MAX_BODY = 16 * 1024 * 1024


@dataclass(frozen=True)
class Timeouts:
    """The timeout policy of one call: connect, each read, the whole exchange (seconds)."""

    connect: float = CONNECT_TIMEOUT
    read: float = READ_TIMEOUT
    total: float = TOTAL_TIMEOUT

    @classmethod
    def within(cls, total: float) -> Timeouts:
        """The default policy, held to ``total`` seconds for the whole exchange."""
        return cls(min(CONNECT_TIMEOUT, total), min(READ_TIMEOUT, total), total)


@dataclass(frozen=True)
class Answer:
    """What a peer answered: any status (errors included), headers, the body read."""

    url: str
    status: int
    reason: str
    headers: Message = field(repr=False)
    body: bytes = field(repr=False)


def failure(reason: object, timeout: float) -> str:
    """One line for a transport exception (or urllib's ``URLError.reason``)."""
    if isinstance(reason, TimeoutError | socket.timeout):
        return f"no answer within {timeout:g}s"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, socket.gaierror):
        return f"cannot resolve host: {reason.strerror}"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return " ".join(str(reason).split()) or type(reason).__name__


class _Watch:
    """The sockets of one call, and the watchdog that shuts them at the deadline."""

    def __init__(self, seconds: float) -> None:
        self.sockets: list[socket.socket] = []
        self.fired = False
        self.lock = threading.Lock()
        self.timer = threading.Timer(max(0.0, seconds), self._fire)
        self.timer.daemon = True
        self.timer.start()

    def add(self, sock: socket.socket) -> None:
        with self.lock:
            self.sockets.append(sock)
            if self.fired:
                _shut(sock)

    def _fire(self) -> None:
        with self.lock:
            self.fired = True
            for sock in self.sockets:
                _shut(sock)

    def done(self) -> None:
        self.timer.cancel()


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _opener(
    timeouts: Timeouts, remaining: float, watch: _Watch, redirects: str
) -> urllib.request.OpenerDirector:
    connect = max(0.01, min(timeouts.connect, remaining))
    read = max(0.01, min(timeouts.read, remaining))

    class Connection(http.client.HTTPConnection):
        def connect(self) -> None:
            self.timeout = connect
            super().connect()
            self.sock.settimeout(read)
            watch.add(self.sock)

    class SecureConnection(http.client.HTTPSConnection):
        def connect(self) -> None:
            self.timeout = connect
            super().connect()
            self.sock.settimeout(read)
            watch.add(self.sock)

    class Plain(urllib.request.HTTPHandler):
        def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(Connection, req)

    class Secure(urllib.request.HTTPSHandler):
        def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(SecureConnection, req, context=self._context)  # type: ignore[attr-defined]

    handlers: list[Any] = [Plain(), Secure()]
    if redirects == "none":
        handlers.append(_NoRedirect())
    else:
        handlers.append(_NoDowngrade())
    return urllib.request.build_opener(*handlers)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the caller judges the redirect itself


class _NoDowngrade(urllib.request.HTTPRedirectHandler):
    """Follow redirects, never from HTTPS down to HTTP."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        if req.full_url.startswith("https:") and not newurl.startswith("https:"):
            return None
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def request(
    url: str,
    *,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    timeouts: Timeouts | None = None,
    deadline: float | None = None,
    max_body: int = MAX_BODY,
    truncate: bool = False,
    redirects: Literal["none", "safe"] = "safe",
) -> Answer:
    """Send one request; any HTTP status comes back as an ``Answer``.

    ``deadline`` (``time.monotonic()``) bounds the call when it shares a budget with others
    (a token request and its retry); otherwise ``timeouts.total`` from now. Transport
    trouble, a missed deadline and a body over ``max_body`` are ``NetworkError`` (with
    ``truncate``, the first ``max_body`` bytes are kept instead: a page judged by its start).
    """
    policy = timeouts or Timeouts()
    end = deadline if deadline is not None else time.monotonic() + policy.total
    remaining = end - time.monotonic()
    budget = policy.total if deadline is None else max(0.0, remaining)
    if remaining <= 0:
        raise NetworkError(f"no answer within {budget:g}s")
    watch = _Watch(remaining)
    req = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
    try:
        opener = _opener(policy, remaining, watch, redirects)
        try:
            resp = opener.open(req)
        except urllib.error.HTTPError as e:
            resp = e  # an answer, not a failure
        with resp:
            data = b"" if method == "HEAD" else _read(resp, max_body, truncate)
            if watch.fired:  # the watchdog cut a trickling answer short
                raise NetworkError(f"no answer within {budget:g}s")
            status = int(getattr(resp, "status", None) or resp.getcode() or 0)
            reason = str(getattr(resp, "reason", "") or "")
            return Answer(url, status, reason, resp.headers, data)
    except NetworkError:
        raise
    except urllib.error.URLError as e:
        raise NetworkError(_why(e.reason, watch, policy, budget)) from e
    except (OSError, http.client.HTTPException, ssl.SSLError, ValueError) as e:
        raise NetworkError(_why(e, watch, policy, budget)) from e
    finally:
        watch.done()


def _read(resp: Any, max_body: int, truncate: bool) -> bytes:
    data = resp.read(max_body if truncate else max_body + 1)
    if len(data) > max_body:
        raise NetworkError(f"answer larger than {_size(max_body)}; refusing the rest")
    return bytes(data)


def _size(n: int) -> str:
    return f"{n // (1024 * 1024)} MiB" if n >= 1024 * 1024 else f"{n} bytes"


def _why(e: object, watch: _Watch, policy: Timeouts, budget: float) -> str:
    if watch.fired:
        return f"no answer within {budget:g}s"
    if isinstance(e, TimeoutError | socket.timeout):
        return f"no answer within {min(policy.read, budget):g}s"
    return failure(e, budget)


def concurrently(
    work: Callable[[V], K], items: Iterable[V], *, workers: int = 8
) -> list[K | BaseException]:
    """``work(item)`` for every item in daemon threads; results (or exceptions) in order.

    The caller waits interruptibly: a signal raises in the main thread at once, and the
    threads, daemons, never hold the process open (their calls end at their own deadline).
    """
    todo = list(enumerate(items))
    results: dict[int, K | BaseException] = {}
    done: queue.Queue[tuple[int, K | BaseException]] = queue.Queue()
    jobs: queue.Queue[tuple[int, V]] = queue.Queue()
    for item in todo:
        jobs.put(item)

    def run() -> None:
        while True:
            try:
                i, item = jobs.get_nowait()
            except queue.Empty:
                return
            try:
                done.put((i, work(item)))
            except Exception as e:  # handed to the caller in order
                done.put((i, e))

    for n in range(min(workers, len(todo))):
        threading.Thread(target=run, name=f"akops-net-{n}", daemon=True).start()
    while len(results) < len(todo):
        i, result = done.get()
        results[i] = result
    return [results[i] for i in range(len(todo))]
