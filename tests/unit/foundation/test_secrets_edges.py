"""Secrets at their edges: placeholder syntax, every error's exact wording (naming the
source, never the value), masking of empty and encoded values, and partial resolution."""

from __future__ import annotations

from pathlib import Path

import pytest

from akops.environment import SecretRef
from akops.errors import SecretError
from akops.secrets import (
    ENCODINGS,
    Secrets,
    placeholder,
    placeholders_in,
    resolve,
    resolve_available,
    resolve_needed_or_why,
    resolve_one,
)

CANARY = "canary-Vb8nQ3-never-shown"


def test_placeholders_are_written_and_found_with_their_encoding() -> None:
    assert placeholder("postgres_password") == "<<akops-secret:postgres_password>>"
    assert placeholder("pw", "userlist") == "<<akops-secret:pw|userlist>>"
    text = "a <<akops-secret:one>> b <<akops-secret:two_2|userlist>> <<akops-secret:Bad>>"
    assert placeholders_in(text) == {"one", "two_2"}


def test_an_unknown_encoding_names_the_known_ones() -> None:
    with pytest.raises(SecretError) as err:
        placeholder("pw", "shell")
    assert str(err.value) == "unknown secret encoding 'shell' (known: userlist)"
    with pytest.raises(SecretError) as err:
        Secrets({"x": CANARY}).inject("<<akops-secret:x|shell>>")
    assert str(err.value) == "secret 'x': unknown encoding 'shell'"


def test_inject_writes_each_value_in_its_encoding() -> None:
    secrets = Secrets({"a": 'q"1', "b": "plain"})
    assert secrets.inject("<<akops-secret:a>> <<akops-secret:a|userlist>> <<akops-secret:b>>") == (
        'q"1 q""1 plain'
    )
    with pytest.raises(SecretError) as err:
        secrets.inject("<<akops-secret:c>>")
    assert str(err.value) == "secret 'c' is used but was not resolved"


def test_mask_ignores_empty_values_and_masks_every_form() -> None:
    secrets = Secrets({"empty": "", "pw": 'a"b'})
    assert secrets.mask("text stays") == "text stays"
    assert secrets.mask('a"b and a""b') == "*** and ***"
    assert Secrets({}).mask("x") == "x"


def test_an_unset_or_empty_environment_variable_is_named() -> None:
    ref = SecretRef(env="AKOPS_TEST_PW")
    for environ in ({}, {"AKOPS_TEST_PW": ""}):
        with pytest.raises(SecretError) as err:
            resolve_one("pw", ref, environ)
        assert str(err.value) == "secret 'pw': environment variable AKOPS_TEST_PW is not set"
    assert resolve_one("pw", ref, {"AKOPS_TEST_PW": CANARY}) == CANARY


def test_the_process_environment_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AKOPS_TEST_PW", CANARY)
    assert resolve_one("pw", SecretRef(env="AKOPS_TEST_PW")) == CANARY
    assert resolve({"pw": SecretRef(env="AKOPS_TEST_PW")}).values == {"pw": CANARY}


def file_ref(path: Path, key: str = "pw") -> SecretRef:
    return SecretRef(file=str(path), key=key)


def test_file_errors_name_the_file_and_key_never_the_value(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    cases = {
        f"pw: {CANARY}\n": None,
        f"other: {CANARY}\n": f"secret 'pw': {path} has no non-empty string at key 'pw'",
        "pw: ''\n": f"secret 'pw': {path} has no non-empty string at key 'pw'",
        "pw: 12\n": f"secret 'pw': {path} has no non-empty string at key 'pw'",
        f"- {CANARY}\n": f"secret 'pw': {path} has no non-empty string at key 'pw'",
        f"pw: [{CANARY}\n": f"secret 'pw': cannot read secrets file {path}",
    }
    for text, error in cases.items():
        path.write_text(text, encoding="utf-8")
        if error is None:
            assert resolve_one("pw", file_ref(path)) == CANARY
            continue
        with pytest.raises(SecretError) as err:
            resolve_one("pw", file_ref(path))
        assert str(err.value) == error
        assert CANARY not in str(err.value)


def test_a_file_that_is_not_utf8_or_missing_or_a_folder_is_named(tmp_path: Path) -> None:
    binary = tmp_path / "s.yaml"
    binary.write_bytes(b"pw: \xff\xfe\n")
    with pytest.raises(SecretError) as err:
        resolve_one("pw", file_ref(binary))
    assert str(err.value).startswith(f"secret 'pw': secrets file {binary}")
    assert "UTF-8" in str(err.value)
    missing = tmp_path / "none.yaml"
    with pytest.raises(SecretError) as err:
        resolve_one("pw", file_ref(missing))
    assert str(err.value) == f"secret 'pw': secrets file {missing} does not exist"
    with pytest.raises(SecretError) as err:
        resolve_one("pw", file_ref(tmp_path))
    assert str(err.value).startswith(f"secret 'pw': secrets file {tmp_path}")


def test_a_home_relative_file_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "s.yaml").write_text(f"pw: {CANARY}\n", encoding="utf-8")
    assert resolve_one("pw", SecretRef(file="~/s.yaml", key="pw")) == CANARY


