"""The lock file covers pyproject.toml, pins and hashes everything, and is what gets installed."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[3]
LOCK = ROOT / "requirements.lock"
NOX_LOCK = ROOT / "requirements-nox.lock"
REFRESH = "refresh it with `nox -s lock`"

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^ ;\\]+)")


def parse_lock(text: str) -> dict[str, tuple[Version, list[str]]]:
    """Locked name -> (version, hashes); raises on an entry that is not ``name==version``."""
    entries: dict[str, tuple[Version, list[str]]] = {}
    current: list[str] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("--hash="):
            assert current is not None, f"hash without a requirement: {raw!r}"
            current.append(line.removeprefix("--hash=").rstrip(" \\"))
            continue
        m = _PIN.match(line)
        assert m, f"not an exact pin: {raw!r}"
        current = []
        entries[canonicalize_name(m.group(1))] = (Version(m.group(2)), current)
    return entries


def declared() -> list[tuple[str, Requirement]]:
    """Every requirement pyproject.toml declares: runtime, the test extra, the build system."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    found = [("project.dependencies", r) for r in data["project"]["dependencies"]]
    for extra, reqs in data["project"].get("optional-dependencies", {}).items():
        found += [(f"project.optional-dependencies.{extra}", r) for r in reqs]
    found += [("build-system.requires", r) for r in data["build-system"]["requires"]]
    return [(where, Requirement(r)) for where, r in found]


@pytest.fixture(scope="module")
def lock() -> dict[str, tuple[Version, list[str]]]:
    return parse_lock(LOCK.read_text(encoding="utf-8"))


@pytest.mark.parametrize(("where", "req"), declared(), ids=lambda v: str(v))
def test_every_declared_dependency_is_locked_within_its_range(
    lock: dict[str, tuple[Version, list[str]]], where: str, req: Requirement
) -> None:
    name = canonicalize_name(req.name)
    assert name in lock, f"{where}: {req} is not in requirements.lock; {REFRESH}"
    version = lock[name][0]
    assert req.specifier.contains(version, prereleases=True), (
        f"{where}: requirements.lock pins {name}=={version}, outside {req}; {REFRESH}"
    )


def test_every_locked_package_is_pinned_with_sha256_hashes(
    lock: dict[str, tuple[Version, list[str]]],
) -> None:
    assert len(lock) > 20
    for name, (_, hashes) in lock.items():
        assert hashes, f"{name} has no hash"
        assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in hashes), name


def test_the_parser_refuses_what_require_hashes_would_refuse() -> None:
    # The guard above is only as good as this parser: a range or a bare name must fail it.
    with pytest.raises(AssertionError, match="not an exact pin"):
        parse_lock("rich>=13 \\\n    --hash=sha256:" + "0" * 64 + "\n")
    assert parse_lock("rich==15.0.0\n")["rich"][1] == []


def test_the_ci_bootstrap_lock_agrees_with_the_full_lock(
    lock: dict[str, tuple[Version, list[str]]],
) -> None:
    bootstrap = parse_lock(NOX_LOCK.read_text(encoding="utf-8"))
    assert {"nox", "uv"} <= set(bootstrap)
    for name, (version, hashes) in bootstrap.items():
        assert name in lock, f"{name} is in {NOX_LOCK.name} only; {REFRESH}"
        assert lock[name][0] == version, f"{name}: {version} vs {lock[name][0]}; {REFRESH}"
        assert set(hashes) <= set(lock[name][1]), name


def _install_calls(tree: ast.AST) -> list[tuple[str, list[str]]]:
    calls = []
    for fn in ast.walk(tree):
        if not isinstance(fn, ast.FunctionDef):
            continue
        for node in ast.walk(fn):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "install"
            ):
                args = [
                    a.value if isinstance(a, ast.Constant) else ast.unparse(a) for a in node.args
                ]
                calls.append((fn.name, [str(a) for a in args]))
    return calls


def test_every_nox_session_installs_only_from_a_lock() -> None:
    calls = _install_calls(ast.parse((ROOT / "noxfile.py").read_text(encoding="utf-8")))
    assert calls
    for function, args in calls:
        locked = args[:3] == ["--require-hashes", "-r", "LOCK"] or args[:3] == [
            "--require-hashes",
            "-r",
            "NOX_LOCK",
        ]
        own = args == ["--no-deps", "--no-build-isolation", "-e", "."]
        assert locked or own, f"noxfile.py {function}(): unlocked install {args}"


def test_ci_installs_from_the_locks() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "pip install --require-hashes -r requirements-nox.lock" in ci
    assert re.search(r"pip install [^\n]*'nox", ci) is None
