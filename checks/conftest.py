"""pytest wiring for the checks: the registry of ``invoke verify``, one test per probe.

``pytest checks --env prod [--target local --url … --pgbouncer … --shm …]`` resolves the
targets exactly as ``invoke verify`` does (``akops.verify.run.prepare``: the checks of
the registry, pods by label through the Kubernetes API, or the local services) and
parametrizes ``test_check`` with every probe of the run, named ``CHECK:TARGET``. Each
probe runs through the same runner as ``invoke verify`` (``run.run_probe``). Probes that
do not apply (no credentials, nothing configured) are skipped with the reason; a role
with no pod fails. As with ``invoke verify``, a run in which every test was skipped
evaluated nothing and exits 1, saying so.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from akops.errors import AkopsError
from akops.layout import Layout
from akops.verify import run
from akops.verify.check import Probe
from akops.verify.results import Result

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
    group.addoption("--prometheus", default=None, help="Prometheus base URL (alerts.firing)")


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
                    prometheus=opt.prometheus,
                ),
            )
        except AkopsError as e:
            pytest.exit(f"error: {e}", returncode=e.exit_code)
    return config.stash[PREPARED]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "probe" in metafunc.fixturenames:
        probes = prepared(metafunc.config).probes
        metafunc.parametrize("probe", probes, ids=[f"{p.check}:{p.target}" for p in probes])


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


@pytest.fixture(scope="session")
def run_probe(request: pytest.FixtureRequest) -> Callable[[Probe], Result]:
    """Runs one probe exactly as ``invoke verify`` would (timeouts, retries, batching)."""
    plan = prepared(request.config)
    return lambda probe: run.run_probe(plan, probe)
