"""pytest wiring for the checks: the registry of ``invoke verify``, one test per probe.

``pytest checks --env prod [--target local --url … --pgbouncer … --shm …]`` (the flags of
``invoke verify``, from ``akops.requests.VerifyRequest``; ``--env`` or AKOPS_ENV required) resolves the
targets exactly as ``invoke verify`` does (``akops.verify.run.prepare``: the checks of
the registry, pods by label through the Kubernetes API, or the local services) and
parametrizes ``test_check`` with every probe of the run, named ``CHECK:TARGET``. Each
probe runs through the same runner as ``invoke verify`` (``run.run_probe``). Probes that
do not apply (no credentials, nothing configured) are skipped with the reason; a role
with no pod fails. As with ``invoke verify``, a run in which every test was skipped
evaluated nothing and exits 1, saying so.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from akops.cli import flags_in, require_env
from akops.environment import known_environments
from akops.errors import AkopsError
from akops.layout import Layout
from akops.requests import CHECKS, VerifyRequest
from akops.verify import run
from akops.verify.check import Probe
from akops.verify.results import Result

LAYOUT = Layout(Path(__file__).resolve().parent.parent)
PREPARED = pytest.StashKey[run.Prepared]()
NOTHING_EVALUATED = pytest.StashKey[str]()
DEST = "akops_"  # option names of our own, apart from pytest's and its plugins'


def pytest_addoption(parser: pytest.Parser) -> None:
    """The flags of ``invoke verify`` that pick and aim checks, from ``VerifyRequest``."""
    group = parser.getgroup("akops", "akops verify targets (the flags of invoke verify)")
    for f in flags_in(VerifyRequest, CHECKS):
        group.addoption(
            f.flag,
            dest=DEST + f.name,
            action="append" if f.repeatable else "store",
            default=None,
            metavar=f.name.upper(),
            help=f.help,
        )


def request(config: pytest.Config) -> VerifyRequest:
    """The verify request of this run: each flag through its parser, ``--env`` (or AKOPS_ENV)
    required; InputError otherwise."""
    raw = {f.name: config.getoption(DEST + f.name) for f in flags_in(VerifyRequest, CHECKS)}
    req = VerifyRequest.parse(raw)
    env = require_env(req.env, os.environ, known_environments(LAYOUT.environments))
    return replace(req, env=env)


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> int | None:
    """Resolve the targets before the session: a bad flag, no ``--env`` or no cluster is one
    line and its exit code (2: could not run), not a collection error with a traceback."""
    if config.option.help or config.option.version:
        return None
    try:
        config.stash[PREPARED] = run.prepare(LAYOUT, request(config))
    except AkopsError as e:
        sys.stderr.write(f"error: {e}\n")
        return e.exit_code
    return None


def prepared(config: pytest.Config) -> run.Prepared:
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
