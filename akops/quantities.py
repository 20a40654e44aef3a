"""Kubernetes quantities and int-or-percent values as numbers.

Rule: pure; below the renderer, lint and the rehearsals, which all read quantities. Written
here rather than imported from ``kubernetes.utils`` because that import costs ~0.4 s, more
than the whole lint of an environment.
"""

from __future__ import annotations

import math
import re
from typing import Any

_SUFFIX = {
    "": 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
    "m": 10**-3,
}
_QUANTITY_RE = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E|m|)$")

MIB = 2**20


def parse_quantity(value: Any) -> float | None:
    """``"1.5Gi"`` → bytes (or cores for cpu); None when it is not a quantity."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    m = _QUANTITY_RE.match(str(value).strip())
    if not m:
        return None
    try:
        return float(m.group(1)) * _SUFFIX[m.group(2)]
    except ValueError:
        return None


def mib(value: float) -> str:
    """Bytes as a readable MiB figure for messages."""
    return f"{value / MIB:.0f}Mi"


def scaled(value: Any, total: int, *, round_up: bool) -> int | None:
    """An int-or-percent (``1``, ``"25%"``) against ``total``; None when malformed."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.endswith("%"):
            try:
                pct = float(text[:-1])
            except ValueError:
                return None
            exact = total * pct / 100
            return math.ceil(exact) if round_up else math.floor(exact)
        if text.isdigit():
            return int(text)
    return None
