"""Image references as Kubernetes and registries read them: ``[host/]path[:tag][@digest]``.

Rule: pure. Follows the distribution reference grammar: the first path component is a
registry host when it has a ``.`` or ``:`` or is ``localhost``; otherwise the image is on
Docker Hub, whose API host is ``registry-1.docker.io`` and whose one-component names live
under ``library/``. The text the operator wrote is kept, so a pin only appends a digest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_PATH_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_HOST_RE = re.compile(r"^(?:[A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\])(?::[0-9]+)?$")
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
LOOPBACK_HOSTS = ("localhost", "127.", "[::1]")


@dataclass(frozen=True)
class ImageRef:
    """A parsed image reference; ``text`` is exactly what was written."""

    text: str
    domain: str
    path: str
    tag: str | None
    digest: str | None

    @property
    def api_host(self) -> str:
        """Host (and port) of the registry's HTTP API."""
        return DOCKER_HUB_API if self.domain == DOCKER_HUB else self.domain

    @property
    def loopback(self) -> bool:
        """A registry on this machine: spoken to over plain HTTP, as Docker does."""
        return self.domain.startswith(LOOPBACK_HOSTS)

    @property
    def unpinned(self) -> str:
        """The written reference without its ``@digest``."""
        return self.text.partition("@")[0]

    @property
    def repository(self) -> str:
        """``domain/path``: what a running container's image ID names (without the tag)."""
        return f"{self.domain}/{self.path}"

    def pinned(self, digest: str) -> str:
        """The written reference with ``digest`` in place of any digest it had."""
        if not DIGEST_RE.match(digest):
            raise ValueError(f"not a sha256 digest: {digest!r}")
        return f"{self.unpinned}@{digest}"


def parse_image(text: str) -> ImageRef:
    """Parse ``text``; ``ValueError`` with a one-line reason when it is not an image reference."""
    if not text or text != text.strip():
        raise ValueError(f"not an image reference: {text!r}")
    name, at, digest = text.partition("@")
    if at and not DIGEST_RE.match(digest):
        raise ValueError(f"{text!r}: the digest must be sha256: and 64 lowercase hex digits")
    tag = None
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
        if not _TAG_RE.match(tag):
            raise ValueError(f"{text!r}: invalid tag {tag!r}")
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        if not _HOST_RE.match(first):
            raise ValueError(f"{text!r}: invalid registry host {first!r}")
        domain, path = first, rest
    else:
        domain, path = DOCKER_HUB, name
        if "/" not in path:
            path = f"library/{path}"
    if not _PATH_RE.match(path):
        raise ValueError(f"{text!r}: invalid repository name {path!r} (lowercase, digits, . _ -)")
    if tag is None and not at:
        raise ValueError(f"{text!r}: names neither a tag nor a digest")
    return ImageRef(text, domain, path, tag, digest or None)


def digest_of_image_id(image_id: str) -> str | None:
    """The ``sha256:…`` digest a container status's ``imageID`` names, if it names one.

    Runtimes write ``docker-pullable://repo@sha256:…``, ``repo@sha256:…`` or a bare
    ``sha256:…`` (the config digest of a locally built image, not a registry digest).
    """
    _, at, digest = image_id.rpartition("@")
    return digest if at and DIGEST_RE.match(digest) else None
