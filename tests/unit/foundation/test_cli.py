"""Choosing the environment and reading numeric flags: one line, the flag named."""

from __future__ import annotations

import os
from pathlib import Path

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


# --- range, size and output-path parsers (flags read before anything starts) ---------------


def test_a_count_has_a_range_and_names_the_flag() -> None:
    from akops.cli import count, whole

    assert count("max-connections", "100", minimum=4, maximum=262_143) == 100
    with pytest.raises(InputError, match=r"^--max-connections '999999': must be at most 262143$"):
        count("max-connections", "999999", minimum=4, maximum=262_143)
    with pytest.raises(InputError, match=r"^--workers '0': must be at least 1$"):
        whole(minimum=1, maximum=1024)("--workers", "0")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("64Mi", 64 * 2**20), ("2Gi", 2 * 2**30), ("1000000", 1_000_000), ("1.5Gi", 3 * 2**29)],
)
def test_a_size_is_bytes(raw: str, expected: int) -> None:
    from akops.cli import size

    assert size("shm-size", raw, minimum=1, maximum=2**40) == expected


@pytest.mark.parametrize("raw", ["3x", "500m", "-1Gi", "Gi", "1e9", "1Pi", " 1Gi"])
def test_what_is_not_a_size_of_bytes_is_refused(raw: str) -> None:
    from akops.cli import size

    with pytest.raises(InputError, match=r"^--shm-size .*: expected a size"):
        size("shm-size", raw, minimum=1, maximum=2**40)


def test_a_size_out_of_range_says_the_range() -> None:
    from akops.cli import bytes_size

    parse = bytes_size(minimum=2**20, maximum=2**40)
    assert parse("--shm-size", "512Mi") == "512Mi"
    with pytest.raises(InputError, match=r"between 1Mi and 1Ti"):
        parse("--shm-size", "0")
    with pytest.raises(InputError, match=r"between 1Mi and 1Ti"):
        parse("--shm-size", "2048Gi")


def test_an_output_path_is_checked_before_anything_runs(tmp_path: Path) -> None:
    from akops.cli import output_dir, output_file

    assert output_file()("--json", str(tmp_path / "r.json")) == str(tmp_path / "r.json")
    with pytest.raises(InputError, match="no directory"):
        output_file()("--json", str(tmp_path / "no" / "r.json"))
    assert output_file(parents=True)("--json", str(tmp_path / "no" / "r.json"))
    with pytest.raises(InputError, match="is a directory"):
        output_file()("--json", str(tmp_path))
    fifo = tmp_path / "p"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="named pipe"):
        output_file(parents=True)("--junit", str(fifo))
    (tmp_path / "f").write_text("x")
    with pytest.raises(InputError, match=r"--out .*: exists and is not a directory"):
        output_dir("--out", str(tmp_path / "f"))
