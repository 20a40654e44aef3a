"""Saved plans keep no secret: a whole Secret added is hashed, the release section is
written and masked like the objects, and every field of the document is what the plan
said (pure)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from akops.cluster.objects import Ref
from akops.cluster.plan import FieldChange, ObjectPlan, OutpostPlan, Plan, ReleasePlan, Restart
from akops.cluster.saved_plan import Basis, load, save, secret_hash, stack_digest, stale
from akops.secrets import Secrets

CANARY = "canary-Hw4s-never-print-me"
SECRETS = Secrets({"postgres_password": CANARY})
SECRET = Ref("Secret", "authentik", "pgbouncer-auth")
CONFIG = Ref("ConfigMap", "authentik", "pgbouncer-config")
DEPLOY = Ref("Deployment", "authentik", "pgbouncer")
BASIS = Basis(
    environment="prod",
    context="ctx",
    namespace="authentik",
    commit="abc",
    dirty=True,
    stack=stack_digest({"a.yaml": "x: 1\n"}),
    versions=(("Secret/pgbouncer-auth", None),),
    release_revision=None,
    secrets=(),
)


def saved(plan: Plan) -> dict[str, Any]:
    text = save(plan, BASIS, salt="s", secrets=SECRETS, created="2026-12-01T00:00:00Z").to_json()
    assert CANARY not in text
    doc: dict[str, Any] = json.loads(text)
    return doc


def test_a_whole_secret_added_at_the_root_is_hashed() -> None:
    whole = {"kind": "Secret", "stringData": {"password": "other-value-7"}}
    doc = saved(Plan((ObjectPlan(SECRET, "add", (FieldChange((), "+", None, whole),)),)))
    change = doc["plan"]["objects"][0]["changes"][0]
    assert change == {"path": [], "op": "+", "old": None, "new": {"hash": secret_hash(whole, "s")}}
    assert "other-value-7" not in json.dumps(doc)


def test_a_root_change_of_another_kind_is_written_masked_not_hashed() -> None:
    body = {"data": {"note": f"pw={CANARY}"}}
    doc = saved(Plan((ObjectPlan(CONFIG, "add", (FieldChange((), "+", None, body),)),)))
    assert doc["plan"]["objects"][0]["changes"][0]["new"] == {"data": {"note": "pw=***"}}


def test_a_secrets_metadata_is_written_as_it_is() -> None:
    change = FieldChange(("metadata", "labels", "app"), "~", "a", "b")
    doc = saved(Plan((ObjectPlan(SECRET, "change", (change,)),)))
    assert doc["plan"]["objects"][0]["changes"][0] == {
        "path": ["metadata", "labels", "app"],
        "op": "~",
        "old": "a",
        "new": "b",
    }


def test_string_data_of_a_secret_is_hashed_on_both_sides() -> None:
    change = FieldChange(("stringData", "password"), "~", "old-value-3", "new-value-3")
    doc = saved(Plan((ObjectPlan(SECRET, "change", (change,)),)))
    written = doc["plan"]["objects"][0]["changes"][0]
    assert written["old"] == {"hash": secret_hash("old-value-3", "s")}
    assert written["new"] == {"hash": secret_hash("new-value-3", "s")}
    assert "value-3" not in json.dumps(doc)


def release() -> ReleasePlan:
    return ReleasePlan(
        "goauthentik",
        "authentik",
        "authentik",
        "2026.2.1",
        "2026.2.2",
        "change",
        (
            FieldChange(("authentik", "postgresql", "password"), "~", "x", CANARY),
            FieldChange(
                ("metadata", "annotations", "kubectl.kubernetes.io/last-applied-configuration"),
                "~",
                "a",
                "b",
            ),
        ),
        (ObjectPlan(SECRET, "change", (FieldChange(("data", "k"), "~", "b2xk", "bmV3"),)),),
        revision=4,
    )


def test_the_release_section_is_written_and_masked() -> None:
    doc = saved(Plan((), release()))
    r = doc["plan"]["release"]
    assert {k: r[k] for k in ("release", "namespace", "chart", "version", "live_version")} == {
        "release": "goauthentik",
        "namespace": "authentik",
        "chart": "authentik",
        "version": "2026.2.2",
        "live_version": "2026.2.1",
    }
    assert r["action"] == "change"
    assert r["changes"][0] == {
        "path": ["authentik", "postgresql", "password"],
        "op": "~",
        "old": "x",
        "new": "***",
    }
    assert r["changes"][1]["new"] == {"hash": secret_hash("b", "s")}
    assert r["objects"] == [
        {
            "ref": "Secret/pgbouncer-auth",
            "kind": "Secret",
            "namespace": "authentik",
            "name": "pgbouncer-auth",
            "action": "change",
            "changes": [
                {
                    "path": ["data", "k"],
                    "op": "~",
                    "old": {"hash": secret_hash("b2xk", "s")},
                    "new": {"hash": secret_hash("bmV3", "s")},
                }
            ],
        }
    ]
    assert load(json.dumps(doc), "p.json").release_action == "change"


def test_the_plan_section_says_what_the_plan_said() -> None:
    plan = Plan(
        (ObjectPlan(DEPLOY, "change", (FieldChange(("spec", "replicas"), "~", 2, 3),)),),
        outpost=OutpostPlan("authentik-embedded-outpost", "change"),
        restarts=(Restart(DEPLOY, (SECRET,)),),
    )
    doc = saved(plan)
    body = doc["plan"]
    assert body["outpost"] == {"outpost": "authentik-embedded-outpost", "action": "change"}
    assert body["restarts"] == [
        "Deployment/pgbouncer will be restarted: Secret/pgbouncer-auth changed"
    ]
    assert body["summary"] == "Plan: 0 to add, 2 to change, 0 to destroy."
    assert body["has_changes"] is True
    assert body["release"] is None
    assert (doc["format"], doc["created"], doc["salt"]) == (
        "akops-plan/1",
        "2026-12-01T00:00:00Z",
        "s",
    )
    back = load(json.dumps(doc), "p.json")
    assert back.outpost_action == "change"
    assert back.release_action is None
    assert back.salt == "s"
    assert back.basis == BASIS
    empty = load(json.dumps(saved(Plan(()))), "p.json")
    assert empty.outpost_action is None and empty.to_json().endswith("}\n")


def test_secret_hashes_are_salted_and_tell_values_apart() -> None:
    assert secret_hash("a", "s") == secret_hash("a", "s")
    assert secret_hash("a", "s") != secret_hash("a", "t")
    assert secret_hash("a", "s") != secret_hash("b", "s")
    assert secret_hash({"x": 1, "y": 2}, "s") == secret_hash({"y": 2, "x": 1}, "s")
    assert secret_hash("a", "s").startswith("scrypt:") and len(secret_hash("a", "s")) == 71


def test_the_stack_digest_covers_names_and_contents() -> None:
    base = stack_digest({"a": "1", "b": "2"})
    assert base.startswith("sha256:")
    assert stack_digest({"b": "2", "a": "1"}) == base
    assert stack_digest({"a": "1", "b": "3"}) != base
    assert stack_digest({"a": "1", "c": "2"}) != base
    assert stack_digest({"a1": "", "b": "2"}) != stack_digest({"a": "1", "b": "2"})


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("environment", "lab", "environment is 'lab', the plan was for 'prod'"),
        ("namespace", "other", "namespace is 'other', the plan was for 'authentik'"),
    ],
)
def test_another_target_is_named(field: str, value: str, reason: str) -> None:
    import dataclasses

    back = load(json.dumps(saved(Plan(()))), "p.json")
    assert stale(back, dataclasses.replace(BASIS, **{field: value})) == [reason]


def test_a_secret_added_or_removed_since_the_plan_is_named() -> None:
    import dataclasses

    back = load(json.dumps(saved(Plan(()))), "p.json")
    now = dataclasses.replace(BASIS, secrets=(("new_one", secret_hash("v", "s")),))
    assert stale(back, now) == ["the set of secrets changed since the plan"]


def test_an_object_gone_since_the_plan_is_named() -> None:
    import dataclasses

    was = dataclasses.replace(BASIS, versions=(("Secret/pgbouncer-auth", "5"),))
    doc = json.loads(save(Plan(()), was, salt="s", secrets=SECRETS, created="t").to_json())
    now = dataclasses.replace(BASIS, versions=())
    assert stale(load(json.dumps(doc), "p.json"), now) == [
        "Secret/pgbouncer-auth moved since the plan (resourceVersion 5 → absent)"
    ]


def test_release_objects_are_masked_like_the_plans_objects() -> None:
    config = ObjectPlan(
        Ref("ConfigMap", "authentik", "c"),
        "change",
        (FieldChange(("data", "dsn"), "~", "x", f"postgres://u:{CANARY}@db"),),
    )
    doc = saved(Plan((), ReleasePlan("r", "ns", "c", "1", "1", "change", (), (config,))))
    written = doc["plan"]["release"]["objects"][0]["changes"][0]
    assert written["new"] == "postgres://u:***@db"


def test_the_file_is_sorted_indented_json_with_its_digest() -> None:
    import hashlib

    text = save(Plan(()), BASIS, salt="s", secrets=SECRETS, created="t").to_json()
    lines = text.splitlines()
    assert lines[:3] == ["{", ' "basis": {', '  "commit": "abc",']
    assert text.endswith("}\n")
    doc = json.loads(text)
    body = {k: v for k, v in doc.items() if k != "digest"}
    expected = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    assert doc["digest"] == f"sha256:{expected}"


def test_the_stack_digest_is_sha256_over_nul_separated_names_and_texts() -> None:
    import hashlib

    want = hashlib.sha256(b"a.yaml\0x: 1\n\0b.yaml\0y\0").hexdigest()
    assert stack_digest({"b.yaml": "y", "a.yaml": "x: 1\n"}) == f"sha256:{want}"
