#!/usr/bin/env python3
"""Benchmark of `invoke lint`: the prod stack, and throughput on a generated corpus.

Run with `nox -s bench` or `python scripts/bench_lint.py [--docs N] [--json]`. Pinned
to one CPU core. Prints (and with --json emits) the figures the README quotes:

* prod: `lint_environment(prod)` in-process (cold: first call in the process, warm:
  repeated), and `invoke lint --env prod` as a subprocess (what an operator waits for);
* corpus: N generated Kubernetes documents (copies of prod's PgBouncer objects with
  distinct names, in files of 50 documents): schema + policy throughput on parsed
  documents, and end to end (read, parse, yamllint, schema, policy);
* the reference point: `kubernetes_validate.validate` called per document.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from akops.layout import Layout  # noqa: E402
from akops.lint import engine, lint_environment, lint_paths  # noqa: E402
from akops.lint.documents import SourceText, classify  # noqa: E402
from akops.lint.style import config_for  # noqa: E402
from akops.render import render_env  # noqa: E402

PER_FILE = 50


def pin_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        core = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
        return f"pinned to core {core}"
    return "not pinned (no sched_setaffinity here)"


def corpus(n: int) -> list[SourceText]:
    """``n`` Kubernetes documents from prod's rendered objects, renamed per copy."""
    _, stack = render_env(Layout(ROOT), "prod")
    objects = [
        doc
        for f in stack.files
        for doc in yaml.safe_load_all(f.text)
        if isinstance(doc, dict) and "kind" in doc
    ]
    docs = []
    for i in range(n):
        doc = json.loads(json.dumps(objects[i % len(objects)]))
        copy = i // len(objects)
        doc["metadata"]["name"] = f"{doc['metadata']['name']}-{copy}"
        for labels in (doc["metadata"].get("labels"), doc.get("spec", {}).get("selector", {})):
            if isinstance(labels, dict) and "app" in labels:
                labels["app"] = f"pgbouncer-{copy}"
        docs.append(doc)
    files = []
    for start in range(0, n, PER_FILE):
        text = yaml.safe_dump_all(docs[start : start + PER_FILE], sort_keys=False)
        files.append(SourceText(f"corpus/{start // PER_FILE:03d}.yaml", text, True))
    return files


def best_of(runs: int, fn: object) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=2000, help="corpus size (documents)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    pinned = pin_one_core()
    layout = Layout(ROOT)
    figures: dict[str, float | int | str] = {"cpu": pinned, "python": sys.version.split()[0]}

    t0 = time.perf_counter()
    report = lint_environment(layout, "prod")
    figures["prod_cold_s"] = time.perf_counter() - t0
    assert report.ok, report.to_text()
    figures["prod_warm_s"] = best_of(5, lambda: lint_environment(layout, "prod"))
    cli = []
    for _ in range(3):
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "invoke", "lint", "--env", "prod"],
            cwd=ROOT,
            check=True,
            capture_output=True,
            timeout=60,
        )
        cli.append(time.perf_counter() - t0)
    figures["prod_cli_s"] = statistics.median(cli)

    texts = corpus(args.docs)
    sources = classify(texts)
    documents = len(sources.objects)
    settings = engine.Settings()
    yamllint = config_for(ROOT)
    parsed_only = type(sources)(
        texts=(), objects=sources.objects, values=(), patches=(), inis=sources.inis
    )
    engine.run(parsed_only, settings, yamllint)  # compile the validators once
    t = best_of(3, lambda: engine.run(parsed_only, settings, yamllint))
    figures["corpus_docs"] = documents
    figures["schema_policy_s"] = t
    figures["schema_policy_docs_per_s"] = documents / t

    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for src in texts:
            p = Path(tmp) / src.file
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(src.text, encoding="utf-8")
            paths.append(p)
        t = best_of(3, lambda: lint_paths(paths, root=ROOT))
    figures["end_to_end_s"] = t
    figures["end_to_end_docs_per_s"] = documents / t

    import kubernetes_validate

    sample = [o.data for o in sources.objects[:100]]
    t0 = time.perf_counter()
    for doc in sample:
        kubernetes_validate.validate(doc, "1.33", strict=True)
    figures["kubernetes_validate_ms_per_doc"] = (time.perf_counter() - t0) / len(sample) * 1000

    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(f"lint benchmark ({figures['cpu']}, Python {figures['python']})")
    print(
        f"  prod stack, in-process:     cold {figures['prod_cold_s'] * 1000:.0f} ms, "
        f"warm {figures['prod_warm_s'] * 1000:.0f} ms"
    )
    print(
        f"  prod stack, `invoke lint`:  {figures['prod_cli_s'] * 1000:.0f} ms (subprocess, median of 3)"
    )
    print(f"  corpus of {documents} documents:")
    print(
        f"    schema + policy:          {figures['schema_policy_docs_per_s']:.0f} docs/s "
        f"({figures['schema_policy_s'] * 1000:.0f} ms)"
    )
    print(
        f"    end to end (read, parse, yamllint, schema, policy): "
        f"{figures['end_to_end_docs_per_s']:.0f} docs/s ({figures['end_to_end_s'] * 1000:.0f} ms)"
    )
    print(
        f"  kubernetes_validate.validate per call: {figures['kubernetes_validate_ms_per_doc']:.1f} ms/doc"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
