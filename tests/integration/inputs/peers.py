"""Peers that misbehave on real sockets: the faults a real server, proxy or load balancer produces.

A stand-in here is the last resort the guide allows: no real registry, chart repository or
API server can be told to hold a connection open and say nothing, to trickle its answer a
byte at a time, or to stream an endless body. Each is a real TCP listener on 127.0.0.1.

``SilentPeer``   accepts every connection and never sends a byte (a frozen server, a
                 firewall that lets SYN through, a TLS port spoken to in plain TCP).
``TricklePeer``  answers ``HTTP/1.1 200`` headers, then one byte of body every 0.2 s, forever
                 (each read finishes in time; only a total deadline ends it).
``EndlessPeer``  answers 200 with no Content-Length and streams bytes as fast as it can.
``StaticPeer``   answers fixed bodies by path (404 otherwise): odd answers of a real shape.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field


@dataclass
class _Listener:
    serve: Callable[[socket.socket, _Listener], None]
    sock: socket.socket = field(init=False)
    _port: int = field(init=False, default=0)
    accepted: int = 0
    requests: list[bytes] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    held: list[socket.socket] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self._port = int(self.sock.getsockname()[1])
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def port(self) -> int:
        return self._port

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}/"

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            self.held.append(conn)
            threading.Thread(target=self.serve, args=(conn, self), daemon=True).start()

    def close(self) -> None:
        self.stop.set()
        for conn in self.held:
            with contextlib.suppress(OSError):
                conn.close()
        self.sock.close()


def _request_line(conn: socket.socket, peer: _Listener) -> bytes:
    conn.settimeout(5)
    data = b""
    with contextlib.suppress(OSError):
        while b"\r\n\r\n" not in data and len(data) < 65536:
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
    line = data.split(b"\r\n", 1)[0]
    peer.requests.append(line)
    return line


def _silent(conn: socket.socket, peer: _Listener) -> None:
    peer.stop.wait()


def _trickle(conn: socket.socket, peer: _Listener) -> None:
    _request_line(conn, peer)
    with contextlib.suppress(OSError):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")
        while not peer.stop.is_set():
            conn.sendall(b"x")
            time.sleep(0.2)


def _endless(conn: socket.socket, peer: _Listener) -> None:
    _request_line(conn, peer)
    block = b"entries: {}\n#" + b"x" * 65536 + b"\n"
    with contextlib.suppress(OSError):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n")
        while not peer.stop.is_set():
            conn.sendall(block)


@contextlib.contextmanager
def silent_peer() -> Iterator[_Listener]:
    peer = _Listener(_silent)
    try:
        yield peer
    finally:
        peer.close()


@contextlib.contextmanager
def trickle_peer() -> Iterator[_Listener]:
    peer = _Listener(_trickle)
    try:
        yield peer
    finally:
        peer.close()


@contextlib.contextmanager
def endless_peer() -> Iterator[_Listener]:
    peer = _Listener(_endless)
    try:
        yield peer
    finally:
        peer.close()


@contextlib.contextmanager
def static_peer(
    answers: Mapping[str, tuple[int, Mapping[str, str], bytes]],
) -> Iterator[_Listener]:
    """Answers ``answers[path]`` = (status, headers, body) to any method; 404 otherwise."""

    def serve(conn: socket.socket, peer: _Listener) -> None:
        with contextlib.suppress(OSError):
            while not peer.stop.is_set():
                line = _request_line(conn, peer)
                if not line:
                    return
                method, _, rest = line.decode("latin-1").partition(" ")
                path = rest.split(" ", 1)[0].split("?", 1)[0]
                status, headers, body = answers.get(path, (404, {}, b"not found"))
                head = f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n"
                head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
                conn.sendall(head.encode() + b"\r\n" + (b"" if method == "HEAD" else body))

    peer = _Listener(serve)
    try:
        yield peer
    finally:
        peer.close()
