#!/usr/bin/env python3
"""Benchmark of plan and apply beside kubectl, on the same real control plane.

Run with ``nox -s bench_plan`` or ``python scripts/bench_plan.py [--runs N] [--kubectl PATH]``.
Starts the local control plane (``akops.launch``: kube-apiserver 1.33, controllers, scheduler,
kwok's four nodes; binaries from KUBEBUILDER_ASSETS or the cached builds), copies the
repository's templates and environments into a scratch folder, aims environment ``lab`` at
the plane, and times whole processes (interpreter, imports, kubeconfig, TLS included):

* the steady state (everything applied, nothing to change), runs interleaved:
  ``invoke plan --env lab --skip-helm`` against ``kubectl diff --server-side`` of the same
  rendered objects (``invoke render --env lab``, secrets filled in), same plane, same
  identity;
* a first apply into a fresh namespace per run: ``invoke apply --env lab --skip-helm --yes``
  (which waits for the rollout) against ``kubectl apply --server-side`` of the same objects,
  alone and followed by ``kubectl rollout status`` (the same wait).

``--skip-helm``: kubectl has no Helm release to compare, so both sides handle the same
objects. Every figure is a median of ``--runs`` runs; the plane is stopped at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from akops import launch  # noqa: E402
from akops.secrets import Secrets  # noqa: E402

PASSWORD_VAR = "AKOPS_BENCH_POSTGRES_PASSWORD"
STATS_VAR = "AKOPS_BENCH_STATS_PASSWORD"
SECRETS = {"postgres_password": "bench-only-password", "stats_password": "bench-only-stats"}
TIMEOUT = 600.0


def run(argv: Sequence[str], cwd: Path, ok: Sequence[int] = (0,)) -> float:
    """Seconds ``argv`` took as a whole process; a failure stops the benchmark (a command that
    failed fast would make a fine-looking figure)."""
    start = time.perf_counter()
    done = subprocess.run(
        list(argv), cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    took = time.perf_counter() - start
    if done.returncode not in ok:
        sys.exit(f"{' '.join(argv)}: exit {done.returncode}\n{done.stdout[-2000:]}{done.stderr}")
    return took


def environment(root: Path, name: str, namespace: str) -> None:
    """environments/<name>.yaml: the lab, aimed at the plane's ``namespace``."""
    data = yaml.safe_load((root / "environments" / "lab.yaml").read_text(encoding="utf-8"))
    data["name"] = name
    data["kube"].update(context=launch.CONTEXT, namespace=namespace)
    data["secrets"] = {
        "postgres_password": {"env": PASSWORD_VAR},
        "stats_password": {"env": STATS_VAR},
    }
    data["protected"] = False
    if data.get("monitoring"):
        data["monitoring"]["namespace"] = f"{namespace}-mon"
    (root / "environments" / f"{name}.yaml").write_text(
        yaml.safe_dump(data, sort_keys=False), encoding="utf-8"
    )


def objects_file(root: Path, name: str) -> Path:
    """The Kubernetes objects ``invoke render`` wrote for ``name``, secrets filled in, the
    Namespace first (what kubectl is given)."""
    docs = []
    for path in sorted((root / "manifests" / name).glob("*.yaml")):
        text = Secrets(SECRETS).inject(path.read_text(encoding="utf-8"))
        for doc in yaml.safe_load_all(text):
            if isinstance(doc, dict) and "apiVersion" in doc and "kind" in doc:
                docs.append(doc)
    docs.sort(key=lambda d: d["kind"] != "Namespace")
    out = root / f"{name}-objects.yaml"
    out.write_text(yaml.safe_dump_all(docs, sort_keys=False), encoding="utf-8")
    return out


