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
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from email.message import Message
from typing import TypeVar

from akops.errors import RegistryError
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


class _NoRedirectToHttp(urllib.request.HTTPRedirectHandler):
    """Registries redirect blob and token requests; never from HTTPS down to HTTP."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        if req.full_url.startswith("https:") and not newurl.startswith("https:"):
            return None
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_NoRedirectToHttp())


def _remaining(deadline: float, what: str) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise RegistryError(f"{what}: no answer within the timeout")
    return left


def _request(
    url: str, *, method: str, headers: Mapping[str, str], deadline: float, what: str, timeout: float
) -> tuple[int, Message, bytes]:
    """Send one request; HTTP errors come back as a status, network trouble as RegistryError."""
    req = urllib.request.Request(url, method=method, headers={"User-Agent": USER_AGENT, **headers})
    try:
        with _OPENER.open(req, timeout=_remaining(deadline, what)) as resp:
            body = resp.read() if method == "GET" else b""
            return resp.status, resp.headers, body
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.headers, b""
    except TimeoutError as e:
        raise RegistryError(f"{what}: no answer within {timeout:g}s") from e
    except urllib.error.URLError as e:
        reason = e.reason
        if isinstance(reason, TimeoutError):
            raise RegistryError(f"{what}: no answer within {timeout:g}s") from e
        raise RegistryError(f"{what}: cannot reach the registry ({reason})") from e
    except (OSError, ValueError) as e:  # reset mid-answer, a malformed URL or header
        raise RegistryError(f"{what}: {e}") from e


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
        answer = json.loads(body)
        token = answer.get("token") or answer.get("access_token")
    except (ValueError, AttributeError) as e:
        raise RegistryError(f"{what}: the token service answered no JSON token") from e
    if not isinstance(token, str) or not token:
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
    ``refs`` order is raised. The same tag is asked for once."""
    if not refs:
        return {}
    unique = list(dict.fromkeys((r.api_host, r.path, r.tag) for r in refs.values()))
    by_key = {(r.api_host, r.path, r.tag): r for r in refs.values()}
    with ThreadPoolExecutor(max_workers=min(8, len(unique))) as pool:
        futures = {k: pool.submit(resolve_digest, by_key[k], timeout=timeout) for k in unique}
        return {i: futures[(r.api_host, r.path, r.tag)].result() for i, r in refs.items()}
