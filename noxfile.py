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
    """ruff, mypy, yamllint on templates/manifests, the render drift gate and the stack lint."""
    session.install("-e", ".[test]")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")
    session.run(
        "yamllint", "--strict", "-c", ".yamllint.yaml", "manifests", "environments", "runbooks"
    )
    for env in ENVS:
        session.run("invoke", "render", "--env", env, "--check")
        session.run("invoke", "lint", "--env", env)
    # Every runbook validates, names only existing checks and tasks, and renders for every env.
    session.run("invoke", "runbook.list", "--check")


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


@nox.session
def bench(session: nox.Session) -> None:
    """Lint benchmark: the prod stack, and schema + policy throughput on 2,000 documents."""
    session.install("-e", ".")
    session.run("python", "scripts/bench_lint.py", *session.posargs)


@nox.session
def checks(session: nox.Session) -> None:
    """The checks/ modules under pytest against the resolved targets; JUnit XML in reports/.

    Target options go after ``--``: ``nox -s checks -- --env prod`` (cluster, pods by label) or
    ``nox -s checks -- --target local --url http://127.0.0.1:9000 --pgbouncer 127.0.0.1:6432``.
    """
    session.install("-e", ".")
    junit = ROOT / "reports" / "checks.xml"
    session.run(
        "pytest", "checks", f"--junitxml={junit}", "-o", "junit_family=xunit2", *session.posargs
    )


@nox.session
def bench_verify(session: nox.Session) -> None:
    """Verify benchmark: the check set (9 pods, 43 protected services) sequential vs concurrent."""
    session.install("-e", ".")
    session.run("python", "scripts/bench_verify.py", *session.posargs)


@nox.session
def bench_plan(session: nox.Session) -> None:
    """Plan/apply benchmark against the Kubernetes API emulator (no cluster needed)."""
    session.install("-e", ".[test]")
    session.run("python", "scripts/bench_plan.py", *session.posargs)


@nox.session(default=False)
def e2e(session: nox.Session) -> None:
    """Deploy and verify against a real cluster from KUBECONFIG (opt-in; skipped without one).

    ``nox -s e2e`` (environment ``lab``) or ``nox -s e2e -- ENV``. The PgBouncer part by
    default; ``AKOPS_E2E_FULL=1`` runs the whole ``invoke deploy`` (Helm release, verify).
    """
    kubeconfig = os.environ.get("KUBECONFIG", "")
    files = [Path(p).expanduser() for p in kubeconfig.split(os.pathsep) if p]
    if not files or not all(p.is_file() for p in files):
        session.skip(
            "no cluster given: set KUBECONFIG to a kind or k3d cluster "
            "(README: 'Running e2e on kind or k3d')"
        )
    env = session.posargs[0] if session.posargs else "lab"
    session.install("-e", ".")
    if os.environ.get("AKOPS_E2E_FULL") == "1":
        session.run("invoke", "deploy", "--env", env, "--yes")
        session.run("invoke", "plan", "--env", env)  # exit 0: a deploy leaves no changes
        return
    session.run("invoke", "apply", "--env", env, "--yes", "--skip-helm")
    session.run("invoke", "rollout", "--env", env, "--deployment", "pgbouncer")
    session.run("invoke", "plan", "--env", env, "--skip-helm")  # exit 0: nothing left to change
    session.run(
        "invoke", "verify", "--env", env, "--only", "rollout.converged", "--only", "pdb.budget"
    )
