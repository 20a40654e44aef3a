"""Why a network call got no answer, in the one line every verdict and error shows.

Rule: wording only; no call is made here. The HTTP, Prometheus and TCP edges turn a
transport exception into "connection refused", "no answer within 5s" or "cannot resolve
host: ..." through ``failure``, so the same failure reads the same everywhere.
"""

from __future__ import annotations

import socket


def failure(reason: object, timeout: float) -> str:
    """One line for a transport exception (or urllib's ``URLError.reason``)."""
    if isinstance(reason, TimeoutError):
        return f"no answer within {timeout:g}s"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, socket.gaierror):
        return f"cannot resolve host: {reason.strerror}"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return " ".join(str(reason).split()) or type(reason).__name__
