"""Asking a Prometheus which alerts are active: ``GET /api/v1/alerts``, with a timeout.

Rule: I/O. One GET; every transport failure becomes ``Fetched.error`` (one line: "connection
refused", "no answer within 5s", "HTTP 503 ..."), so a verdict says why instead of a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass

from akops import network
from akops.alerts.firing import ActiveAlert, parse
from akops.errors import NetworkError

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
    try:
        answer = network.request(
            url,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            timeouts=network.Timeouts.within(timeout),
            max_body=MAX_BODY,
        )
    except NetworkError as e:
        return Fetched(url, error=e.reason)
    if answer.status != 200:
        return Fetched(url, error=f"HTTP {answer.status} {answer.reason}")
    body = answer.body
    try:
        return Fetched(url, parse(body.decode("utf-8", "replace")))
    except ValueError as e:
        return Fetched(url, error=str(e))
