"""Bounding a blocking call by a timeout when the library under it offers none.

Rule: runs the call in a daemon thread and stops waiting at the timeout. The thread
is abandoned, not killed (Python cannot kill threads); being a daemon it never holds
the process open. Use it only around calls that have no timeout of their own for
every phase (a database query to a peer that accepted the connection, then froze).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from akops.errors import CallTimeout

T = TypeVar("T")


def call(fn: Callable[[], T], timeout: float, what: str = "call") -> T:
    """``fn()``, or ``CallTimeout`` after ``timeout`` seconds; exceptions propagate."""
    box: dict[str, object] = {}
    done = threading.Event()

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as e:  # handed over to the caller's thread below
            box["error"] = e
        finally:
            done.set()

    threading.Thread(target=target, name=f"akops-{what}", daemon=True).start()
    if not done.wait(timeout):
        raise CallTimeout(f"no answer within {timeout:g}s ({what})")
    if "error" in box:
        error = box["error"]
        assert isinstance(error, BaseException)
        raise error
    return box["value"]  # type: ignore[return-value]
