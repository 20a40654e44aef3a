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
    with pytest.raises(InputError, match=r"^p\.json(:\d+)?: "):
        load(text, "p.json")


def _edited(edit: object) -> str:
    doc = json.loads(saved_text())
    edit(doc)  # type: ignore[operator]
    return json.dumps(doc, indent=1, sort_keys=True)


@pytest.mark.parametrize(
    ("edit", "where"),
    [
        # A key the digest covers, missing: named before anything reads it (was a KeyError).
        (lambda d: d["plan"].pop("release"), r"p\.json:\d+: saved plan: plan\.release: required"),
        (lambda d: d["plan"].pop("outpost"), r"plan\.outpost: required field is missing"),
        (lambda d: d["basis"].pop("secrets"), r"basis\.secrets: required field is missing"),
        (lambda d: d.pop("salt"), r"salt: required field is missing"),
        # Of the wrong type, though a lax reading would pass it.
        (lambda d: d["basis"].update(release_revision="3"), r"basis\.release_revision"),
        (
            lambda d: d["basis"].update(dirty="false"),
            r"basis\.dirty: Input should be a valid boolean",
        ),
        (lambda d: d["basis"].update(versions=[["Deployment/x"]]), r"basis\.versions\[0\]"),
        (lambda d: d["plan"]["objects"][0].update(action="explode"), r"plan\.objects\[0\]\.action"),
        (lambda d: d["plan"]["objects"][0]["changes"][0].update(op="*"), r"changes\[0\]\.op"),
        (lambda d: d["plan"].update(objects={"a": 1}), r"plan\.objects: Input should be a valid"),
        (lambda d: d["plan"].update(extra=1), r"plan\.extra: Extra inputs"),
    ],
)
def test_an_odd_saved_plan_names_the_file_line_and_field(edit: object, where: str) -> None:
    with pytest.raises(InputError, match=where):
        load(_edited(edit), "p.json")


def test_the_line_named_is_the_fields() -> None:
    text = _edited(lambda d: d["basis"].update(dirty="false"))
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if '"dirty"' in ln)
    with pytest.raises(InputError, match=rf"^p\.json:{line}: saved plan: basis\.dirty"):
        load(text, "p.json")


def test_a_plan_adds_the_namespace_only_when_it_adds_a_namespace() -> None:
    def adds_namespace(*objects: ObjectPlan) -> bool:
        made = dataclasses.replace(plan(), objects=objects)
        saved = save(made, BASIS, salt="salt", secrets=SECRETS, created="2026-12-07T12:00:00Z")
        return load(saved.to_json(), "p.json").adds_namespace()

    assert load(saved_text(), "p.json").adds_namespace() is False
    others = (
        ObjectPlan(Ref("Namespace", None, "other"), "change", ()),
        ObjectPlan(DEPLOY, "add", ()),
    )
    assert adds_namespace(*others) is False
    assert adds_namespace(*others, ObjectPlan(Ref("Namespace", None, "authentik"), "add", ()))
