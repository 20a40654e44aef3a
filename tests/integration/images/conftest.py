"""A real OCI registry on 127.0.0.1 and images pushed to it by a real client.

``registry`` (session)
    Debian's ``docker-registry`` (the CNCF distribution registry) with its config and
    storage in a temp dir, on a free port of 127.0.0.1. ``registry.push(path, tag,
    content)`` builds a one-layer OCI image layout by hand (layer tarball, config,
    manifest) and pushes it with ``skopeo copy --preserve-digests``; it returns the
    manifest digest computed here, so a test compares the registry's answer with an
    independent figure. Different ``content`` gives a different digest: pushing it to the
    same tag moves the tag.

``token_registry`` (session)
    An HTTP front on 127.0.0.1 that asks for a Bearer token the way public registries do
    (401 + ``WWW-Authenticate: Bearer realm=…,service=…,scope=…``), hands out anonymous
    tokens at its realm, and forwards authorised requests to ``registry``. It records the
    token requests it saw (``.token_requests``).

``stalling_registry`` (function)
    A TCP listener on 127.0.0.1 that accepts connections and never answers.

A missing binary fails the test with what to install; nothing is skipped.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import io
import json
import shutil
import socket
import subprocess
import tarfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from akops.process import Child, spawn

REGISTRY_BIN = "docker-registry"
SKOPEO_BIN = "skopeo"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _need(binary: str, package: str) -> str:
    found = shutil.which(binary)
    if found is None:
        pytest.fail(f"{binary} is missing: apt-get install {package}")
    return found


def _blob(layout: Path, data: bytes) -> tuple[str, int]:
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    return f"sha256:{digest}", len(data)


def build_layout(layout: Path, tag: str, content: bytes, index: bool = False) -> str:
    """A one-layer OCI image layout holding ``content`` as /payload; returns the manifest
    digest, or with ``index`` the digest of an image index (linux/amd64) around it: what a
    multi-platform tag names."""
    tar = io.BytesIO()
    with tarfile.open(fileobj=tar, mode="w") as t:
        info = tarfile.TarInfo("payload")
        info.size = len(content)
        t.addfile(info, io.BytesIO(content))
    raw = tar.getvalue()
    layer, layer_size = _blob(layout, gzip.compress(raw, mtime=0))
    config = {
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{hashlib.sha256(raw).hexdigest()}"]},
        "config": {},
    }
    cfg, cfg_size = _blob(layout, json.dumps(config, sort_keys=True).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": cfg,
            "size": cfg_size,
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": layer,
                "size": layer_size,
            }
        ],
    }
    digest, size = _blob(layout, json.dumps(manifest, sort_keys=True).encode())
    media = "application/vnd.oci.image.manifest.v1+json"
    if index:
        platforms = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {
                    "mediaType": media,
                    "digest": digest,
                    "size": size,
                    "platform": {"architecture": "amd64", "os": "linux"},
                }
            ],
        }
        digest, size = _blob(layout, json.dumps(platforms, sort_keys=True).encode())
        media = "application/vnd.oci.image.index.v1+json"
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    top = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": media,
                "digest": digest,
                "size": size,
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ],
    }
    (layout / "index.json").write_text(json.dumps(top))
    return digest


@dataclass
class Registry:
    host: str
    workdir: Path
    child: Child
    pushes: int = 0

    def push(self, path: str, tag: str, content: bytes, index: bool = False) -> str:
        """Push a fresh one-layer image as ``path:tag``; returns its manifest digest (with
        ``index``: the digest of the image index around it)."""
        self.pushes += 1
        layout = self.workdir / f"layout-{self.pushes}"
        digest = build_layout(layout, tag, content, index)
        done = subprocess.run(
            [
                _need(SKOPEO_BIN, "skopeo"),
                "--insecure-policy",
                "copy",
                "--quiet",
                "--preserve-digests",
                "--all",
                "--dest-tls-verify=false",
                f"oci:{layout}:{tag}",
                f"docker://{self.host}/{path}:{tag}",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return digest


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    binary = _need(REGISTRY_BIN, "docker-registry")
    _need(SKOPEO_BIN, "skopeo")
    workdir = tmp_path_factory.mktemp("registry")
    port = _free_port()
    config = workdir / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log: {level: error, accesslog: {disabled: true}}\n"
        f"storage: {{filesystem: {{rootdirectory: {workdir / 'data'}}}, delete: {{enabled: true}}}}\n"
        f"http: {{addr: '127.0.0.1:{port}'}}\n"
    )
    child = spawn([binary, "serve", str(config)], log=workdir / "registry.log")
    deadline = time.monotonic() + 15
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            try:
                conn.request("GET", "/v2/")
                if conn.getresponse().status == 200:
                    break
            finally:
                conn.close()
        except OSError:
            pass
        if not child.alive or time.monotonic() > deadline:
            child.stop()
            pytest.fail(f"docker-registry did not start: {(workdir / 'registry.log').read_text()}")
        time.sleep(0.1)
    with child:
        yield Registry(f"127.0.0.1:{port}", workdir, child)


@dataclass
class TokenFront:
    host: str
    token_requests: list[dict[str, list[str]]] = field(default_factory=list)


@pytest.fixture(scope="session")
def token_registry(registry: Registry) -> Iterator[TokenFront]:
    """A Bearer-token front for ``registry`` (anonymous tokens, like Docker Hub or ghcr.io)."""
    token = "anonymous-pull-token"
    upstream_host, upstream_port = registry.host.split(":")
    server_holder: list[ThreadingHTTPServer] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _answer(self, code: int, headers: dict[str, str], body: bytes = b"") -> None:
            self.send_response(code)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _serve(self) -> None:
            url = urlparse(self.path)
            port = server_holder[0].server_address[1]
            if url.path == "/token":
                front.token_requests.append(parse_qs(url.query))
                self._answer(
                    200, {"Content-Type": "application/json"}, json.dumps({"token": token}).encode()
                )
                return
            if self.headers.get("Authorization") != f"Bearer {token}":
                repo = url.path.removeprefix("/v2/").rpartition("/manifests/")[0]
                challenge = (
                    f'Bearer realm="http://127.0.0.1:{port}/token",service="test-registry",'
                    f'scope="repository:{repo}:pull"'
                )
                self._answer(401, {"WWW-Authenticate": challenge})
                return
            conn = http.client.HTTPConnection(upstream_host, int(upstream_port), timeout=5)
            try:
                accept = self.headers.get("Accept", "")
                conn.request(self.command, self.path, headers={"Accept": accept})
                resp = conn.getresponse()
                body = resp.read()
            finally:
                conn.close()
            keep = ("Content-Type", "Docker-Content-Digest")
            self._answer(resp.status, {k: v for k, v in resp.getheaders() if k in keep}, body)

        do_GET = _serve
        do_HEAD = _serve

    front = TokenFront("")
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server_holder.append(server)
    front.host = f"127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield front
    server.shutdown()
    server.server_close()


@pytest.fixture
def stalling_registry() -> Iterator[str]:
    """A registry address that accepts connections and never says a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join(timeout=2)
    for conn in held:
        conn.close()
    listener.close()
