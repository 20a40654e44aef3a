"""Inputs stay data: every string of an environment refuses control characters, by field."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from akops.environment import INT32_MAX, Environment
from akops.yamldoc import PathKey, dotted, walk

ROOT = Path(__file__).resolve().parents[3]


def env_data(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "environments" / f"{name}.yaml").read_text())
    return data


def set_at(data: Any, path: PathKey, value: Any) -> None:
    for part in path[:-1]:
        data = data[part]
    data[path[-1]] = value


def string_fields(name: str) -> list[PathKey]:
    return [p for p, v in walk(env_data(name)) if isinstance(v, str)]


def first_error(data: dict[str, Any]) -> tuple[PathKey, str]:
    with pytest.raises(ValidationError) as info:
        Environment.model_validate(data)
    err = info.value.errors()[0]
    return tuple(err["loc"]), str(err["msg"])


@pytest.mark.parametrize("env", ["prod", "lab"])
@pytest.mark.parametrize("char", ["\n", "\r", "\x00", "\x1b", "\u2028"], ids=repr)
def test_every_string_field_refuses_control_characters(env: str, char: str) -> None:
    fields = string_fields(env)
    assert len(fields) > 30  # the walk really reaches the whole file
    for path in fields:
        data = env_data(env)
        original = copy.deepcopy(data)
        value = original
        for part in path:
            value = value[part]
        set_at(data, path, f"{value[:3]}{char}{value[3:]}")
        loc, msg = first_error(data)
        # A list item is named by its list (the list's own check sees the items).
        named = {path, path[:-1]} if isinstance(path[-1], int) else {path}
        assert loc in named, (dotted(path), dotted(loc), msg)


def test_a_secret_name_with_a_control_character_is_refused() -> None:
    data = env_data("prod")
    data["secrets"]["bad\tname"] = {"env": "X"}
    loc, msg = first_error(data)
    assert loc == ("secrets",) and "U+0009" in msg


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("pgbouncer", "replicas"), INT32_MAX + 1),
        (("pgbouncer", "settings", "max_client_conn"), 2**40),
        (("authentik", "server", "web_workers"), 10**12),
        (("upstream", "max_connections"), INT32_MAX + 1),
    ],
)
def test_integers_beyond_int32_are_refused(path: PathKey, value: int) -> None:
    data = env_data("prod")
    set_at(data, path, value)
    loc, msg = first_error(data)
    assert loc == path and "int32" in msg


def test_int32_max_itself_passes_the_range_check() -> None:
    data = env_data("prod")
    set_at(data, ("pgbouncer", "settings", "max_client_conn"), INT32_MAX)
    Environment.model_validate(data)


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
@pytest.mark.parametrize("path", [("kube", "api_timeout"), ("verify", "check_timeout")])
def test_non_finite_numbers_are_refused(path: PathKey, value: float) -> None:
    data = env_data("prod")
    data.setdefault("verify", {})
    set_at(data, path, value)
    loc, _ = first_error(data)
    assert loc == path


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("pgbouncer", "image"), "edoburu/pgbouncer:v1 latest"),
        (("pgbouncer", "image"), "edoburu/pgbouncer:"),
        (("pgbouncer", "image"), "edoburu/pgbouncer@sha256:short"),
        (("kube", "namespace"), "Authentik"),
        (("kube", "tier"), "-tier"),
        (("authentik", "outpost", "name"), "a" * 64),
        (("authentik", "outpost", "container"), "Proxy"),
        (("authentik", "chart", "release"), "r" * 54),
        (("authentik", "chart", "repo"), "charts.goauthentik.io"),
        (("authentik", "host"), "auth example"),
        (("upstream", "host"), "db;host"),
        (("upstream", "user"), "authentik user"),
        (("upstream", "database"), "a=b"),
        (("authentik", "existing_secret"), "Goauthentik"),
    ],
)
def test_strings_follow_their_syntax(path: PathKey, value: str) -> None:
    data = env_data("prod")
    set_at(data, path, value)
    loc, _ = first_error(data)
    assert loc == path


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("pgbouncer", "image"), "edoburu/pgbouncer:v1.24.1-p1@sha256:" + "a" * 64),
        (("pgbouncer", "image"), "registry.local:5000/team/pgbouncer:1.24"),
        (("upstream", "host"), "10.0.0.5"),
        (("upstream", "host"), "::1"),
        (("authentik", "chart", "repo"), "http://127.0.0.1:8879/"),
    ],
)
def test_valid_forms_pass(path: PathKey, value: str) -> None:
    data = env_data("prod")
    set_at(data, path, value)
    Environment.model_validate(data)
