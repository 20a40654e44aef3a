#!/usr/bin/env python3
"""Whole-process benchmark of `invoke lint --path`, side by side with kubeconform and kubernetes-validate.

    python scripts/bench_lint.py                                   # nox -s bench: 2k, 10k, 50k
    python scripts/bench_lint.py --sizes 2000 --peer-max 2000      # a quick look

For each size, the corpus of scripts/lint_corpus.py (distinct apps, 50 documents a
file) is generated in a temporary directory and checked by whole processes, one at a
time, in one run:

* cold: `invoke lint --path DIR` with an empty cache directory (every layer computes:
  yamllint, schema, chart values, policy; caches are written);
* warm: the same command again, files unchanged (the caches answer);
* kubeconform: `kubeconform -strict -kubernetes-version 1.33.0 FILE...` (schema only; the
  field's fast validator, built from its Go module by ``python -m akops.tools go
  kubeconform``), on the same Kubernetes 1.33 strict schemas kubernetes-validate ships
  (made self-contained for it, below: no network);
* kubernetes-validate: `kubernetes-validate --strict -k 1.33 FILE...` on the same files
  (schema only, one process), up to ``--peer-max`` documents (it is the slow one).

Each row gives wall time, documents/s, CPU time (user+sys of the process and its
workers) and peak memory: the RSS summed over the process tree and its PSS (shared
pages counted once: the workers are forked from the parent), both sampled every 100 ms
from /proc, and the largest single process's RSS (wait4's rusage). The machine's load
average is printed at the start and the end, and the date: wall figures on a shared
machine are only as quiet as the machine was; CPU seconds are the steadier measure.
Then, per size, lint's wall time against each peer's (the ratios).

kubeconform reads one JSON schema per kind, and its default location is a GitHub
repository of schemas. Offline, it is given the schemas kubernetes-validate ships for the
same version (``v1.33.0-local-strict``: one file per kind, referring to a shared
``_definitions.json`` by a URL under kubernetes.io that kubeconform cannot load): each
kind's file is written anew with the definitions it reaches copied into its own
``$defs`` and its references pointed there. The constraints are the same bytes; only
where they live changes. The run checks kubeconform counted every document as valid.
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
from collections.abc import Iterator
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
    last_line: str = ""


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
        last[0],
    )


KUBE_VERSION = "1.33.0"


def kubeconform_schemas(version: str, into: Path) -> str:
    """kubernetes-validate's strict schemas for ``version``, self-contained, under ``into``;
    the ``-schema-location`` template that finds them."""
    import kubernetes_validate

    name = f"v{version}-local-strict"
    source = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / name
    shared = json.loads((source / "_definitions.json").read_text(encoding="utf-8"))["$defs"]
    prefix = "/api/_definitions.json#/$defs/"
    target = into / name
    target.mkdir(parents=True, exist_ok=True)

    def refs(node: object) -> Iterator[str]:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                yield ref.rsplit("/", 1)[-1]
            for value in node.values():
                yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    for path in source.glob("*.json"):
        schema = json.loads(path.read_text(encoding="utf-8"))
        if "x-kubernetes-group-version-kind" not in schema:
            continue  # a definition, not a kind kubeconform looks up
        reached: dict[str, object] = {}
        todo = list(refs(schema))
        while todo:
            ref = todo.pop()
            if ref not in reached:
                reached[ref] = shared[ref]
                todo.extend(refs(shared[ref]))
        schema.pop("$id", None)
        schema["$defs"] = reached
        text = json.dumps(schema).replace(f'"{prefix}', '"#/$defs/')
        (target / path.name).write_text(text, encoding="utf-8")
    return str(
        into
        / "{{ .NormalizedKubernetesVersion }}-local{{ .StrictSuffix }}"
        / "{{ .ResourceKind }}{{ .KindSuffix }}.json"
    )


def _kubeconform() -> str:
    """kubeconform, built once from its pinned Go module (``python -m akops.tools go kubeconform``)."""
    from akops.tools.gobuild import ensure_go_program
    from akops.tools.programs import PROGRAMS

    return str(
        ensure_go_program(
            PROGRAMS["kubeconform"], on_line=lambda line: print(line, file=sys.stderr)
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default="2000,10000,50000", help="comma-separated document counts"
    )
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    parser.add_argument(
        "--peer-max",
        type=int,
        default=50000,
        help="run the kubernetes-validate CLI only up to this many documents "
        "(about 10 ms of CPU a document: 50k is minutes on an idle machine, more on a shared one)",
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    peer = shutil.which(
        "kubernetes-validate", path=str(Path(sys.executable).parent)
    ) or shutil.which("kubernetes-validate")
    kubeconform = _kubeconform()
    print(
        f"lint benchmark {time.strftime('%Y-%m-%d %H:%M %Z')}: {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.2f} at start, Python {sys.version.split()[0]}",
        flush=True,
    )
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-lint-") as tmp:
        location = kubeconform_schemas(KUBE_VERSION, Path(tmp) / "schemas")
        for size in sizes:
            corpus = Path(tmp) / f"corpus-{size}"
            files = lint_corpus.write(corpus, size)
            print(f"  {size} documents in {files} files", flush=True)
            env = {**os.environ, "AKOPS_CACHE_DIR": str(Path(tmp) / f"cache-{size}")}
            lint = [sys.executable, "-m", "invoke", "lint", "--path", str(corpus)]
            rows.append(measure(lint, env, size, "invoke lint (cold)"))
            rows.append(measure(lint, env, size, "invoke lint (warm)"))
            paths = [str(p) for p in sorted(corpus.iterdir())]
            kc = [kubeconform, "-strict", "-summary", "-kubernetes-version", KUBE_VERSION]
            kc += ["-schema-location", location, *paths]
            checked = measure(kc, env, size, "kubeconform")
            rows.append(checked)
            if checked.exit != 0 or f"Valid: {size}," not in checked.last_line:
                print(f"kubeconform did not validate all {size} documents", file=sys.stderr)
                return 1
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
    print()
    for size, lint in cold.items():
        for r in rows:
            if r.size == size and r.tool in ("kubeconform", "kubernetes-validate") and not r.exit:
                print(
                    f"{size:,} documents: invoke lint (cold) / {r.tool} wall time "
                    f"{lint.wall_s / r.wall_s:.2f}x, CPU {lint.cpu_s / max(r.cpu_s, 0.01):.2f}x"
                )
    if 10000 in cold and 50000 in cold:
        print(f"\ncold 50k / 10k wall time: {cold[50000].wall_s / cold[10000].wall_s:.2f}x")
    print(f"load average at end: {os.getloadavg()[0]:.2f}, {time.strftime('%Y-%m-%d %H:%M %Z')}")
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
