"""Nox sessions: thin adapters that install what a session needs and run one command."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True

ROOT = Path(__file__).parent
ENVS = sorted(p.stem for p in (ROOT / "environments").glob("*.yaml"))


@nox.session
def lint(session: nox.Session) -> None:
    """ruff, mypy, yamllint on templates/manifests, and the render drift gate."""
    session.install("-e", ".[test]")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")
    session.run(
        "yamllint", "--strict", "-c", ".yamllint.yaml", "manifests", "environments", "runbooks"
    )
    for env in ENVS:
        session.run("invoke", "render", "--env", env, "--check")


def ensure_system_packages(session: nox.Session) -> None:
    """PgBouncer and PostgreSQL server binaries for the integration tests."""
    have_pg = any(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    have_pgbouncer = bool(shutil.which("pgbouncer")) or Path("/usr/sbin/pgbouncer").exists()
    packages = ([] if have_pg else ["postgresql"]) + ([] if have_pgbouncer else ["pgbouncer"])
    if not packages:
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        session.run("apt-get", "update", "-qq", external=True)
        session.run("apt-get", "install", "-y", "-qq", *packages, external=True)
        return
    session.error(
        f"the integration tests need {' and '.join(packages)}: apt-get install {' '.join(packages)}"
    )


@nox.session
def tests(session: nox.Session) -> None:
    """The whole test suite: unit and integration (real PostgreSQL, PgBouncer, HTTP, tmpfs)."""
    ensure_system_packages(session)
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)
