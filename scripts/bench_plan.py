#!/usr/bin/env python3
"""Benchmark of plan/apply against the Kubernetes API emulator (no cluster needed).

Run with `nox -s bench_plan` or `python scripts/bench_plan.py [--runs N]`. Uses the
emulator of the integration tests (kmock + the server-side apply adapter) on
127.0.0.1 and a scratch copy of the repository with environment prod (outpost API
off). Prints the figures docs/benchmarks.md quotes:

* `plan_env(prod)` in-process with every object to add, and with nothing to change;
* `apply_env(prod)` of the five PgBouncer objects, with its rollout wait (the emulator's
  stand-in controller marks the Deployment converged 0.2 s after the apply);
* `invoke plan --env prod --skip-helm` as a subprocess (interpreter and imports included);
* `invoke --list` (tasks import `kubernetes` lazily).
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml
from rich.console import Console

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from akops.layout import Layout  # noqa: E402
from akops.ops import operations as deploy  # noqa: E402
from akops.requests import ApplyRequest, PlanRequest  # noqa: E402
from harness.emulator import Cluster  # noqa: E402


def timed(fn: Callable[[], object], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="repetitions per in-process figure")
    args = parser.parse_args()
    cluster = Cluster().start()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "repo"
        root.mkdir()
        for part in ("templates", "environments", "tasks.py"):
            src = ROOT / part
            (shutil.copytree if src.is_dir() else shutil.copy)(src, root / part)
        env = yaml.safe_load((root / "environments" / "prod.yaml").read_text())
        env["authentik"]["outpost"]["api"]["enabled"] = False
        (root / "environments" / "prod.yaml").write_text(yaml.safe_dump(env, sort_keys=False))
        kubeconfig = root / "kubeconfig"
        kubeconfig.write_text(yaml.safe_dump(cluster.kubeconfig(env["kube"]["context"])))
        os.environ.update(KUBECONFIG=str(kubeconfig), AKOPS_PROD_POSTGRES_PASSWORD="bench-only")
        layout = Layout(root)

        def plan() -> object:
            return deploy.plan_env(layout, PlanRequest(env="prod", skip_helm=True))

        def cli(*argv: str) -> float:
            start = time.perf_counter()
            # check=True: a command that failed fast would make a fine-looking figure.
            subprocess.run(
                [sys.executable, "-m", "invoke", *argv], cwd=root, capture_output=True, check=True
            )
            return time.perf_counter() - start

        print(
            f"plan benchmark {time.strftime('%Y-%m-%d %H:%M %Z')}: {os.cpu_count()} cores, "
            f"load average {os.getloadavg()[0]:.2f} at start",
            flush=True,
        )
        cold = timed(plan, 1)
        to_add = deploy.plan_env(layout, "prod", skip_helm=True).count("add")
        add = timed(plan, args.runs)
        start = time.perf_counter()
        deploy.apply_env(
            layout,
            ApplyRequest(env="prod", skip_helm=True, yes=True),
            out=lambda _: None,
            console=Console(file=io.StringIO()),
        )
        apply = time.perf_counter() - start
        same = timed(plan, args.runs)
        command = statistics.median(cli("plan", "--env", "prod", "--skip-helm") for _ in range(3))
        listing = statistics.median(cli("--list") for _ in range(3))
    cluster.stop()
    print(f"plan_env(prod), first call in the process:   {cold * 1000:7.0f} ms")
    print(f"plan_env(prod), {to_add} to add (median):           {add * 1000:7.0f} ms")
    print(f"apply_env(prod), {to_add} objects + rollout wait:   {apply * 1000:7.0f} ms")
    print(f"plan_env(prod), no changes (median):         {same * 1000:7.0f} ms")
    print(f"invoke plan --env prod --skip-helm (median): {command * 1000:7.0f} ms")
    print(f"invoke --list (median):                      {listing * 1000:7.0f} ms")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
