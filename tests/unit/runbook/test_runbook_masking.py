"""Which secrets a run masks: every secret the environment names, wherever it sits in the
environment, resolved where possible, and why the others were not (pure)."""

from __future__ import annotations

from akops.environment import Environment, SecretRef, load_environment
from akops.layout import Layout
from akops.runbook.masking import available_secrets, secret_refs

PASSWORD = SecretRef(env="AKOPS_PROD_POSTGRES_PASSWORD")
TOKEN = SecretRef(env="AKOPS_PROD_AUTHENTIK_TOKEN")
STATS = SecretRef(env="AKOPS_PROD_STATS_PASSWORD")


def prod(layout: Layout) -> Environment:
    return load_environment("prod", layout.environments)


def test_every_secret_ref_of_the_environment_is_found_under_its_path(layout: Layout) -> None:
    assert secret_refs(prod(layout)) == {
        "postgres_password": PASSWORD,
        "stats_password": STATS,
        "authentik.outpost.api.token": TOKEN,
    }


def test_a_secret_named_under_secrets_wins_over_a_field_of_the_same_path(layout: Layout) -> None:
    env = prod(layout)
    other = SecretRef(env="OTHER")
    env = env.model_copy(update={"secrets": {**env.secrets, "authentik.outpost.api.token": other}})
    assert secret_refs(env)["authentik.outpost.api.token"] == other


def test_secret_refs_in_lists_are_found_by_index(layout: Layout) -> None:
    env = prod(layout)
    listed = env.authentik.outpost.api.model_copy(update={"token": [TOKEN, PASSWORD]})
    outpost = env.authentik.outpost.model_copy(update={"api": listed})
    env = env.model_copy(
        update={"authentik": env.authentik.model_copy(update={"outpost": outpost})}
    )
    refs = secret_refs(env)
    assert refs["authentik.outpost.api.token[0]"] == TOKEN
    assert refs["authentik.outpost.api.token[1]"] == PASSWORD


def test_available_secrets_resolve_what_they_can_and_say_why_not(layout: Layout) -> None:
    secrets, errors = available_secrets(
        prod(layout), {"AKOPS_PROD_POSTGRES_PASSWORD": "canary-pw-Lk2"}
    )
    assert secrets.values == {"postgres_password": "canary-pw-Lk2"}
    assert secrets.mask("x canary-pw-Lk2 y") == "x *** y"
    assert errors == {
        "authentik.outpost.api.token": "secret 'authentik.outpost.api.token': environment "
        "variable AKOPS_PROD_AUTHENTIK_TOKEN is not set",
        "stats_password": "secret 'stats_password': environment variable "
        "AKOPS_PROD_STATS_PASSWORD is not set",
    }


def test_every_secret_resolved_leaves_no_error(layout: Layout) -> None:
    environ = {
        "AKOPS_PROD_POSTGRES_PASSWORD": "a1",
        "AKOPS_PROD_AUTHENTIK_TOKEN": "b2",
        "AKOPS_PROD_STATS_PASSWORD": "c3",
    }
    secrets, errors = available_secrets(prod(layout), environ)
    assert secrets.values == {
        "postgres_password": "a1",
        "stats_password": "c3",
        "authentik.outpost.api.token": "b2",
    }
    assert errors == {}
