"""HTTP requests of the checks: one GET, never following redirects, always with a timeout.

Rule: I/O. Turns every transport failure into an ``Answer`` with ``error`` set, so a
verdict can say "connection refused" or "no answer within 5s" instead of a traceback.
"""

from __future__ import annotations

import http.client
import ssl
import urllib.error
import urllib.request
from typing import Any

from akops.network import failure
from akops.verify.check import Answer

MAX_BODY = 64 * 1024
USER_AGENT = "akops-verify/0.1"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the caller judges the redirect itself


_OPENER = urllib.request.build_opener(_NoRedirect)


def get(url: str, timeout: float) -> Answer:
    """GET ``url`` anonymously (no cookies, no redirects followed)."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": "*/*"})
    try:
        with _OPENER.open(request, timeout=timeout) as resp:
            body = resp.read(MAX_BODY).decode("utf-8", "replace")
            return Answer(url, resp.status, resp.reason, resp.headers.get("Location"), body)
    except urllib.error.HTTPError as e:
        with e:
            body = e.read(MAX_BODY).decode("utf-8", "replace") if e.fp else ""
        return Answer(url, e.code, str(e.reason), e.headers.get("Location"), body)
    except urllib.error.URLError as e:
        return Answer(url, error=failure(e.reason, timeout))
    except (TimeoutError, http.client.HTTPException, ssl.SSLError, OSError, ValueError) as e:
        return Answer(url, error=failure(e, timeout))