def test_a_line_break_names_the_source(tmp_path: Path) -> None:
    with pytest.raises(SecretError) as err:
        resolve_one("pw", SecretRef(env="E"), {"E": "a\nb"})
    assert (
        str(err.value)
        == "secret 'pw' from environment variable E contains a line break or NUL byte"
    )
    path = tmp_path / "s.yaml"
    path.write_text('pw: "a\\rb"\n', encoding="utf-8")
    with pytest.raises(SecretError) as err:
        resolve_one("pw", file_ref(path))
    assert str(err.value) == (f"secret 'pw' from {path} key 'pw' contains a line break or NUL byte")


def test_resolve_takes_the_names_asked_for_and_names_every_missing_one() -> None:
    refs = {"a": SecretRef(env="A"), "b": SecretRef(env="B")}
    environ = {"A": "1", "B": "2"}
    assert resolve(refs, {"b"}, environ).values == {"b": "2"}
    assert resolve(refs, None, environ).values == {"a": "1", "b": "2"}
    assert resolve(refs, set(), environ).values == {}
    with pytest.raises(SecretError) as err:
        resolve(refs, {"z", "c", "a"}, environ)
    assert str(err.value) == "secret(s) c, z not defined under 'secrets:'"


def test_resolve_available_keeps_what_resolves_for_masking() -> None:
    refs = {"a": SecretRef(env="A"), "b": SecretRef(env="B"), "c": SecretRef(env="C")}
    assert resolve_available(refs, {"A": "1", "C": "3"}).values == {"a": "1", "c": "3"}
    assert resolve_available({}, {}).values == {}


def test_an_unknown_encoding_lists_every_known_one_comma_separated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A second encoding in the registry: the message joins them with ", ".
    monkeypatch.setitem(ENCODINGS, "env", lambda value: value)
    with pytest.raises(SecretError) as err:
        placeholder("pw", "shell")
    assert str(err.value) == "unknown secret encoding 'shell' (known: userlist, env)"


def test_only_line_breaks_and_nul_are_refused_not_other_characters() -> None:
    value = "X-\t \"'$`\\;#|&<>{}()*?~XX"
    assert resolve_one("pw", SecretRef(env="E"), {"E": value}) == value


def test_mask_replaces_the_longer_value_first_whatever_their_order() -> None:
    # "zz" sorts after "azzb" but is inside it: masked first, it would leave "a***b".
    secrets = Secrets({"short": "zz", "long": "azzb"})
    assert secrets.mask("[azzb] [zz]") == "[***] [***]"


def test_resolve_names_the_secret_that_failed() -> None:
    refs = {"a": SecretRef(env="A"), "b": SecretRef(env="B")}
    with pytest.raises(SecretError) as err:
        resolve(refs, None, {"A": "1"})
    assert str(err.value) == "secret 'b': environment variable B is not set"


def test_resolve_needed_or_why_resolves_what_it_can_and_explains_each_needed_gap() -> None:
    refs = {
        "a": SecretRef(env="A"),  # resolves
        "b": SecretRef(env="B"),  # unset, needed
        "c": SecretRef(env="C"),  # unset, not needed: left out silently
    }
    secrets, why = resolve_needed_or_why(refs, ["b", "z", "a"], {"A": CANARY})
    assert secrets.values == {"a": CANARY}
    assert why == {
        "b": "secret 'b': environment variable B is not set",
        "z": "secret 'z' is used but the environment does not declare it",
    }
    assert CANARY not in repr(why)


def test_resolve_needed_or_why_resolves_unneeded_secrets_too_for_masking() -> None:
    refs = {"a": SecretRef(env="A"), "b": SecretRef(env="B")}
    secrets, why = resolve_needed_or_why(refs, [], {"A": "1", "B": "2"})
    assert secrets.values == {"a": "1", "b": "2"}
    assert why == {}
    secrets, why = resolve_needed_or_why({}, ["x"], {})
    assert secrets.values == {}
    assert why == {"x": "secret 'x' is used but the environment does not declare it"}
