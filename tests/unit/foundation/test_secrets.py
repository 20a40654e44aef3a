"""Secrets: placeholders, resolution from env and file, masking; errors never carry values."""

from __future__ import annotations

from pathlib import Path

import pytest

from akops.environment import SecretRef
from akops.errors import SecretError
from akops.secrets import Secrets, placeholder, placeholders_in, resolve

CANARY = "canary-Hk2mPq7Zr"


def test_inject_replaces_placeholders_and_mask_hides_values() -> None:
    secrets = Secrets({"postgres_password": CANARY})
    text = f'"authentik" "{placeholder("postgres_password")}"'
    assert placeholders_in(text) == {"postgres_password"}
    injected = secrets.inject(text)
    assert injected == f'"authentik" "{CANARY}"'
    assert CANARY not in secrets.mask(f"connect failed: password={CANARY}")
    assert CANARY not in repr(secrets)


def test_mask_replaces_longer_values_first() -> None:
    secrets = Secrets({"a": "abc", "b": "abcdef"})
    assert secrets.mask("x abcdef y abc") == "x *** y ***"


def test_inject_refuses_an_unresolved_placeholder() -> None:
    with pytest.raises(SecretError, match="'token' is used but was not resolved"):
        Secrets({}).inject(placeholder("token"))


def test_resolve_from_environment_variable() -> None:
    refs = {"postgres_password": SecretRef(env="PGPASS_TEST")}
    assert resolve(refs, environ={"PGPASS_TEST": CANARY}).values == {"postgres_password": CANARY}
    with pytest.raises(SecretError, match="PGPASS_TEST is not set"):
        resolve(refs, environ={})


def test_resolve_from_file(tmp_path: Path) -> None:
    path = tmp_path / "secrets.yaml"
    path.write_text(f"postgres_password: {CANARY}\nother: 1\n")
    refs = {"postgres_password": SecretRef(file=str(path), key="postgres_password")}
    assert resolve(refs).values["postgres_password"] == CANARY
    bad = {"x": SecretRef(file=str(path), key="other")}
    with pytest.raises(SecretError) as err:
        resolve(bad)
    assert CANARY not in str(err.value)
    with pytest.raises(SecretError, match="does not exist"):
        resolve({"x": SecretRef(file=str(tmp_path / "nope.yaml"), key="x")})


def test_resolve_unknown_name() -> None:
    with pytest.raises(SecretError, match="not defined"):
        resolve({}, names={"postgres_password"})


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"env": "A", "file": "f", "key": "k"}, {"file": "f"}],
    ids=["none", "both", "file-no-key"],
)
def test_secret_ref_needs_exactly_one_source(kwargs: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        SecretRef(**kwargs)


def test_userlist_encoding_doubles_quotes_and_masking_covers_it() -> None:
    password = 'pa"ss-Hk2mPq7Zr'
    secrets = Secrets({"postgres_password": password})
    line = secrets.inject(f'"authentik" "{placeholder("postgres_password", "userlist")}"')
    assert line == '"authentik" "pa""ss-Hk2mPq7Zr"'
    # the written (escaped) form is masked too, e.g. when a diff shows the userlist
    assert secrets.mask(line) == '"authentik" "***"'
    assert placeholders_in(line) == set()


def test_unknown_encoding_is_refused() -> None:
    with pytest.raises(SecretError, match="unknown secret encoding 'shell'"):
        placeholder("postgres_password", "shell")
    with pytest.raises(SecretError, match="unknown encoding"):
        Secrets({"x": "y"}).inject("<<akops-secret:x|shell>>")


@pytest.mark.parametrize("value", ["line\nbreak", "carriage\rreturn", "nul\0byte"])
def test_values_with_line_breaks_are_refused(value: str) -> None:
    refs = {"postgres_password": SecretRef(env="PGPASS_TEST")}
    with pytest.raises(SecretError, match="line break or NUL") as err:
        resolve(refs, environ={"PGPASS_TEST": value})
    assert value not in str(err.value)
