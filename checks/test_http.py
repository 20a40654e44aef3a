"""Authentik's HTTP endpoints, the outpost ping, and forward auth on the protected services."""

from __future__ import annotations

import pytest

from akops.verify import checks


@pytest.mark.check("http.ready")
def test_ready(probe, timeout) -> None:
    outcome = checks.http_ready(timeout=timeout, **probe.args)
    assert outcome.ok, outcome.detail


@pytest.mark.check("http.live")
def test_live(probe, timeout) -> None:
    outcome = checks.http_live(timeout=timeout, **probe.args)
    assert outcome.ok, outcome.detail


@pytest.mark.check("http.config")
def test_config(probe, timeout) -> None:
    outcome = checks.http_config(timeout=timeout, **probe.args)
    assert outcome.ok, outcome.detail


@pytest.mark.check("http.flow")
def test_default_authentication_flow(probe, timeout) -> None:
    outcome = checks.http_flow(timeout=timeout, **probe.args)
    assert outcome.ok, outcome.detail


@pytest.mark.check("http.outpost-ping")
def test_outpost_ping(probe, timeout, api) -> None:
    if probe.kind == "api":  # cluster target without --outpost-url: through the API proxy
        outcome = checks.outpost_ping_via_api(api, **probe.args)
    else:
        outcome = checks.http_outpost_ping(timeout=timeout, **probe.args)
    assert outcome.ok, outcome.detail


@pytest.mark.check("http.forward-auth")
def test_forward_auth(probe, timeout) -> None:
    outcome = checks.forward_auth(timeout=timeout, **probe.args)
    assert outcome.ok, outcome.detail
