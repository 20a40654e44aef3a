"""The PgBouncer binaries the tests and the rehearsals run: prod's 1.24.1 built from its pinned
source, Debian's 1.18.0, or binaries an operator names in ``$AKOPS_PGBOUNCER``.

The build itself runs once per machine (nox's ``python -m akops.tools pgbouncer``, or the first
test that needs it); these tests take the cached build and check every way of being refused.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from akops.errors import ToolMissingError
from akops.tools import pgbouncer as tool
from tests.integration.conftest import pgbouncer_binary

ROOT = Path(__file__).resolve().parents[3]


def _script(path: Path, says: str) -> Path:
    """A program that is not PgBouncer but answers ``--version`` (what a wrong path gives)."""
    path.write_text(f"#!/bin/sh\necho '{says}'\n")
    path.chmod(0o755)
    return path


def test_prods_version_is_built_and_cached() -> None:
    built = pgbouncer_binary()
    assert tool.pgbouncer_version(built) == "1.24.1"
    assert built == tool.cached_path(tool.PROD)
    assert tool.ensure_pgbouncer() == built  # the second call takes the cache


def test_debians_version_is_the_package() -> None:
    debian = pgbouncer_binary("1.18.0")
    assert debian == Path("/usr/sbin/pgbouncer")
    assert tool.pgbouncer_version(debian) == "1.18.0"


def test_the_cli_prints_only_the_path_and_refuses_an_unknown_version() -> None:
    run = [sys.executable, "-m", "akops.tools", "pgbouncer"]
    done = subprocess.run(run, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{pgbouncer_binary()}\n"
    bad = subprocess.run([*run, "1.2"], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert bad.returncode == 2
    assert bad.stdout == ""
    assert (
        bad.stderr
        == "error: PgBouncer 1.2 is not a supported version (supported: 1.18.0, 1.24.1)\n"
    )


def test_a_listed_binary_is_used_for_the_version_it_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine = tmp_path / "pgbouncer"
    shutil.copy2(pgbouncer_binary(), mine)
    monkeypatch.setenv(tool.BINARIES_VAR, f"{pgbouncer_binary('1.18.0')}:{mine}")
    cache = tmp_path / "cache"
    assert tool.ensure_pgbouncer("1.24.1", cache=cache) == mine
    assert not cache.exists()  # nothing was built
    assert tool.ensure_pgbouncer("1.18.0") == Path("/usr/sbin/pgbouncer")


def test_a_listed_binary_of_another_version_or_none_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(tool.BINARIES_VAR, str(_script(tmp_path / "old", "PgBouncer 1.17.0")))
    with pytest.raises(ToolMissingError, match=r"is PgBouncer 1\.17\.0, not a supported version"):
        tool.ensure_pgbouncer()
    monkeypatch.setenv(tool.BINARIES_VAR, str(_script(tmp_path / "sh", "hello")))
    with pytest.raises(ToolMissingError, match="not a working PgBouncer"):
        tool.ensure_pgbouncer()
    monkeypatch.setenv(tool.BINARIES_VAR, str(tmp_path / "gone"))
    with pytest.raises(ToolMissingError, match=r"AKOPS_PGBOUNCER: .*gone is not a file"):
        tool.ensure_pgbouncer()


def test_a_source_tarball_that_is_not_the_pinned_one_is_never_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(tool.BINARIES_VAR, raising=False)
    monkeypatch.setenv("AKOPS_TEST_DATA", str(tmp_path))
    cache = tmp_path / "cache"
    with pytest.raises(
        ToolMissingError, match="set AKOPS_TEST_DATA to the folder holding pgbouncer/"
    ):
        tool.ensure_pgbouncer(cache=cache)
    (tmp_path / "pgbouncer").mkdir()
    fake = tmp_path / "pgbouncer" / tool.PROD.source.tarball  # type: ignore[union-attr]
    fake.write_bytes(b"not the release")
    digest = hashlib.sha256(b"not the release").hexdigest()
    with pytest.raises(ToolMissingError, match=f"sha256 {digest} is not the pinned"):
        tool.ensure_pgbouncer(cache=cache)
    assert not tool.cached_path(tool.PROD, cache).exists()


def test_a_cached_file_that_is_not_pgbouncer_is_not_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A broken cache entry is rebuilt, never run as PgBouncer; here the build is refused first."""
    monkeypatch.delenv(tool.BINARIES_VAR, raising=False)
    monkeypatch.setenv("AKOPS_TEST_DATA", str(tmp_path))
    cache = tmp_path / "cache"
    target = tool.cached_path(tool.PROD, cache)
    target.parent.mkdir(parents=True)
    _script(target, "PgBouncer 1.24.0")
    with pytest.raises(ToolMissingError, match="not found; set AKOPS_TEST_DATA"):
        tool.ensure_pgbouncer(cache=cache)
