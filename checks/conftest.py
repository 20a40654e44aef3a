"""pytest wiring for the checks: the same plan as ``invoke verify``, one test per probe.

``pytest checks --env prod [--target local --url … --pgbouncer … --shm …]`` resolves the
targets exactly as ``invoke verify`` does (``akops.verify.run.prepare``: pods by label
through the Kubernetes API, or the local services) and parametrizes every test marked
``@pytest.mark.check(ID)`` with the probes of that check. ``host`` is a testinfra host
(``kubectl://POD?namespace=…&container=…`` or ``local://``) whose every command has the
check timeout. Probes that do not apply (no credentials, nothing configured) are
skipped with the reason; a role with no pod fails. As with ``invoke verify``, a run in
which every test was skipped evaluated nothing and exits 1, saying so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from akops.errors import AkopsError
from akops.layout import Layout
from akops.verify import execute, run
from akops.verify.plan import Probe
from akops.verify.query import Credentials

LAYOUT = Layout(Path(__file__).resolve().parent.parent)
PREPARED = pytest.StashKey[run.Prepared]()
NOTHING_EVALUATED = pytest.StashKey[str]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("akops", "akops verify targets")
    group.addoption("--env", default="prod", help="environment name (a file in environments/)")
    group.addoption(
        "--target", default="cluster", choices=("cluster", "local"), help="where the checks run"
    )
    group.addoption("--context", default=None, help="kube context instead of the environment's")
    group.addoption(
        "--only", action="append", default=[], help="check ID (glob) to run; repeatable"
    )
    group.addoption(
        "--skip", action="append", default=[], help="check ID (glob) to skip; repeatable"
    )
    group.addoption("--url", default=None, help="Authentik base URL")
    group.addoption("--outpost-url", default=None, help="outpost base URL")
    group.addoption("--pgbouncer", default=None, help="PgBouncer HOST:PORT reachable from here")
    group.addoption("--shm", default=None, help="tmpfs path checked locally")
    group.addoption(
        "--protected", action="append", default=None, help="protected service URL; repeatable"
    )
    group.addoption("--check-timeout", default=None, help="seconds per check")
    group.addoption("--deadline", default=None, help="seconds convergence checks retry")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "check(id): the catalogue check ID this test implements")


def prepared(config: pytest.Config) -> run.Prepared:
    if PREPARED not in config.stash:
        opt = config.option
        try:
            config.stash[PREPARED] = run.prepare(
                LAYOUT,
                opt.env,
                context=opt.context,
                target=opt.target,
                only=opt.only,
                skip=opt.skip,
                options=run.options(
                    url=opt.url,
                    outpost_url=opt.outpost_url,
                    pgbouncer=opt.pgbouncer,
                    shm=opt.shm,
                    protected=opt.protected,
                    timeout=opt.check_timeout,
                    deadline=opt.deadline,
                ),
            )
        except AkopsError as e:
            pytest.exit(f"error: {e}", returncode=e.exit_code)
    return config.stash[PREPARED]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("check")
    if marker is None or "probe" not in metafunc.fixturenames:
        return
    probes = [p for p in prepared(metafunc.config).probes if p.check == marker.args[0]]
    metafunc.parametrize("probe", probes, ids=[p.target for p in probes], indirect=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Checks not in this run (--only/--skip, or cluster-only under --target local) are
    # deselected, not reported as skipped: they were not asked for.
    keep, drop = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        chosen = callspec is not None and isinstance(callspec.params.get("probe"), Probe)
        (keep if chosen else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if exitstatus != pytest.ExitCode.OK or reporter is None:
        return
    stats = reporter.stats
    if stats.get("skipped") and not any(stats.get(k) for k in ("passed", "failed", "error")):
        session.config.stash[NOTHING_EVALUATED] = (
            "nothing was evaluated, every check was skipped (reasons: -rs); this run fails"
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if NOTHING_EVALUATED in config.stash:
        terminalreporter.write_line(config.stash[NOTHING_EVALUATED], red=True, bold=True)


@pytest.fixture
def probe(request: pytest.FixtureRequest) -> Probe:
    """The probe this test case runs (check ID, target, arguments)."""
    p: Probe = request.param
    if p.kind == "skip":
        pytest.skip(str(p.args["why"]))
    if p.kind == "absent":
        pytest.fail(str(p.args["why"]), pytrace=False)
    return p


@pytest.fixture(scope="session")
def plan(request: pytest.FixtureRequest) -> run.Prepared:
    return prepared(request.config)


@pytest.fixture
def host(probe: Probe, plan: run.Prepared) -> Any:
    """The testinfra host of an exec probe, every command bounded by the check timeout."""
    assert probe.host is not None, f"{probe.check} is not an exec check"
    return execute.timed_host(probe.host, plan.timeout)


@pytest.fixture
def timeout(plan: run.Prepared) -> float:
    return plan.timeout


@pytest.fixture
def api(plan: run.Prepared) -> Any:
    """The Kubernetes API client (cluster target)."""
    return plan.api


@pytest.fixture
def credentials(plan: run.Prepared) -> Credentials:
    assert plan.credentials is not None
    return plan.credentials
