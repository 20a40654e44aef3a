"""Through PgBouncer: ghost transactions holding locks, clients waiting in the pools."""

from __future__ import annotations

import pytest

from akops.verify import checks


@pytest.mark.check("db.idle-in-transaction")
def test_no_idle_in_transaction_lock_holders(probe, credentials, timeout) -> None:
    outcome = checks.idle_in_transaction(credentials=credentials, timeout=timeout, **probe.args)
    assert outcome.ok, outcome.detail


@pytest.mark.check("db.pool-waiting")
def test_no_client_waiting(probe, credentials, timeout) -> None:
    outcome = checks.pool_waiting(credentials=credentials, timeout=timeout, **probe.args)
    assert outcome.ok, outcome.detail