def median(samples: list[float]) -> str:
    return f"{statistics.median(samples):6.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per figure (median)")
    parser.add_argument("--kubectl", default="kubectl", help="the kubectl to compare with")
    args = parser.parse_args()
    kubectl = shutil.which(args.kubectl)
    if kubectl is None:
        sys.exit(f"no {args.kubectl} on PATH: pass --kubectl PATH")
    version = subprocess.run(
        [kubectl, "version", "--client"], capture_output=True, text=True, timeout=60, check=False
    ).stdout.splitlines()[:1]
    invoke = [sys.executable, "-m", "invoke"]
    binaries = launch.find_binaries(on_line=lambda line: print(line, file=sys.stderr))
    with tempfile.TemporaryDirectory(prefix="akops-bench-plan-") as tmp:
        root = Path(tmp) / "repo"
        root.mkdir()
        for part in ("templates", "environments", "runbooks", "tasks.py"):
            src = ROOT / part
            if src.exists():
                (shutil.copytree if src.is_dir() else shutil.copy)(src, root / part)
        print(
            f"plan benchmark {time.strftime('%Y-%m-%d %H:%M %Z')}: {os.cpu_count()} cores, "
            f"load average {os.getloadavg()[0]:.2f} at start; kubectl {' '.join(version)}",
            flush=True,
        )
        with launch.running(Path(tmp) / "plane", binaries) as plane:
            os.environ.update(
                KUBECONFIG=str(plane.kubeconfig),
                AKOPS_CACHE_DIR=str(Path(tmp) / "cache"),
                **{
                    PASSWORD_VAR: SECRETS["postgres_password"],
                    STATS_VAR: SECRETS["stats_password"],
                },
            )
            kube = [kubectl, "--kubeconfig", str(plane.kubeconfig), "--context", launch.CONTEXT]

            # The steady state: everything applied, nothing to change.
            environment(root, "bench", "bench")
            launch.make_namespaces(plane, ["bench-mon"])
            run([*invoke, "apply", "--env", "bench", "--skip-helm", "--yes"], root)
            run([*invoke, "render", "--env", "bench"], root)
            objects = objects_file(root, "bench")
            plans: list[float] = []
            diffs: list[float] = []
            for _ in range(args.runs):
                plans.append(run([*invoke, "plan", "--env", "bench", "--skip-helm"], root))
                # kubectl diff: 0 no difference, 1 differences (a field it sets and we do not).
                diffs.append(
                    run([*kube, "diff", "--server-side", "-f", str(objects)], root, ok=(0, 1))
                )

            # A first apply into a fresh namespace, each run.
            applies: list[float] = []
            kubectl_applies: list[float] = []
            kubectl_waited: list[float] = []
            for i in range(args.runs):
                name = f"bench-a{i}"
                environment(root, name, name)
                launch.make_namespaces(plane, [f"{name}-mon"])
                applies.append(run([*invoke, "apply", "--env", name, "--skip-helm", "--yes"], root))
                name = f"bench-k{i}"
                environment(root, name, name)
                launch.make_namespaces(plane, [f"{name}-mon"])
                run([*invoke, "render", "--env", name], root)
                objs = objects_file(root, name)
                took = run(
                    [*kube, "apply", "--server-side", "--field-manager", "bench", "-f", str(objs)],
                    root,
                )
                kubectl_applies.append(took)
                waited = run(
                    [*kube, "rollout", "status", "deployment/pgbouncer", "-n", name,
                     "--timeout", "300s"],
                    root,
                )  # fmt: skip
                kubectl_waited.append(took + waited)
            listing = [run([*invoke, "--list"], root) for _ in range(args.runs)]
    ratio = statistics.median(plans) / statistics.median(diffs)
    print(f"invoke plan --env lab --skip-helm, no changes:        {median(plans)}")
    print(f"kubectl diff --server-side, same objects:             {median(diffs)}")
    print(f"  plan / kubectl diff:                                {ratio:6.2f}")
    print(f"invoke apply --env lab --skip-helm --yes (+ rollout): {median(applies)}")
    print(f"kubectl apply --server-side, same objects:            {median(kubectl_applies)}")
    print(f"kubectl apply --server-side + rollout status:         {median(kubectl_waited)}")
    print(f"invoke --list:                                        {median(listing)}")
    print(f"runs per figure: {args.runs}; load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
