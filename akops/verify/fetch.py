"""HTTP requests of the checks: one GET, never following redirects, always with a timeout.

Rule: I/O. Turns every transport failure into an ``Answer`` with ``error`` set, so a
verdict can say "connection refused" or "no answer within 5s" instead of a traceback.
"""

from __future__ import annotations

from akops import network
from akops.errors import NetworkError
from akops.verify.check import Answer

MAX_BODY = 64 * 1024
USER_AGENT = "akops-verify/0.1"


def get(url: str, timeout: float) -> Answer:
    """GET ``url`` anonymously (no cookies, no redirects followed), within ``timeout`` seconds."""
    try:
        answer = network.request(
            url,
            headers={"User-Agent": USER_AGENT, "Accept": "*/*"},
            timeouts=network.Timeouts.within(timeout),
            max_body=MAX_BODY,
            truncate=True,
            redirects="none",
        )
    except NetworkError as e:
        return Answer(url, error=e.reason)
    return Answer(
        url,
        answer.status,
        answer.reason,
        answer.headers.get("Location"),
        answer.body.decode("utf-8", "replace"),
    )
