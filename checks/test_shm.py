"""/dev/shm usage in the outpost and server pods (the 2026-04-18 outage)."""

from __future__ import annotations

import pytest

from akops.verify import checks


@pytest.mark.check("shm.usage")
def test_shm_usage(host, probe) -> None:
    outcome = checks.shm_usage(host, **probe.args)
    assert outcome.ok, outcome.detail
