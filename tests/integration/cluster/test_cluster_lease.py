"""The deploy lock on the real API server: one run at a time, expiry, interrupt, unlock.

The Lease lives in the stack's namespace of each test; its create and update races are
settled by the real API server (201 for one creator, 409 AlreadyExists or Conflict for the
others), never by the code under test.
"""

from __future__ import annotations

import datetime
import os
import pty
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from akops.cluster import lease
from akops.cluster.connect import connect
from akops.cluster.holder import Holder, lease_body
from akops.environment import load_environment
from akops.errors import LockHeld, LockLost
from akops.layout import Layout

from .conftest import ENV
from .plane import Plane

pytestmark = pytest.mark.integration
CONTENDERS = 10


def holder(name: str) -> Holder:
    return Holder(
        f"{name}@host:{os.getpid()}:{name}",
        name,
        "host",
        "deploy",
        datetime.datetime.now(tz=datetime.UTC),
        "abc",
        False,
    )


@pytest.fixture
def ns(cluster: Plane) -> str:
    """The stack's namespace, made as the cluster's admin would (where the Lease lives)."""
    return cluster.make_namespace()


@pytest.fixture
def api(local: Layout, ns: str) -> Iterator[Any]:
    """akops' own client for environment ``local`` (through the fault proxy)."""
    with connect(load_environment(ENV, local.environments)) as client:
        yield client


def test_ten_runs_racing_for_the_lock_have_exactly_one_winner(
    api: Any, cluster: Plane, ns: str
) -> None:
    # Round 0 races to create the Lease, the later ones to take the released one over.
    for round_ in range(3):
        contenders = [holder(f"run{round_}x{i}") for i in range(CONTENDERS)]
        start = threading.Barrier(CONTENDERS)
        results: dict[str, str] = {}

        def race(me: Holder, start: threading.Barrier, results: dict[str, str]) -> None:
            start.wait()
            try:
                lease.DeployLock(api, ns, me).acquire()
                results[me.user] = "won"
            except LockHeld as e:
                results[me.user] = str(e)

        threads = [threading.Thread(target=race, args=(h, start, results)) for h in contenders]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        winners = [h for h in contenders if results[h.user] == "won"]
        assert len(winners) == 1, results
        for loser in contenders:
            if loser is not winners[0]:
                assert f"held by {winners[0].user}@host (deploy" in results[loser.user], results
        assert cluster.lease()["spec"]["holderIdentity"] == winners[0].identity  # type: ignore[index]
        assert lease.DeployLock(api, ns, winners[0]).release()


def test_renewal_notices_a_broken_lock(api: Any, ns: str) -> None:
    me = holder("alice")
    with lease.DeployLock(api, ns, me, duration=3) as held:
        time.sleep(1.2)  # one renewal (every duration / 3 s)
        assert held.found is not None and held.found.holder == me
        assert lease.break_lock(api, ns) == me
        time.sleep(1.5)
        with pytest.raises(LockLost, match="held by nobody"):
            held.check()
    # Not ours any more: leaving the block leaves the Lease alone.
    assert lease.get(api, ns).holder is None  # type: ignore[union-attr]


def foreign_lease(ns: str, renewed_ago: float, duration: int = 60) -> dict[str, Any]:
    bob = Holder(
        "bob@old-laptop:99:ff",
        "bob",
        "old-laptop",
        "deploy",
        datetime.datetime(2026, 11, 29, 8, 0, tzinfo=datetime.UTC),
        "feedface",
        True,
    )
    renewed = datetime.datetime.now(tz=datetime.UTC) - datetime.timedelta(seconds=renewed_ago)
    return lease_body(ns, bob, renewed, duration=duration, transitions=4)


def test_an_expired_lease_is_taken_over_and_released(
    run: Callable[..., Any], cluster: Plane, ns: str
) -> None:
    cluster.put_lease(foreign_lease(ns, renewed_ago=600))
    result = run("apply", "--env", ENV, "--skip-helm", "--yes")
    assert result.returncode == 0, result.stdout + result.stderr
    assert cluster.get("configmaps", "pgbouncer-config") is not None
    after = cluster.lease()
    assert after is not None and not after["spec"].get("holderIdentity")
    assert after["spec"]["leaseTransitions"] == 5


def test_a_live_lease_refuses_with_exit_1_naming_the_holder(
    run: Callable[..., Any], cluster: Plane, ns: str
) -> None:
    cluster.put_lease(foreign_lease(ns, renewed_ago=5))
    result = run("apply", "--env", ENV, "--skip-helm", "--yes")
    assert result.returncode == 1, result.stdout + result.stderr
    (line,) = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert "held by bob@old-laptop (deploy, since 2026-11-29 08:00:00 UTC" in line
    assert "commit feedface, dirty tree" in line and "invoke unlock" in line
    assert cluster.get("configmaps", "pgbouncer-config") is None  # nothing applied
    assert run("apply", "--env", ENV, "--skip-helm", "--yes", "--dry-run").returncode == 0


