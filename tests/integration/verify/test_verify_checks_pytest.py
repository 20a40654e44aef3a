"""The checks/ modules under pytest (what `nox -s checks` runs) against the same local services."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

pytestmark = pytest.mark.integration


def run_checks(stack, junit, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "checks", "-p", "no:cacheprovider", "--env", "prod",
         "--target", "local", "--timeout", "2", f"--junitxml={junit}", "--skip", "alerts.firing", *args],
        cwd=stack.repo.root, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def cases(junit) -> dict[str, ET.Element]:
    root = ET.parse(junit).getroot()
    return {f"{c.get('classname')}::{c.get('name')}": c for c in root.iter("testcase")}


def test_checks_pass_against_healthy_services(stack, tmp_path) -> None:
    junit = tmp_path / "checks.xml"
    result = run_checks(stack, junit)
    assert result.returncode == 0, result.stdout[-3000:]
    got = cases(junit)
    names = " ".join(got)
    for check in ("http.ready", "http.forward-auth", "pgbouncer.reachable", "pgbouncer.listening",
                  "shm.usage", "db.idle-in-transaction", "db.pool-waiting"):  # fmt: skip
        assert f"test_check[{check}:" in names
    assert len(got) == 12  # 11 local checks, forward auth on two services
    assert not any(
        c.find("failure") is not None or c.find("skipped") is not None for c in got.values()
    )


def test_checks_fail_with_the_same_verdicts(stack, tmp_path) -> None:
    stack.tmpfs.fill(90)
    stack.http.set("/-/health/ready/", "503")
    junit = tmp_path / "checks.xml"
    result = run_checks(stack, junit, "--only", "shm.usage", "--only", "http.ready")
    assert result.returncode == 1
    failures = {k: c.find("failure") for k, c in cases(junit).items()}
    assert len(failures) == 2 and all(f is not None for f in failures.values())
    text = " ".join(f.get("message") or "" for f in failures.values() if f is not None)
    assert "503 Service Unavailable: Authentik is not ready" in text
    assert "% used (" in text and ">= threshold 80%" in text


def test_a_run_where_every_test_was_skipped_fails(stack, tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("AKOPS_PROD_POSTGRES_PASSWORD")  # no credentials: both database tests skip
    junit = tmp_path / "checks.xml"
    result = run_checks(stack, junit, "--only", "db.*")
    assert result.returncode == 1, result.stdout[-3000:]
    assert "nothing was evaluated, every check was skipped" in result.stdout
    assert all(c.find("skipped") is not None for c in cases(junit).values())


@pytest.mark.parametrize(
    ("args", "line"),
    [
        ((), "error: --env is required (one of: lab, prod), or set AKOPS_ENV"),
        (
            ("--env", "prod", "--timeout", "soon"),
            "error: --timeout 'soon': expected a number of seconds",
        ),
        (
            ("--env", "prod", "--target", "moon"),
            "error: --target must be cluster or local, not 'moon'",
        ),
    ],
)
def test_without_env_or_with_a_bad_flag_one_line_and_exit_2(repo, args, line) -> None:
    # Before: --env defaulted to prod, and a failure to start was a collection error with a
    # 50-line traceback.
    env = {k: v for k, v in os.environ.items() if k != "AKOPS_ENV"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "checks", "-p", "no:cacheprovider", *args],
        cwd=repo.root, capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert (result.returncode, result.stderr, result.stdout) == (2, line + "\n", "")
