"""PgBouncer reachable from the Authentik server pods, and listening inside its own pods."""

from __future__ import annotations

import pytest

from akops.verify import checks


@pytest.mark.check("pgbouncer.reachable")
def test_reachable(host, probe) -> None:
    outcome = checks.pgbouncer_reachable(host, **probe.args)
    assert outcome.ok, outcome.detail


@pytest.mark.check("pgbouncer.listening")
def test_listening(host, probe) -> None:
    outcome = checks.pgbouncer_listening(host, **probe.args)
    assert outcome.ok, outcome.detail
