"""What every entry point shares: choosing the environment, reading typed flag values.

Rule: pure (the process environment comes in as a mapping). Invoke casts an ``int``- or
``float``-defaulted flag itself and answers ``--timeout abc`` with a ValueError traceback,
so numeric flags are declared as strings and read here, with one line naming the flag.

There is no implicit environment: a task that reads one needs ``--env`` or ``AKOPS_ENV``
(a shell that works on one cluster all day may export it); a silent default of ``prod``
sent a read-only ``verify --only http.live`` straight at production.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from akops.errors import InputError

ENV_VAR = "AKOPS_ENV"


def require_env(flag: str | None, environ: Mapping[str, str], known: Sequence[str]) -> str:
    """The environment named by ``--env``, else by ``AKOPS_ENV``; InputError when neither."""
    if flag:
        return flag
    chosen = environ.get(ENV_VAR, "").strip()
    if chosen:
        return chosen
    names = ", ".join(known) or "none defined"
    raise InputError(f"--env is required (one of: {names}), or set {ENV_VAR}")


def seconds(flag: str, value: str | float | None, *, allow_zero: bool = False) -> float | None:
    """A positive, finite number of seconds from ``--flag VALUE`` (None stays None)."""
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError) as e:
        raise InputError(f"--{flag} {value!r}: expected a number of seconds") from e
    if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        raise InputError(f"--{flag} {value!r}: expected a positive, finite number of seconds")
    return number


def count(flag: str, value: str | int | None, *, minimum: int = 0) -> int | None:
    """A whole number of at least ``minimum`` from ``--flag VALUE`` (None stays None)."""
    if value is None or value == "":
        return None
    try:
        number = int(str(value), 10)
    except ValueError as e:
        raise InputError(f"--{flag} {value!r}: expected a whole number") from e
    if number < minimum:
        raise InputError(f"--{flag} {value!r}: must be at least {minimum}")
    return number
