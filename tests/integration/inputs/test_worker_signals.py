"""Signals to a task with worker processes: the parent stops them, one line, exit 128 + n.

`lint --path` over a tree large enough to fork its worker pool runs in its own session; once
/proc shows the workers, SIGINT, SIGTERM or SIGHUP goes to the whole process group (what a
terminal's Ctrl-C or hangup, or `kill -TERM -PGID`, does). The workers ignore it; the parent
kills them, prints one line, exits 128 + n; nothing of the run is left in /proc.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from akops.layout import Layout
from akops.lint.workers import MIN_PARALLEL_FILES
from tests.integration.inputs.contract import SIGNALS, held, start, wait_until

pytestmark = pytest.mark.integration

#: Files in the tree: enough that the pool is busy for seconds on a loaded machine.
FILES = 6 * MIN_PARALLEL_FILES


def tree(repo: Layout, files: int = FILES) -> Path:
    """A lint tree of the rendered prod stack, copied ``files`` times (objects renamed)."""
    rendered = sorted((repo.manifests / "prod").glob("*.yaml"))
    text = "\n---\n".join(p.read_text() for p in rendered)
    root = repo.root / "big"
    root.mkdir()
    for i in range(files):
        body = text.replace("name: pgbouncer", f"name: pgbouncer-{i}")
        (root / f"stack-{i:03}.yaml").write_text(body * 4)
    return root


@pytest.mark.parametrize("sig", SIGNALS, ids=[s.name for s in SIGNALS])
def test_a_signal_to_the_group_stops_the_workers_once(sig: signal.Signals, repo: Layout) -> None:
    root = tree(repo)
    run = start(repo.root, "lint", "--path", str(root), "--no-cache")
    # At least one forked worker (one per core; a 1-core machine forks none).
    wait_until(lambda: run.forks() or run.proc.poll() is not None, "workers")
    assert run.proc.poll() is None, "lint finished before its workers could be signalled"
    run.signal_group(sig)
    result = run.finish(guard=120)
    held(result, "lint", (f"interrupted by {sig.name}",), code=128 + sig)


def test_a_second_signal_during_the_stop_leaves_nothing_either(repo: Layout) -> None:
    root = tree(repo)
    run = start(repo.root, "lint", "--path", str(root), "--no-cache")
    wait_until(lambda: run.forks() or run.proc.poll() is not None, "workers")
    run.signal_group(signal.SIGINT)
    run.signal_group(signal.SIGTERM)
    result = run.finish(guard=120)
    assert result.returncode in (128 + signal.SIGINT, 128 + signal.SIGTERM), result.stderr
    assert "Traceback" not in result.stderr
