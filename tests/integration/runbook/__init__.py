"""Runbook integration tests (a package, so the tests can share the drill helpers)."""
