"""Saved plans: written masked, read back, refused when edited or when the world moved."""

from __future__ import annotations

import base64
import dataclasses
import json

import pytest

from akops.cluster.objects import Ref
from akops.cluster.plan import FieldChange, ObjectPlan, Plan, ReleasePlan
from akops.cluster.saved_plan import Basis, load, save, secret_hash, stack_digest, stale
from akops.errors import InputError
from akops.secrets import Secrets

CANARY = "canary-Zq8vT3pW-never-print-me"
SECRETS = Secrets({"postgres_password": CANARY})
SECRET = Ref("Secret", "authentik", "pgbouncer-auth")
DEPLOY = Ref("Deployment", "authentik", "pgbouncer")


def plan() -> Plan:
    encoded = base64.b64encode(f'"authentik" "{CANARY}"'.encode()).decode()
    return Plan(
        (
            ObjectPlan(
                SECRET, "change", (FieldChange(("data", "userlist.txt"), "~", "b2xk", encoded),)
            ),
            ObjectPlan(
                DEPLOY,
                "change",
                (
                    FieldChange(("spec", "replicas"), "~", 2, 3),
                    FieldChange(("spec", "note"), "+", None, f"pw={CANARY}"),
                ),
            ),
        ),
        ReleasePlan("goauthentik", "authentik", "authentik", "2026.2.2", "2026.2.2", "none"),
        SECRETS,
    )


BASIS = Basis(
    environment="prod",
    context="ctx",
    namespace="authentik",
    commit="abc",
    dirty=False,
    stack=stack_digest({"a.yaml": "x: 1\n"}),
    versions=(
        ("Secret/pgbouncer-auth", "5"),
        ("Deployment/pgbouncer", "7"),
        ("Service/pgbouncer", None),
    ),
    release_revision=3,
    secrets=(("postgres_password", secret_hash(CANARY, "salt")),),
)


def saved_text() -> str:
    return save(
        plan(), BASIS, salt="salt", secrets=SECRETS, created="2026-11-30T09:00:00Z"
    ).to_json()


def test_no_secret_byte_in_the_file_but_changes_still_compare() -> None:
    text = saved_text()
    encoded = base64.b64encode(f'"authentik" "{CANARY}"'.encode()).decode()
    for form in (CANARY, encoded, base64.b64encode(CANARY.encode()).decode()):
        assert form not in text
    doc = json.loads(text)
    secret_change = doc["plan"]["objects"][0]["changes"][0]
    assert secret_change["new"]["hash"].startswith("scrypt:")
    assert secret_change["old"] != secret_change["new"]
    assert doc["plan"]["objects"][1]["changes"][0] == {
        "path": ["spec", "replicas"],
        "op": "~",
        "old": 2,
        "new": 3,
    }
    assert doc["plan"]["objects"][1]["changes"][1]["new"] == "pw=***"


def test_read_back_it_is_the_same_plan_and_not_stale() -> None:
    back = load(saved_text(), "p.json")
    assert back.basis == BASIS
    assert back.actions() == {"Secret/pgbouncer-auth": "change", "Deployment/pgbouncer": "change"}
    assert back.release_action == "none"
    assert stale(back, BASIS) == []


def test_a_hand_edited_file_is_refused() -> None:
    doc = json.loads(saved_text())
    doc["plan"]["objects"][1]["changes"][0]["new"] = 30
    assert stale(load(json.dumps(doc), "p.json"), BASIS) == [
        "the plan file was changed after it was written (its digest does not match)"
    ]


def test_every_move_of_the_world_is_named() -> None:
    back = load(saved_text(), "p.json")
    now = dataclasses.replace(
        BASIS,
        stack=stack_digest({"a.yaml": "x: 2\n"}),
        versions=(
            ("Secret/pgbouncer-auth", "5"),
            ("Deployment/pgbouncer", "9"),
            ("Service/pgbouncer", "1"),
        ),
        release_revision=4,
        secrets=(("postgres_password", secret_hash("rotated", "salt")),),
        context="other",
    )
    assert stale(back, now) == [
        "kube context is 'other', the plan was for 'ctx'",
        "the rendered stack changed since the plan (templates, environment or commit)",
        "secret postgres_password changed since the plan",
        "Deployment/pgbouncer moved since the plan (resourceVersion 7 → resourceVersion 9)",
        "Service/pgbouncer moved since the plan (absent → resourceVersion 1)",
        "the Helm release moved since the plan (revision 3 → 4)",
    ]


@pytest.mark.parametrize("text", ["{", "[]", '{"format": "other"}', '{"format": "akops-plan/1"}'])
def test_what_is_not_a_saved_plan_is_bad_input(text: str) -> None:
    with pytest.raises(InputError, match=r"^p\.json: "):
        load(text, "p.json")
