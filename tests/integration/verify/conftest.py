"""A local stack for verify: scratch repo whose ``prod`` points ``verify.local`` at real services."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from akops.layout import Layout
from akops.requests import VerifyRequest
from akops.verify import VerifyReport, verify_environment

# Short enough to keep the suite fast, long enough for a loaded 2-core CI machine.
TIMEOUT = 2.0


@dataclass
class LocalStack:
    repo: Layout
    http: Any
    pgbouncer: Any
    tmpfs: Any
    postgres: Any
    timeout: float = TIMEOUT

    def verify(self, **kw: Any) -> VerifyReport:
        kw.setdefault("timeout", self.timeout)
        # No Prometheus here: alerts.firing is tested against a real one in tests/integration/alerts.
        kw.setdefault("skip", ["alerts.firing"])
        return verify_environment(self.repo, request(env="prod", target="local", **kw))


def request(**kw: Any) -> VerifyRequest:
    """A verify request from keywords (lists become the request's tuples)."""
    return VerifyRequest(**{k: tuple(v) if isinstance(v, list) else v for k, v in kw.items()})


def point_local(repo: Layout, local: dict[str, Any], **verify: Any) -> None:
    """Set ``verify.local`` (and other ``verify`` keys) in the scratch copy of prod.yaml."""
    path = repo.environments / "prod.yaml"
    doc = yaml.safe_load(path.read_text())
    doc.setdefault("verify", {}).update(verify, local=local)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


@pytest.fixture
def stack(
    repo: Layout,
    http: Any,
    pgbouncer_factory: Callable[..., Any],
    tmpfs: Any,
    postgres: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> LocalStack:
    """Healthy services: HTTP, PgBouncer (rendered config), tmpfs, PostgreSQL."""
    bouncer = pgbouncer_factory()
    point_local(
        repo,
        {
            "url": http.url,
            "outpost_url": http.url,
            "pgbouncer": bouncer.address,
            "shm": str(tmpfs.path),
            "protected_services": [http.app_url("wealthfolio"), http.app_url("grafana")],
        },
        idle_in_transaction_max_seconds=1,
    )
    monkeypatch.setenv("AKOPS_PROD_POSTGRES_PASSWORD", postgres.password)
    return LocalStack(repo, http, bouncer, tmpfs, postgres)