def test_unlock_shows_asks_and_breaks(run: Callable[..., Any], cluster: Plane, ns: str) -> None:
    cluster.put_lease(foreign_lease(ns, renewed_ago=5))
    shown = run("unlock", "--env", ENV, "--dry-run")
    assert shown.returncode == 0 and "held (live) by bob@old-laptop" in shown.stdout
    refused = run("unlock", "--env", ENV, stdin="")
    assert refused.returncode == 2 and "pass --yes" in refused.stderr
    assert cluster.lease()["spec"]["holderIdentity"] == "bob@old-laptop:99:ff"  # type: ignore[index]
    broken = run("unlock", "--env", ENV, "--yes")
    assert broken.returncode == 0, broken.stderr
    assert "unlocked: bob@old-laptop" in broken.stdout
    assert not cluster.lease()["spec"].get("holderIdentity")  # type: ignore[index]
    assert run("unlock", "--env", ENV).stdout.strip().endswith("is not held")
    assert run("apply", "--env", ENV, "--skip-helm", "--yes").returncode == 0


class Waiting:
    """`invoke apply` on a terminal, stopped at its confirmation prompt (holding the lock)."""

    def __init__(self, root: Path, *args: str) -> None:
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "invoke", *args],
            cwd=root,
            stdin=slave,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        os.close(slave)

    def answer(self, text: str) -> None:
        os.write(self.master, text.encode())

    def finish(self, timeout: float = 30) -> tuple[int, str, str]:
        out, err = self.proc.communicate(timeout=timeout)
        os.close(self.master)
        return self.proc.returncode, out, err


def wait_for_holder(cluster: Plane, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = cluster.lease()
        if found and found["spec"].get("holderIdentity"):
            return found
        time.sleep(0.1)
    raise AssertionError("no run took the lock")


def test_a_second_apply_while_one_waits_at_its_prompt_refuses(
    run: Callable[..., Any], cluster: Plane, local: Layout
) -> None:
    first = Waiting(local.root, "apply", "--env", ENV, "--skip-helm")
    try:
        held = wait_for_holder(cluster)
        assert held["metadata"]["annotations"]["akops.io/task"] == "apply"
        second = run("apply", "--env", ENV, "--skip-helm", "--yes")
        assert second.returncode == 1
        assert "the deploy lock" in second.stderr and "(apply, since" in second.stderr
        assert cluster.get("configmaps", "pgbouncer-config") is None  # the second applied nothing
        first.answer("yes\n")
        code, out, err = first.finish()
    finally:
        if first.proc.poll() is None:
            first.proc.kill()
    assert code == 0, out + err
    assert cluster.get("configmaps", "pgbouncer-config") is not None
    assert not cluster.lease()["spec"].get("holderIdentity")  # type: ignore[index]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_the_lease_is_released_after_an_interrupt(
    cluster: Plane, local: Layout, signum: signal.Signals
) -> None:
    first = Waiting(local.root, "apply", "--env", ENV, "--skip-helm")
    try:
        wait_for_holder(cluster)
        first.proc.send_signal(signum)
        code, _, err = first.finish()
    finally:
        if first.proc.poll() is None:
            first.proc.kill()
    assert code == 128 + signum and f"interrupted by {signum.name}" in err, (code, err)
    assert not cluster.lease()["spec"].get("holderIdentity"), err  # type: ignore[index]
    assert cluster.get("configmaps", "pgbouncer-config") is None


def git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=True, timeout=30
    )
    return done.stdout.strip()


def test_a_protected_environment_refuses_a_dirty_tree(
    run: Callable[..., Any], cluster: Plane, local: Layout
) -> None:
    path = local.environments / f"{ENV}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["protected"] = True
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    git(local.root, "init", "-q")
    git(local.root, "add", "-A")
    git(local.root, "-c", "user.name=t", "-c", "user.email=t@example.test", "commit", "-qm", "x")
    head = git(local.root, "rev-parse", "HEAD")
    with (local.root / "tasks.py").open("a") as f:
        f.write("\n# an uncommitted edit\n")

    refused = run("apply", "--env", ENV, "--skip-helm", "--yes")
    assert refused.returncode == 1
    assert "uncommitted changes" in refused.stderr and "--allow-dirty" in refused.stderr
    assert cluster.lease() is None and cluster.get("configmaps", "pgbouncer-config") is None

    first = Waiting(local.root, "apply", "--env", ENV, "--skip-helm", "--allow-dirty")
    try:
        notes = wait_for_holder(cluster)["metadata"]["annotations"]
        assert (notes["akops.io/commit"], notes["akops.io/dirty"]) == (head, "true")
        first.answer("no\n")
        first.finish()
    finally:
        if first.proc.poll() is None:
            first.proc.kill()


class InterruptedAfterTheWrite(lease.DeployLock):
    """The signal arriving just as the Lease write returns, before ``with`` holds the lock."""

    def acquire(self) -> lease.Found:
        super().acquire()
        raise KeyboardInterrupt


def test_an_interrupt_between_the_write_and_the_with_releases_the_lease(api: Any, ns: str) -> None:
    with pytest.raises(KeyboardInterrupt), InterruptedAfterTheWrite(api, ns, holder("alice")):
        pytest.fail("the block must not run")
    assert lease.get(api, ns).holder is None  # type: ignore[union-attr]
