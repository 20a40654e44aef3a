"""Odd values in a Lease another writer left, which the real API server refuses to store.

A Lease whose renewTime is no time, whose duration is a string, whose transitions are
negative or whose holder is a list fails the real server's validation, so no real cluster
serves one; a Lease written through a restored etcd backup or a buggy proxy could. Only the
emulator can serve such a Lease (harness/__init__.py lists this use). Each is one line naming
the field, and ``unlock`` shows and clears it.
"""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from akops.cluster.holder import Holder, lease_body
from akops.layout import Layout
from harness.emulator import Cluster
from tests.integration.inputs.contract import Runner, held

from .conftest import CANARY, ENV

pytestmark = pytest.mark.integration
NS = "authentik"


@pytest.fixture
def runner(emu: Layout) -> Runner:
    return Runner(emu.root)


def clean(result: Any) -> Any:
    assert CANARY not in result.stdout + result.stderr
    return result


# --- odd values in a Lease another writer left -----------------------------------------------


def foreign(**spec: object) -> dict[str, Any]:
    bob = Holder(
        "bob@ci:7:ee",
        "bob",
        "ci",
        "deploy",
        datetime.datetime(2026, 11, 29, 8, 0, tzinfo=datetime.UTC),
        "feedface",
        False,
    )
    body = lease_body(NS, bob, datetime.datetime.now(tz=datetime.UTC), duration=60)
    body["spec"].update(spec)
    return body


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"renewTime": "last tuesday"}, "spec.renewTime"),
        ({"renewTime": 1764489600}, "spec.renewTime"),
        ({"leaseDurationSeconds": "60"}, "spec.leaseDurationSeconds"),
        ({"leaseTransitions": -3}, "spec.leaseTransitions"),
        ({"holderIdentity": ["bob"]}, "spec.holderIdentity"),
    ],
    ids=["time-words", "time-number", "duration-string", "transitions-negative", "identity-list"],
)
def test_a_lease_field_of_the_wrong_type_is_named_and_unlock_clears_it(
    spec: dict[str, object], field: str, runner: Runner, cluster: Cluster
) -> None:
    cluster.put_lease(foreign(**spec))
    refused = clean(runner("apply", "--env", ENV, "--skip-helm", "--yes"))
    held(refused, "apply", (f"Lease/akops-deploy in {NS}: {field}", "invoke unlock"))
    assert cluster.get("configmaps", "pgbouncer-config") is None  # nothing applied
    shown = clean(runner("unlock", "--env", ENV, "--dry-run"))
    assert shown.returncode == 0 and field in shown.stdout, shown.stdout + shown.stderr
    broken = clean(runner("unlock", "--env", ENV, "--yes"))
    assert broken.returncode == 0 and "the unreadable record" in broken.stdout, broken.stderr
    assert clean(runner("apply", "--env", ENV, "--skip-helm", "--yes")).returncode == 0
