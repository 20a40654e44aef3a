"""Asking the operator before a change: ``--yes``, or a typed ``yes`` at a terminal.

Rule: the operator's terminal (stdin); no other I/O.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from akops.errors import InputError, StepFailed


def confirm(
    question: str, *, yes: bool, interactive: bool | None = None, ask: Callable[[str], str] = input
) -> None:
    """Go on only with ``--yes`` or a typed ``yes``; a non-interactive run without --yes refuses."""
    if yes:
        return
    interactive = sys.stdin.isatty() if interactive is None else interactive
    if not interactive:
        raise InputError(
            "refusing to change the cluster without confirmation: stdin is not a terminal; pass --yes"
        )
    try:
        answer = ask(f"{question} Only 'yes' will be accepted: ")
    except EOFError:
        answer = ""
    if answer.strip() != "yes":
        raise StepFailed("cancelled: the answer was not 'yes'; nothing was changed")
