"""Every probe of the registry's checks, one test each (the adapter of ``nox -s checks``)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from akops.verify.check import Probe
from akops.verify.results import Result, Status


def test_check(probe: Probe, run_probe: Callable[[Probe], Result]) -> None:
    result = run_probe(probe)
    if result.status is Status.SKIP:
        pytest.skip(result.detail)
    if not result.ok:
        pytest.fail(f"{result.status.value}: {result.detail}", pytrace=False)
