"""Asking an image registry which digest a tag names (the OCI distribution API).

Rule: I/O (HTTP). ``HEAD /v2/<path>/manifests/<tag>`` with the manifest media types in
``Accept`` (index types first, so a multi-platform tag resolves to the digest a node pulls
by), the digest read from ``Docker-Content-Digest`` (or, when a registry leaves that out,
the sha256 of the manifest a GET returns). A 401 with a ``Bearer`` challenge is answered
with the anonymous token flow (GET the realm with service and scope, retry with the
token), as public registries (Docker Hub, ghcr.io) require. Registries on loopback are
spoken to over HTTP, as Docker does. Every request has a timeout, and one resolution is
bounded by it as a whole: the token request and the retry share the same deadline.
"""

from __future__ import annotations

import hashlib
import re
import time
import urllib.parse
from collections.abc import Mapping
from email.message import Message
from typing import Annotated, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from akops import network
from akops.errors import NetworkError, RegistryError
from akops.images.reference import DIGEST_RE, ImageRef

MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
USER_AGENT = "akops-images/1"
_CHALLENGE_RE = re.compile(r'(\w+)="([^"]*)"')
K = TypeVar("K")


#: The distribution spec's limit for a manifest; a larger answer is not one.
MAX_MANIFEST = 4 * 1024 * 1024


def _remaining(deadline: float, what: str) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise RegistryError(f"{what}: no answer within the timeout")
    return left


def _request(
    url: str, *, method: str, headers: Mapping[str, str], deadline: float, what: str, timeout: float
) -> tuple[int, Message, bytes]:
    """Send one request; HTTP errors come back as a status, network trouble as RegistryError."""
    _remaining(deadline, what)
    try:
        answer = network.request(
            url,
            method=method,
            headers={"User-Agent": USER_AGENT, **headers},
            timeouts=network.Timeouts.within(timeout),
            deadline=deadline,
            max_body=MAX_MANIFEST,
        )
    except NetworkError as e:
        if e.reason.startswith("no answer within"):
            raise RegistryError(f"{what}: no answer within {timeout:g}s") from e
        raise RegistryError(f"{what}: cannot reach the registry ({e.reason})") from e
    return answer.status, answer.headers, answer.body


#: A bearer token as it may travel in a header: no space, no control character, bounded.
BearerToken = Annotated[str, Field(pattern=r"^[A-Za-z0-9._~+/=-]+$", max_length=16384)]


class TokenAnswer(BaseModel):
    """The token service's JSON answer (the fields this client reads; others are ignored)."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    token: BearerToken | None = None
    access_token: BearerToken | None = None


def _challenge(headers: Message) -> dict[str, str] | None:
    value = headers.get("WWW-Authenticate", "")
    scheme, _, params = value.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return dict(_CHALLENGE_RE.findall(params))


def _token(
    ref: ImageRef, challenge: Mapping[str, str], *, deadline: float, what: str, timeout: float
) -> str:
    realm = challenge.get("realm", "")
    if not realm.startswith(("https://", "http://")) or (
        realm.startswith("http://") and not ref.loopback
    ):
        raise RegistryError(f"{what}: the registry's token realm {realm!r} is not an HTTPS URL")
    query = {"scope": challenge.get("scope") or f"repository:{ref.path}:pull"}
    if challenge.get("service"):
        query["service"] = challenge["service"]
    url = f"{realm}?{urllib.parse.urlencode(query)}"
    status, _, body = _request(
        url, method="GET", headers={}, deadline=deadline, what=what, timeout=timeout
    )
    if status != 200:
        raise RegistryError(f"{what}: the token service answered HTTP {status}")
    try:
        answer = TokenAnswer.model_validate_json(body)
    except ValidationError as e:
        first = e.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "(the answer)"
        raise RegistryError(
            f"{what}: the token service's answer is not a token: {field}: {first['msg']}"
        ) from e
    token = answer.token or answer.access_token
    if not token:
        raise RegistryError(f"{what}: the token service answered no token")
    return token


def resolve_digest(ref: ImageRef, *, timeout: float) -> str:
    """The digest the registry serves for ``ref``'s tag (``ref``'s own digest is ignored)."""
    if ref.tag is None:
        raise RegistryError(f"{ref.text}: names no tag to resolve")
    what = f"{ref.api_host}/{ref.path}:{ref.tag}"
    deadline = time.monotonic() + timeout
    scheme = "http" if ref.loopback else "https"
    url = f"{scheme}://{ref.api_host}/v2/{ref.path}/manifests/{urllib.parse.quote(ref.tag)}"
    headers = {"Accept": ", ".join(MANIFEST_TYPES)}
    for method in ("HEAD", "GET"):
        status, answer, body = _request(
            url, method=method, headers=headers, deadline=deadline, what=what, timeout=timeout
        )
        if status == 401:
            challenge = _challenge(answer)
            if challenge is None or "Authorization" in headers:
                raise RegistryError(
                    f"{what}: the registry wants credentials (HTTP 401); only anonymous pulls "
                    "are supported"
                )
            token = _token(ref, challenge, deadline=deadline, what=what, timeout=timeout)
            headers = {**headers, "Authorization": f"Bearer {token}"}
            status, answer, body = _request(
                url, method=method, headers=headers, deadline=deadline, what=what, timeout=timeout
            )
        if status == 404:
            raise RegistryError(f"{what}: the registry has no such image or tag (HTTP 404)")
        if status != 200:
            raise RegistryError(f"{what}: the registry answered HTTP {status}")
        digest = answer.get("Docker-Content-Digest", "")
        if DIGEST_RE.match(digest):
            return digest
        if method == "GET" and body:
            return f"sha256:{hashlib.sha256(body).hexdigest()}"
    raise RegistryError(f"{what}: the registry named no digest for the tag")


def resolve_all(refs: Mapping[K, ImageRef], *, timeout: float) -> dict[K, str]:
    """Resolve every image concurrently (each within ``timeout``); the first failure in
    ``refs`` order is raised. The same tag is asked for once. The threads are daemons
    (``akops.network.concurrently``): an interrupt ends the run at once."""
    if not refs:
        return {}
    unique = list(dict.fromkeys((r.api_host, r.path, r.tag) for r in refs.values()))
    by_key = {(r.api_host, r.path, r.tag): r for r in refs.values()}
    answers = network.concurrently(
        lambda k: resolve_digest(by_key[k], timeout=timeout), unique, workers=8
    )
    found = dict(zip(unique, answers, strict=True))
    out: dict[K, str] = {}
    for i, r in refs.items():
        answer = found[(r.api_host, r.path, r.tag)]
        if isinstance(answer, BaseException):
            raise answer
        out[i] = answer
    return out
