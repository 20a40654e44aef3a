"""Asking a Prometheus which alerts are active: ``GET /api/v1/alerts``, with a timeout.

Rule: I/O. One GET; every transport failure becomes ``Fetched.error`` (one line: "connection
refused", "no answer within 5s", "HTTP 503 ..."), so a verdict says why instead of a traceback.
"""

from __future__ import annotations

import http.client
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass

from akops.alerts.firing import ActiveAlert, parse
from akops.network import failure

PATH = "/api/v1/alerts"
#: The answer lists every active alert of the Prometheus, not only the stack's.
MAX_BODY = 16 * 1024 * 1024
USER_AGENT = "akops-verify/0.1"


@dataclass(frozen=True)
class Fetched:
    url: str
    alerts: tuple[ActiveAlert, ...] = ()
    error: str | None = None


def active_alerts(base_url: str, timeout: float) -> Fetched:
    """The active alerts of the Prometheus at ``base_url``."""
    url = base_url.rstrip("/") + PATH
    request = urllib.request.Request(
        url, headers={"User-Agent": USER_AGENT, "Accept": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            body = resp.read(MAX_BODY + 1)
    except urllib.error.HTTPError as e:
        with e:
            return Fetched(url, error=f"HTTP {e.code} {e.reason}")
    except urllib.error.URLError as e:
        return Fetched(url, error=failure(e.reason, timeout))
    except (TimeoutError, http.client.HTTPException, ssl.SSLError, OSError, ValueError) as e:
        return Fetched(url, error=failure(e, timeout))
    if len(body) > MAX_BODY:
        return Fetched(url, error=f"answer larger than {MAX_BODY // (1024 * 1024)} MiB")
    try:
        return Fetched(url, parse(body.decode("utf-8", "replace")))
    except ValueError as e:
        return Fetched(url, error=str(e))
