#!/usr/bin/env python3
"""Whole-process benchmark of `invoke lint --path`, side by side with the kubernetes-validate CLI.

    python scripts/bench_lint.py --sizes 1000,10000            # nox -s bench runs this
    python scripts/bench_lint.py --sizes 1000,10000,50000      # the full table (heavy: minutes)

For each size, the corpus of scripts/lint_corpus.py (distinct apps, 50 documents a
file) is generated in a temporary directory and linted by whole processes, one at a
time, in one run:

* cold: `invoke lint --path DIR` with an empty cache directory (every layer computes:
  yamllint, schema, chart values, policy; caches are written);
* warm: the same command again, files unchanged (the caches answer);
* kubernetes-validate: `kubernetes-validate --strict -k 1.33 FILE...` on the same files
  (schema only, one process: the peer tool).

Each row gives wall time, documents/s, CPU time (user+sys of the process and its
workers) and peak memory: the RSS summed over the process tree and its PSS (shared
pages counted once: the workers are forked from the parent), both sampled every 100 ms
from /proc, and the largest single process's RSS (wait4's rusage). The machine's load average is
printed: wall figures on a shared machine are only as quiet as the machine was.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import lint_corpus  # noqa: E402

TIMEOUT_S = 3600
#: How often the process tree's memory is sampled: its peak grows over seconds, and a
#: faster sampler would take a visible share of the two cores it measures.
SAMPLE_S = 0.1


@dataclass(frozen=True)
class Row:
    size: int
    tool: str
    wall_s: float
    docs_per_s: float
    cpu_s: float
    peak_tree_mib: float
    peak_tree_pss_mib: float
    peak_single_mib: float
    exit: int


def _pss_kib(pid: int) -> int:
    """Proportional set size: shared pages (the workers share the parent's) counted once."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _tree_kib(root: int) -> tuple[int, int]:
    """(RSS, PSS) of ``root`` and all its descendants, from /proc.

    Only ``stat`` is read for every process (to find the tree); ``statm`` and
    ``smaps_rollup`` only for the tree's own members, so the sampler stays a small load
    on the 2-core machine it measures.
    """
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    total, pss, todo = 0, 0, [root]
    while todo:
        pid = todo.pop()
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
        except OSError:
            continue
        pss += _pss_kib(pid)
        todo.extend(children.get(pid, []))
    return total, pss


def measure(cmd: list[str], env: dict[str, str], size: int, tool: str) -> Row:
    with tempfile.TemporaryFile() as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        peak = peak_pss = 0
        done = threading.Event()

        def sample() -> None:
            nonlocal peak, peak_pss
            while not done.is_set():
                rss, pss = _tree_kib(proc.pid)
                peak, peak_pss = max(peak, rss), max(peak_pss, pss)
                if done.wait(SAMPLE_S) or time.perf_counter() - t0 > TIMEOUT_S:
                    break
            if not done.is_set():
                proc.kill()

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        # wait4: this child's own rusage (CPU of it and the workers it reaped; the
        # largest single RSS among them), not the cumulative figure of every child.
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        done.set()
        sampler.join()
        out.seek(0)
        text = out.read().decode(errors="replace").strip()
    last = text.splitlines()[-1:] or [""]
    print(f"    {tool:<20} exit {proc.returncode}: {last[0][:110]}", flush=True)
    return Row(
        size,
        tool,
        round(wall, 2),
        round(size / wall, 1),
        round(usage.ru_utime + usage.ru_stime, 2),
        round(peak / 1024, 1),
        round(peak_pss / 1024, 1),
        round(usage.ru_maxrss / 1024, 1),
        proc.returncode,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000", help="comma-separated document counts")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    parser.add_argument(
        "--peer-max",
        type=int,
        default=10000,
        help="run the kubernetes-validate CLI only up to this many documents "
        "(it takes ~14 ms a document: 50k is hours on a shared machine)",
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    peer = shutil.which(
        "kubernetes-validate", path=str(Path(sys.executable).parent)
    ) or shutil.which("kubernetes-validate")
    print(
        f"lint benchmark: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start, "
        f"Python {sys.version.split()[0]}",
        flush=True,
    )
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-lint-") as tmp:
        for size in sizes:
            corpus = Path(tmp) / f"corpus-{size}"
            files = lint_corpus.write(corpus, size)
            print(f"  {size} documents in {files} files", flush=True)
            env = {**os.environ, "AKOPS_CACHE_DIR": str(Path(tmp) / f"cache-{size}")}
            lint = [sys.executable, "-m", "invoke", "lint", "--path", str(corpus)]
            rows.append(measure(lint, env, size, "invoke lint (cold)"))
            rows.append(measure(lint, env, size, "invoke lint (warm)"))
            if peer and size <= args.peer_max:
                paths = [str(p) for p in sorted(corpus.iterdir())]
                cmd = [peer, "--strict", "--quiet", "-k", "1.33", *paths]
                rows.append(measure(cmd, env, size, "kubernetes-validate"))
            shutil.rmtree(corpus)
    print()
    print(
        "| documents | tool | wall s | documents/s | CPU s | peak RSS, tree (MiB) | peak RSS, largest process (MiB) |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r.size:,} | {r.tool} | {r.wall_s} | {r.docs_per_s:,.0f} | {r.cpu_s} | "
            f"{r.peak_tree_mib} | {r.peak_single_mib} |"
        )
    cold = {r.size: r for r in rows if r.tool == "invoke lint (cold)"}
    if 10000 in cold and 50000 in cold:
        print(f"\ncold 50k / 10k wall time: {cold[50000].wall_s / cold[10000].wall_s:.2f}x")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
