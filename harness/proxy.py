"""A fault-injecting HTTPS proxy in front of the real API server: a stand-in for the network.

The real kube-apiserver will not, on demand, drop a watch mid-stream, answer 500 or 429 with
``Retry-After``, stall, or drop a connection before answering; a network between a client and a
cluster does all of these. ``FaultProxy`` listens on 127.0.0.1, terminates TLS with the control
plane's own serving certificate (the plane's CA trusts it, so a client's kubeconfig differs
only in its ``server``), and forwards every request to the API server over a new TLS
connection as the plane's operator identity. What the tests control:

- ``fail(...)``: the next N requests matching a method, a path pattern and optionally a kind
  (watch or not, dry run or not) get a Kubernetes ``Status`` with that code (429 with
  ``Retry-After``), or ``DROP`` (the connection is reset before any answer), ``STALL`` (the
  request is held, never answered, until the client gives up), or ``CUT`` (the real answer
  starts, then the connection is reset after its first bytes: a watch dropped mid-stream);
- ``requests(...)``: what reached the proxy (method, path, query, content type), in order, so a
  test can say "no request was sent" or "the apply carried ``fieldManager=akops``";
- ``kubeconfig(...)``: a kubeconfig whose context points at the proxy.

It answers nothing of its own except the faults: every other answer is the API server's.
Not part of the library (``akops`` never imports ``harness``).
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import re
import socket
import ssl
import struct
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

#: ``fail(..., status=DROP)``: reset the connection without an answer.
DROP = 0
#: ``fail(..., status=STALL)``: never answer (the client's read timeout ends it).
STALL = -1
#: ``fail(..., status=CUT)``: forward, then reset the connection after the answer's first bytes.
CUT = -2
#: Seconds a stalled request is held at most (the proxy's close releases it earlier).
STALL_LIMIT = 600.0
UPSTREAM_TIMEOUT = 120.0
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "content-length",
    "host",
}


@dataclass
class Fault:
    method: str
    path: re.Pattern[str]
    status: int
    times: int
    real_only: bool = False  # only requests without dryRun (fail the apply, not the plan)
    message: str = ""
    watch: bool | None = None  # True: only watches; False: only the others
    retry_after: str = "0"


@dataclass(frozen=True)
class Seen:
    """One request that reached the proxy."""

    method: str
    path: str
    params: dict[str, str]
    content_type: str
    fault: int | None  # the fault it met, if any

    @property
    def is_watch(self) -> bool:
        return self.params.get("watch") in ("true", "1")

    @property
    def dry_run(self) -> bool:
        return bool(self.params.get("dryRun"))


def status_body(code: int, message: str) -> bytes:
    reasons = {429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable"}
    doc = {
        "apiVersion": "v1",
        "kind": "Status",
        "metadata": {},
        "status": "Failure",
        "code": code,
        "reason": reasons.get(code, "Injected"),
        "message": message,
    }
    return json.dumps(doc).encode()


@dataclass
class _State:
    upstream_host: str
    upstream_port: int
    upstream_tls: ssl.SSLContext
    faults: list[Fault] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    closing: threading.Event = field(default_factory=threading.Event)

    def match(self, method: str, path: str, params: dict[str, str]) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.times <= 0 or fault.method != method or not fault.path.search(path):
                    continue
                if fault.real_only and params.get("dryRun"):
                    continue
                is_watch = params.get("watch") in ("true", "1")
                if fault.watch is not None and fault.watch != is_watch:
                    continue
                fault.times -= 1
                return fault
        return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    upstream: http.client.HTTPSConnection | None = None

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._forward()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def _body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length:
            return self.rfile.read(int(length))
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        return b""

    def _abort(self) -> None:
        """Reset the client's connection: no answer (or no end of one), no TLS close_notify.

        Linger 0 makes the close a RST; the close itself happens when the handler returns."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def _forward(self) -> None:
        state = self.server.state
        url = urlsplit(self.path)
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        body = self._body()
        fault = state.match(self.command, url.path, params)
        with state.lock:
            state.seen.append(
                Seen(
                    self.command,
                    url.path,
                    params,
                    self.headers.get("Content-Type", ""),
                    None if fault is None else fault.status,
                )
            )
        if fault is not None and fault.status == DROP:
            return self._abort()
        if fault is not None and fault.status == STALL:
            state.closing.wait(STALL_LIMIT)
            return self._abort()
        if fault is not None and fault.status > 0:
            payload = status_body(fault.status, fault.message or f"injected {fault.status}")
            self.send_response(fault.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            if fault.status == 429:
                self.send_header("Retry-After", fault.retry_after)
            self.end_headers()
            self.wfile.write(payload)
            return None
        try:
            answer = self._upstream(body)
        except (OSError, http.client.HTTPException):
            return self._abort()  # the API server went away: the client sees a broken link
        self._relay(answer, cut=fault is not None and fault.status == CUT)
        return None

    def _upstream(self, body: bytes) -> http.client.HTTPResponse:
        state = self.server.state
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        # One upstream connection per client connection, kept alive as the client keeps its own.
        for attempt in (1, 2):
            if self.upstream is None:
                self.upstream = http.client.HTTPSConnection(
                    state.upstream_host,
                    state.upstream_port,
                    context=state.upstream_tls,
                    timeout=UPSTREAM_TIMEOUT,
                )
            try:
                self.upstream.request(self.command, self.path, body=body or None, headers=headers)
                return self.upstream.getresponse()
            except (OSError, http.client.HTTPException):
                self.upstream.close()
                self.upstream = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _relay(self, answer: http.client.HTTPResponse, *, cut: bool) -> None:
        self.send_response_only(answer.status, answer.reason)
        for k, v in answer.getheaders():
            if k.lower() not in HOP_BY_HOP:
                self.send_header(k, v)
        length = answer.getheader("Content-Length")
        if length is not None and not cut:
            payload = answer.read()
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        if self.command == "HEAD" or answer.status in (204, 304):
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        while True:
            try:
                piece = answer.read1(65536)
            except (OSError, http.client.HTTPException):
                piece = b""
                cut = True
            if not piece:
                break
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.flush()
            if cut:  # a first event went out: the link breaks mid-stream
                answer.close()
                if self.upstream is not None:
                    self.upstream.close()
                    self.upstream = None
                return self._abort()
            if self.server.state.closing.is_set():
                break
        if cut:
            return self._abort()
        self.wfile.write(b"0\r\n\r\n")

    def finish(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            super().finish()
        if self.upstream is not None:
            self.upstream.close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    state: _State

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that went away mid-answer is the normal end of a cut or a stall


class FaultProxy:
    """The proxy (see the module docstring): ``url``, ``fail``, ``requests``, ``kubeconfig``."""

    def __init__(
        self, upstream: str, *, ca: Path, server_cert: Path, server_key: Path,
        client_cert: Path, client_key: Path,
    ) -> None:  # fmt: skip
        host, port = urlsplit(upstream).hostname or "127.0.0.1", urlsplit(upstream).port or 443
        upstream_tls = ssl.create_default_context(cafile=str(ca))
        upstream_tls.load_cert_chain(str(client_cert), str(client_key))
        self.ca = ca
        self.client_cert = client_cert
        self.client_key = client_key
        serving = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        serving.load_cert_chain(str(server_cert), str(server_key))
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.state = _State(host, port, upstream_tls)
        self._server.socket = serving.wrap_socket(self._server.socket, server_side=True)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fault-proxy", daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def fail(
        self,
        method: str,
        path: str,
        status: int,
        times: int = 1,
        *,
        real_only: bool = False,
        message: str = "",
        watch: bool | None = None,
        retry_after: str = "0",
    ) -> Fault:
        """Answer the next ``times`` matching requests with ``status`` (or DROP, STALL, CUT)."""
        fault = Fault(
            method.upper(), re.compile(path), status, times, real_only, message, watch, retry_after
        )
        with self._server.state.lock:
            self._server.state.faults.append(fault)
        return fault

    def clear(self) -> None:
        """Forget every fault (requests go straight through again)."""
        with self._server.state.lock:
            self._server.state.faults.clear()

    def requests(self, method: str | None = None, path: str | None = None) -> list[Seen]:
        """The requests that reached the proxy, in order (``path``: a pattern searched for)."""
        with self._server.state.lock:
            seen = list(self._server.state.seen)
        return [
            s
            for s in seen
            if (method is None or s.method == method.upper())
            and (path is None or re.search(path, s.path))
        ]

    def forget(self) -> None:
        """Forget the requests seen so far."""
        with self._server.state.lock:
            self._server.state.seen.clear()

    def kubeconfig(self, context: str, current: str | None = None) -> dict[str, Any]:
        """A kubeconfig whose ``context`` points at the proxy (``current`` may name another)."""

        def inline(path: Path) -> str:
            return base64.b64encode(path.read_bytes()).decode("ascii")

        names = sorted({context, current or context})
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "proxied",
                    "cluster": {"server": self.url, "certificate-authority-data": inline(self.ca)},
                }
            ],
            "users": [
                {
                    "name": "operator",
                    "user": {
                        "client-certificate-data": inline(self.client_cert),
                        "client-key-data": inline(self.client_key),
                    },
                }
            ],
            "contexts": [
                {"name": n, "context": {"cluster": "proxied", "user": "operator"}} for n in names
            ],
            "current-context": current or context,
        }

    def close(self) -> None:
        self._server.state.closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
