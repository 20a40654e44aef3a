"""The deploy lock's record: Lease body, reading it back, expiry and what to do."""

from __future__ import annotations

import dataclasses
import datetime
import re

import pytest

from akops.cluster.holder import Holder, decide, dirty_refusal, lease_body, read
from akops.errors import RecordError

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


# --- odd values another writer may leave in the Lease ---------------------------------------

END_OF_TIME = "9999-12-31T23:59:59.999999Z"


def other(**spec: object) -> dict[str, object]:
    return {"metadata": {"resourceVersion": "3"}, "spec": {"holderIdentity": "tool-x", **spec}}


def test_a_renewal_at_the_end_of_time_is_held_not_an_overflow() -> None:
    found = read(other(renewTime=END_OF_TIME, leaseDurationSeconds=60))
    assert not found.expired(at(0)) and found.renewed_ahead(at(0))
    assert decide(found, ME, at(0)) == "held"


def test_the_longest_duration_never_overflows() -> None:
    found = read(other(renewTime=END_OF_TIME, leaseDurationSeconds=2**31 - 1))
    assert not found.expired(at(10**9))
    near = read(other(renewTime="2026-11-30T09:00:00Z", leaseDurationSeconds=2**31 - 1))
    assert not near.expired(at(3600)) and not near.renewed_ahead(at(0))


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"renewTime": "yesterday"}, "spec.renewTime: not a Kubernetes MicroTime"),
        ({"renewTime": 1700000000}, "spec.renewTime"),
        ({"acquireTime": "2026-13-40T00:00:00Z"}, "spec.acquireTime"),
        ({"leaseDurationSeconds": "60"}, "spec.leaseDurationSeconds"),
        ({"leaseDurationSeconds": True}, "spec.leaseDurationSeconds"),
        ({"leaseDurationSeconds": 0}, "spec.leaseDurationSeconds"),
        ({"leaseDurationSeconds": 2**40}, "spec.leaseDurationSeconds"),
        ({"leaseTransitions": -1}, "spec.leaseTransitions"),
        ({"holderIdentity": {"a": 1}}, "spec.holderIdentity"),
    ],
)
def test_a_field_of_the_wrong_type_or_range_is_named(spec: dict[str, object], field: str) -> None:
    with pytest.raises(RecordError, match=re.escape(field)) as caught:
        read(other(**spec), "Lease/akops-deploy in authentik")
    assert str(caught.value).startswith("Lease/akops-deploy in authentik: ")
    assert "`invoke unlock`" in str(caught.value)


def test_a_spec_or_annotations_of_the_wrong_shape_are_named() -> None:
    with pytest.raises(RecordError, match="spec: "):
        read({"spec": ["x"]})
    with pytest.raises(RecordError, match=r"metadata\.annotations"):
        read({"metadata": {"annotations": {"akops.io/user": 5}}, "spec": {}})


def test_what_another_writer_put_in_the_annotations_is_shown_escaped() -> None:
    found = read(
        {
            "metadata": {
                "annotations": {
                    "akops.io/user": "eve\x1b[2J",
                    "akops.io/host": "h\x07",
                    "akops.io/task": "de\x9bploy",
                    "akops.io/since": "not a time",
                    "akops.io/dirty": "perhaps",
                }
            },
            "spec": {"holderIdentity": "x", "acquireTime": "2026-11-30T09:00:00Z"},
        }
    )
    assert found.holder is not None
    text = found.holder.describe()
    assert "\x1b" not in text and "\x07" not in text and "\x9b" not in text
    assert text.startswith("eve\\x1b[2J@h\\x07 (de\\x9bploy, since 2026-11-30 09:00:00 UTC")
    assert not found.holder.dirty
