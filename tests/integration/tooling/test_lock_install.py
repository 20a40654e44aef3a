"""pip itself accepts the lock in --require-hashes mode and checks the hashes (PyPI, dry run).

A fresh virtualenv with the interpreter's bundled pip, so the check does not depend on how
the test run itself was installed (nox's uv virtualenvs carry no pip).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def pip(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    venv = tmp_path_factory.mktemp("pip-venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    return [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]


def dry_run(pip: list[str], lock: Path, report: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*pip, "install", "--dry-run", "--ignore-installed", "--require-hashes",
         "--no-input", "--timeout", "60", "--report", str(report), "-r", str(lock)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def locked_here(lock: Path) -> set[str]:
    """Names of the lock whose environment markers hold on this machine."""
    names = set()
    for line in lock.read_text(encoding="utf-8").splitlines():
        if line[:1].isalnum():
            req = Requirement(line.rstrip(" \\"))
            if req.marker is None or req.marker.evaluate(default_environment()):  # type: ignore[arg-type]
                names.add(canonicalize_name(req.name))
    return names


def test_pip_installs_the_lock_with_require_hashes(pip: list[str], tmp_path: Path) -> None:
    lock = ROOT / "requirements.lock"
    done = dry_run(pip, lock, tmp_path / "report.json")
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    chosen = {
        canonicalize_name(i["metadata"]["name"]): i["metadata"]["version"]
        for i in report["install"]
    }
    # Nothing beyond the lock was pulled in, and nothing locked for this platform was left out.
    assert set(chosen) == locked_here(lock)


def test_a_tampered_hash_is_refused(pip: list[str], tmp_path: Path) -> None:
    # The defence the test above relies on: pip really compares the downloaded file's hash.
    pinned = next(
        line.rstrip(" \\")
        for line in (ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines()
        if line.startswith("iniconfig==")  # small, one pure-Python wheel
    )
    bad_entry = f"{pinned} --hash=sha256:{'0' * 64}"
    bad = tmp_path / "tampered.lock"
    bad.write_text(bad_entry + "\n", encoding="utf-8")
    done = dry_run(pip, bad, tmp_path / "report.json")
    assert done.returncode != 0
    assert "DO NOT MATCH THE HASHES" in done.stderr
