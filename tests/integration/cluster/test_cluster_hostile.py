"""Faults around the deploy lock and odd values other writers leave in the cluster.

- A failed acquire is one error: with the API failing throughout (5xx, dropped
  connections, no answer), a changing task reports the failure once, never a second
  warning about releasing a lock it never held, and never waits a second ``api_timeout``.
- A Lease another tool wrote with odd values (a renewal at the end of time, a time that
  is not one, a duration of the wrong type, escape sequences in its annotations) is one line
  naming the field, or the holder shown escaped; ``unlock`` shows and clears it.

Every run: the exit code, one stderr line, no traceback, no canary, no process left
(``tests/integration/inputs/contract.py``), the API's own state afterwards. The faults come
from the fault proxy in front of the real API server; the odd Leases are stored by the real
API server. Values its validation refuses to store (a renewTime that is no time, a negative
leaseTransitions...) can only come from a stand-in: those cases stay in
``emulated/test_cluster_lease_values.py``.
"""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from akops.cluster.holder import Holder, lease_body
from akops.layout import Layout
from tests.integration.inputs.contract import Runner, held

from .conftest import CANARY, ENV, local_environment
from .plane import Plane

pytestmark = pytest.mark.integration
END_OF_TIME = "9999-12-31T23:59:59.999999Z"


@pytest.fixture
def runner(local: Layout, cluster: Plane) -> Runner:
    # The API deadline these tests name (3 s: a stalled call ends there).
    local_environment(local, cluster.namespace, kube__api_timeout=3)
    return Runner(local.root)


def clean(result: Any) -> Any:
    assert CANARY not in result.stdout + result.stderr
    return result


# --- a failed acquire is one error ---------------------------------------------------------


def fail_all(cluster: Plane, status: int, message: str = "") -> None:
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        cluster.fail(method, ".*", status, times=10_000, message=message)


CHANGING = [
    ("apply", "--skip-helm", "--yes"),
    ("deploy", "--skip-helm", "--yes"),
    ("rollback", "--skip-helm", "--yes"),
    ("outpost-patch", "--yes"),
]


@pytest.mark.parametrize("argv", CHANGING, ids=[a[0] for a in CHANGING])
def test_an_api_failing_throughout_is_one_error(
    argv: tuple[str, ...], runner: Runner, cluster: Plane
) -> None:
    fail_all(cluster, 500, "etcd is down")
    result = clean(runner(argv[0], "--env", ENV, *argv[1:], guard=60))
    line = held(result, argv[0], ("Lease/akops-deploy", "etcd is down"))
    assert "warning" not in line and "release" not in line
    assert cluster.lease() is None


@pytest.mark.parametrize(
    ("status", "parts"),
    [
        (0, ("cannot reach the Kubernetes API",)),
        (-1, ("did not answer", "within 3s")),
        (503, ("503",)),
        (403, ("403",)),
    ],
    ids=["dropped", "stalled", "unavailable", "forbidden"],
)
def test_every_way_the_api_fails_the_acquire_is_one_line(
    status: int, parts: tuple[str, ...], runner: Runner, cluster: Plane
) -> None:
    fail_all(cluster, status)
    result = clean(runner("apply", "--env", ENV, "--skip-helm", "--yes", guard=60))
    held(result, "apply", parts)
    assert cluster.lease() is None


def test_a_refused_lease_write_is_not_released_through_the_same_api(
    runner: Runner, cluster: Plane
) -> None:
    cluster.fail("POST", "/leases", 500, times=10_000, message="quota exceeded")
    cluster.fail("PUT", "/leases", 500, times=10_000, message="quota exceeded")
    result = clean(runner("apply", "--env", ENV, "--skip-helm", "--yes", guard=60))
    held(result, "apply", ("Lease/akops-deploy", "quota exceeded"))
    # The read, the write (retried within its deadline), and no release afterwards.
    methods = [r.method for r in cluster.requests(path="/leases")]
    assert methods[0] == "GET" and set(methods[1:]) == {"POST"}, methods


# --- odd values in a Lease another writer left -----------------------------------------------


def foreign(ns: str, **spec: object) -> dict[str, Any]:
    bob = Holder(
        "bob@ci:7:ee",
        "bob",
        "ci",
        "deploy",
        datetime.datetime(2026, 11, 29, 8, 0, tzinfo=datetime.UTC),
        "feedface",
        False,
    )
    body = lease_body(ns, bob, datetime.datetime.now(tz=datetime.UTC), duration=60)
    body["spec"].update(spec)
    return body


def test_a_renewal_at_the_end_of_time_is_held_and_unlock_clears_it(
    runner: Runner, cluster: Plane
) -> None:
    cluster.make_namespace()
    cluster.put_lease(foreign(cluster.namespace, renewTime=END_OF_TIME))
    refused = clean(runner("apply", "--env", ENV, "--skip-helm", "--yes"))
    held(
        refused, "apply", ("held by bob@ci", "9999-12-31", "in the future", "invoke unlock"), code=1
    )
    shown = clean(runner("unlock", "--env", ENV, "--dry-run"))
    assert shown.returncode == 0 and not shown.stderr.strip(), shown.stderr
    assert "in the future" in shown.stdout and "bob@ci" in shown.stdout
    broken = clean(runner("unlock", "--env", ENV, "--yes"))
    assert broken.returncode == 0 and "unlocked: bob@ci" in broken.stdout, broken.stderr
    assert clean(runner("apply", "--env", ENV, "--skip-helm", "--yes")).returncode == 0


def test_escape_sequences_in_a_holder_are_shown_escaped(runner: Runner, cluster: Plane) -> None:
    cluster.make_namespace()
    body = foreign(cluster.namespace)
    body["metadata"]["annotations"]["akops.io/user"] = "mallory\x1b]0;pwned\x07\x1b[2J"
    cluster.put_lease(body)
    refused = clean(runner("apply", "--env", ENV, "--skip-helm", "--yes"))
    line = held(refused, "apply", ("held by mallory\\x1b]0;pwned\\x07\\x1b[2J@ci",), code=1)
    assert "\x1b" not in line
    shown = clean(runner("unlock", "--env", ENV, "--dry-run"))
    assert "\x1b" not in shown.stdout and "\x07" not in shown.stdout


def test_the_suite_exercises_each_changing_task() -> None:
    assert {a[0] for a in CHANGING} == {"apply", "deploy", "rollback", "outpost-patch"}
