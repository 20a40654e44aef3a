"""The secret rules at their edges, each on a small stack: secret-named keys and
assignments in ConfigMaps (with the line inside a block), plain env values, annotations
(checksums, last-applied of a Secret, secret-named keys); messages never hold the value."""

from __future__ import annotations

from typing import Any

import pytest

from akops.lint.rules.secrets import secret_in
from tests.unit.lint.small import container, deployment, lint

CANARY = "canary-Jx5wQ0r"


def configmap(data: Any, annotations: Any = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "cfg"}
    if annotations is not None:
        meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}


@pytest.mark.parametrize(
    ("text", "what"),
    [
        (f"password={CANARY}", "a value for `password`"),
        (f"PASSWD : {CANARY}", "a value for `PASSWD`"),
        (f"api-key={CANARY}", "a value for `api-key`"),
        (f"private_key: {CANARY}", "a value for `private_key`"),
        (f"x token= {CANARY}", "a value for `token`"),
        ("password=", None),
        ("password=   ", None),
        ("mypassword=x", None),  # not a word on its own
        ("<<akops-secret:pw>>", "a secret placeholder (apply would inject the real value)"),
        ("nothing here", None),
    ],
)
def test_what_looks_secret(text: str, what: str | None) -> None:
    assert secret_in(text) == what


def test_a_secret_named_key_with_a_value_is_named() -> None:
    found = lint(configmap({"db_password": CANARY, "api_token": "", "plain": "x"}))
    f = found.one("secrets.configmap")
    assert (f.message, f.path, f.line) == (
        "ConfigMap/cfg key db_password looks like a secret",
        "data.db_password",
        4,  # YAML dumped with sorted keys: apiVersion, data, its keys
    )
    assert CANARY not in f.message


def test_an_assignment_in_a_block_is_found_on_its_own_line() -> None:
    text = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n"
        f"  app.ini: |\n    [db]\n    user=a\n    password={CANARY}\n"
        f"  one.conf: token={CANARY}\n"
    )
    found = lint(text)
    assert [(f.message, f.line, f.path) for f in found.findings("secrets.configmap")] == [
        ("ConfigMap/cfg app.ini holds a value for `password`", 9, "data.app.ini"),
        ("ConfigMap/cfg one.conf holds a value for `token`", 10, "data.one.conf"),
    ]


def test_a_configmap_without_data_has_nothing_to_find() -> None:
    assert lint(configmap("odd")).findings("secrets.configmap") == []
    assert lint(configmap({"a": None})).findings("secrets.configmap") == []


def env_of(*env: dict[str, Any]) -> dict[str, Any]:
    return deployment("web", containers=[container("web", env=list(env))])


@pytest.mark.parametrize(
    ("var", "what"),
    [
        ({"name": "DB_PASSWORD", "value": CANARY}, "a plain value"),
        ({"name": "API_KEY", "value": "x"}, "a plain value"),
        ({"name": "DB_PASSWORD_FILE", "value": "/run/secret"}, None),
        ({"name": "DB_PASSWORD", "value": ""}, None),
        ({"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}, None),
        ({"name": "DSN", "value": f"password={CANARY}"}, "a value for `password`"),
        (
            {"name": "OPTS", "value": "<<akops-secret:pw>>"},
            "a secret placeholder (apply would inject the real value)",
        ),
        ({"name": "MODE", "value": "session"}, None),
    ],
)
def test_plain_env_values(var: dict[str, Any], what: str | None) -> None:
    found = lint(env_of(var)).findings("secrets.env")
    if what is None:
        assert found == []
        return
    (f,) = found
    assert f.message == f"container web env {var['name']} holds {what}"
    assert f.path == "spec.template.spec.containers[0].env[0]"
    assert CANARY not in f.message


@pytest.mark.parametrize(
    ("annotations", "what"),
    [
        ({"checksum/config": "a" * 64}, None),
        ({"checksum/config": "a" * 63}, None),
        ({"checksum/config": f"password={CANARY}"}, "a value for `password`"),
        ({"example.io/password": "x"}, "a secret-named value"),
        ({"example.io/token-url": "https://x"}, "a secret-named value"),
        ({"password.example.io/mode": "strict"}, None),  # only the last segment counts
        ({"example.io/password/mode": "strict"}, None),  # the last, not all after the first /
        ({"note": f"token: {CANARY}"}, "a value for `token`"),
        ({"kubectl.kubernetes.io/last-applied-configuration": "{}"}, None),
    ],
)
def test_annotations_of_objects(annotations: dict[str, str], what: str | None) -> None:
    found = lint(configmap({}, annotations)).findings("secrets.annotation")
    if what is None:
        assert found == []
        return
    (f,) = found
    key = next(iter(annotations))
    assert f.message == f"ConfigMap/cfg annotation {key} holds {what}"
    assert f.object == "ConfigMap/cfg"
    assert CANARY not in f.message


def test_a_secrets_last_applied_annotation_is_the_whole_secret() -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "s",
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"},
        },
    }
    f = lint(secret).one("secrets.annotation")
    assert f.message == (
        "Secret/s annotation kubectl.kubernetes.io/last-applied-configuration holds "
        "the whole Secret (last-applied-configuration)"
    )


def test_pod_template_annotations_are_scanned_at_their_path() -> None:
    d = deployment("web")
    d["spec"]["template"]["metadata"]["annotations"] = {"example.io/secret": "x"}
    f = lint(d).one("secrets.annotation")
    assert f.message == "Deployment/web annotation example.io/secret holds a secret-named value"
    assert f.path == "spec.template.metadata.annotations.example.io/secret"


def test_a_configmap_is_read_to_its_last_key_after_a_secret_named_one() -> None:
    found = lint(configmap({"db_password": CANARY, "z.conf": "a=1\npassword=" + CANARY}))
    assert [(f.message, f.object, f.path) for f in found.findings("secrets.configmap")] == [
        ("ConfigMap/cfg key db_password looks like a secret", "ConfigMap/cfg", "data.db_password"),
        ("ConfigMap/cfg z.conf holds a value for `password`", "ConfigMap/cfg", "data.z.conf"),
    ]


def test_a_two_line_block_points_at_the_line_that_holds_the_secret() -> None:
    text = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n"
        f"  two.conf: |\n    a=1\n    password={CANARY}\n"
    )
    (f,) = lint(text).findings("secrets.configmap")
    assert (f.line, f.object) == (8, "ConfigMap/cfg")


def test_env_is_read_past_a_value_from_a_secret() -> None:
    ref = {"name": "DB_USER", "valueFrom": {"secretKeyRef": {"name": "s", "key": "u"}}}
    found = lint(env_of(ref, {"name": "DB_PASSWORD", "value": CANARY})).findings("secrets.env")
    assert [(f.message, f.path) for f in found] == [
        (
            "container web env DB_PASSWORD holds a plain value",
            "spec.template.spec.containers[0].env[1]",
        )
    ]
