"""Choosing the environment and reading numeric flags: one line, the flag named."""

from __future__ import annotations

import pytest

from akops.cli import count, require_env, seconds
from akops.errors import InputError


def test_env_comes_from_the_flag_then_akops_env() -> None:
    assert require_env("lab", {"AKOPS_ENV": "prod"}, ["lab", "prod"]) == "lab"
    assert require_env("", {"AKOPS_ENV": "prod"}, ["lab", "prod"]) == "prod"


def test_no_environment_is_never_a_silent_default() -> None:
    with pytest.raises(
        InputError, match=r"^--env is required \(one of: lab, prod\), or set AKOPS_ENV$"
    ):
        require_env("", {}, ["lab", "prod"])
    with pytest.raises(InputError):
        require_env(None, {"AKOPS_ENV": "  "}, ["prod"])


@pytest.mark.parametrize("value", ["abc", "", "1e400", "inf", "nan", "-1", "0"])
def test_seconds_refuse_what_is_not_a_positive_finite_number(value: str) -> None:
    if value == "":
        assert seconds("timeout", value) is None
        return
    with pytest.raises(InputError, match=r"^--timeout "):
        seconds("timeout", value)


def test_seconds_and_counts_read_what_they_should() -> None:
    assert seconds("timeout", "2.5") == 2.5
    assert seconds("deadline", "0", allow_zero=True) == 0
    assert count("max-connections", "100", minimum=1) == 100
    with pytest.raises(InputError, match=r"^--max-connections '0': must be at least 1$"):
        count("max-connections", "0", minimum=1)
    with pytest.raises(InputError, match="expected a whole number"):
        count("max-connections", "1.5")
