"""The deploy lock's record: Lease body, reading it back, expiry and what to do."""

from __future__ import annotations

import dataclasses
import datetime

from akops.cluster.holder import Holder, decide, dirty_refusal, lease_body, read

T0 = datetime.datetime(2026, 11, 30, 9, 0, 0, 123456, tzinfo=datetime.UTC)
ME = Holder("alice@laptop:1:ab", "alice", "laptop", "deploy", T0, "0123456789abcdef", True)
BOB = dataclasses.replace(ME, identity="bob@ci:2:cd", user="bob", host="ci", dirty=False)


def at(seconds: float) -> datetime.datetime:
    return T0 + datetime.timedelta(seconds=seconds)


def stored(body: dict[str, object], rv: str = "7") -> dict[str, object]:
    meta = dict(body["metadata"])  # type: ignore[arg-type]
    meta["resourceVersion"] = rv
    return {**body, "metadata": meta}


def test_a_lease_body_reads_back_as_its_holder() -> None:
    body = lease_body("authentik", ME, at(5), duration=60, transitions=2)
    assert body["spec"]["holderIdentity"] == ME.identity  # type: ignore[index]
    assert body["spec"]["renewTime"] == "2026-11-30T09:00:05.123456Z"  # type: ignore[index]
    found = read(stored(body))
    assert found.holder == ME
    assert (found.renewed, found.duration, found.transitions, found.resource_version) == (
        at(5),
        60,
        2,
        "7",
    )
    assert (
        ME.describe()
        == "alice@laptop (deploy, since 2026-11-30 09:00:00 UTC, commit 0123456789ab, dirty tree)"
    )


def test_expiry_and_decisions() -> None:
    live = read(stored(lease_body("authentik", BOB, at(0), duration=60)))
    assert not live.expired(at(59)) and live.expired(at(60))
    assert decide(None, ME, at(0)) == "create"
    assert decide(live, ME, at(30)) == "held"
    assert decide(live, ME, at(61)) == "take-over"
    assert decide(live, BOB, at(30)) == "mine"
    released = read(stored(lease_body("authentik", None, at(0))))
    assert released.holder is None and decide(released, ME, at(0)) == "take"


def test_a_lease_written_by_another_tool_is_held_by_its_identity() -> None:
    found = read(
        {
            "metadata": {"resourceVersion": "3"},
            "spec": {"holderIdentity": "controller-x", "renewTime": "2026-11-30T09:00:00.000000Z"},
        }
    )
    assert found.holder is not None and found.holder.host == "controller-x"
    assert decide(found, ME, at(1)) == "held"


def test_a_protected_environment_refuses_a_dirty_tree_unless_allowed() -> None:
    assert "--allow-dirty" in (dirty_refusal(True, ME, False) or "")
    assert dirty_refusal(True, ME, True) is None
    assert dirty_refusal(False, ME, False) is None
    assert dirty_refusal(True, BOB, False) is None
