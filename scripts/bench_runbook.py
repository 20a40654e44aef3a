"""Runbook benchmark: validation of runbooks/ and the executor's overhead per step.

Prints the figures of docs/benchmarks.md; asserts nothing. Run: python scripts/bench_runbook.py
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console

from akops.environment import load_environment
from akops.runbook import load, runner

ROOT = Path(__file__).resolve().parent.parent
STEPS = 100


def timed(argv: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, check=True, capture_output=True, timeout=300)
    return time.perf_counter() - t0


def main() -> None:
    check = min(
        timed([sys.executable, "-m", "invoke", "runbook.list", "--check"]) for _ in range(3)
    )
    show = min(
        timed([sys.executable, "-m", "invoke", "runbook.show", "db-boot-storm", "--env", "prod"])
        for _ in range(3)
    )
    env = load_environment("lab", ROOT / "environments")
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        (d / "runbooks").mkdir()
        steps = "".join(
            f"  - {{id: s{i}, title: S{i}, why: w, changes: false, on_failure: f, "
            f"command: [{json.dumps(sys.executable)}, -c, 'print({i})']}}\n"
            for i in range(STEPS)
        )
        (d / "runbooks" / "bench.yaml").write_text(
            f"title: Bench\nsummary: s\nwhen: {{symptoms: [x]}}\nsteps:\n{steps}"
        )
        rb = load.find(d / "runbooks", "bench")
        bare = min(timed([sys.executable, "-c", "print(0)"]) for _ in range(10))
        opts = runner.RunOptions(
            env=env, root=ROOT, runs_dir=d / "runs", programs=frozenset({sys.executable})
        )
        t0 = time.perf_counter()
        result = runner.run(rb, opts, Console(file=io.StringIO()))
        elapsed = time.perf_counter() - t0
        assert result.status == "succeeded"
        per_step = elapsed / STEPS
    print(f"invoke runbook.list --check (7 runbooks x 2 environments): {check:.2f} s")
    print(f"invoke runbook.show db-boot-storm --env prod: {show:.2f} s")
    print(
        f"executor: {STEPS} one-line python steps in {elapsed:.2f} s = {per_step * 1000:.0f} ms/step "
        f"(a bare `python -c` takes {bare * 1000:.0f} ms; the rest is the runner and the "
        "transcript rewrite after each step)"
    )


if __name__ == "__main__":
    main()
