#!/usr/bin/env python3
"""Benchmark of `invoke verify`: the check set run sequentially and concurrently.

Run with `nox -s bench_verify` or `python scripts/bench_verify.py [--latency S] [--runs N]`.
The cluster is simulated on this machine with a known latency per check, everything
else is the real code path:

* 30 pods (10 Authentik server, 10 PgBouncer, 10 outpost) reached through testinfra's
  ``kubectl://`` backend; ``kubectl`` on PATH is a stand-in that waits ``--latency``
  seconds (an exec round trip) and then runs the command here. The exec checks of a pod
  are batched into one exec, as in a real run;
* Authentik's endpoints, the outpost ping and 200 protected services on a local HTTP
  server that waits ``--latency`` seconds before each answer;
* the API and convergence checks (``rollout.*``, ``spread.replicas``, ``pdb.budget``)
  against the Kubernetes API emulator (``harness/emulator.py``) on 127.0.0.1, holding a
  healthy stack;
* PgBouncer: a TCP listener on 127.0.0.1 (reachable and listening checks).

The database checks need a real PostgreSQL behind a real PgBouncer and are not part of
this benchmark (``tests/integration/verify`` runs them). Sequential = the same jobs with
one worker; concurrent = the default pool (one slot per job). The issue's target:
concurrent wall time <= 1.5 x the slowest single check.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import os
import socket
import statistics
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from akops.environment import load_environment  # noqa: E402
from akops.layout import Layout  # noqa: E402
from akops.verify import probes, registry, run  # noqa: E402
from akops.verify.check import Options, Pod  # noqa: E402
from harness.emulator import Cluster  # noqa: E402

PROTECTED = 200
PODS_PER_ROLE = 10  # server, PgBouncer, outpost: 30 pods
NS = "authentik"
FAKE_KUBECTL = """#!/bin/sh
# Stand-in for `kubectl [flags] exec POD -- /bin/sh -c CMD`: one exec round trip, run here.
while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do shift; done
shift
sleep "$AKOPS_BENCH_LATENCY"
exec "$@"
"""


def serve(latency: float) -> tuple[int, multiprocessing.Process]:
    """The stand-in services in a process of their own (like the real ones, they must not
    share the measured process's interpreter lock); returns the port and the process."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            time.sleep(latency)
            path = self.path.split("?", 1)[0]
            status, headers, body = 200, {}, b"ok"
            if path == "/api/v3/root/config/":
                body = b'{"capabilities": []}'
            elif path == "/outpost.goauthentik.io/ping":
                status, body = 204, b""
            elif path.startswith("/app/"):
                port = self.server.server_address[1]
                status, headers, body = 302, {"Location": f"http://localhost:{port}/start"}, b""
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            if status != 204:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body and status != 204:
                self.wfile.write(body)

    class Server(ThreadingHTTPServer):
        request_queue_size = 1024  # the default backlog (5) would drop SYNs: +1 s retransmits

    httpd = Server(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    child = multiprocessing.get_context("fork").Process(target=httpd.serve_forever, daemon=True)
    child.start()
    httpd.socket.close()  # the child serves it
    return httpd.server_address[1], child


def healthy_stack(cluster: Cluster, env: Any) -> None:
    """Deployments, pods and PDBs of a converged stack, as the API checks read them."""
    chart = env.authentik.chart
    roles = probes.roles(env)
    wanted = {
        chart.server: (env.authentik.server.replicas, roles["server"].selector),
        chart.worker: (env.authentik.worker.replicas, roles["worker"].selector),
        "pgbouncer": (env.pgbouncer.replicas, roles["pgbouncer"].selector),
        env.authentik.outpost.deployment: (1, roles["outpost"].selector),
    }
    for name, (replicas, selector) in wanted.items():
        status = {"observedGeneration": 1, "replicas": replicas, "updatedReplicas": replicas,
                  "readyReplicas": replicas, "availableReplicas": replicas}  # fmt: skip
        cluster.put(
            {"apiVersion": "apps/v1", "kind": "Deployment",
             "metadata": {"name": name, "namespace": NS, "generation": 1},
             "spec": {"replicas": replicas}, "status": status},
            "deployments",
        )  # fmt: skip
        labels = dict(term.split("=", 1) for term in selector.split(","))
        for i in range(replicas):
            cluster.put(
                {"apiVersion": "v1", "kind": "Pod",
                 "metadata": {"name": f"{name}-{i}", "namespace": NS, "labels": labels},
                 "spec": {"nodeName": f"node{i}"},
                 "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                            "containerStatuses": [{"name": "main", "state": {"running": {}}}]}},
                "pods",
            )  # fmt: skip
    budgets = {
        chart.server: {"minAvailable": env.authentik.server.pdb_min_available},
        chart.worker: {"maxUnavailable": env.authentik.worker.pdb_max_unavailable},
        "pgbouncer": {"minAvailable": env.pgbouncer.pdb_min_available},
    }
    for name, spec in budgets.items():
        cluster.put(
            {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
             "metadata": {"name": name, "namespace": NS}, "spec": spec,
             "status": {"disruptionsAllowed": 1}},
            "poddisruptionbudgets",
        )  # fmt: skip


def prepared(http_port: int, bouncer_port: int, cluster: Cluster, tmp: Path) -> run.Prepared:
    from akops.cluster.connect import connect

    layout = Layout(ROOT)
    env = load_environment("prod", layout.environments)
    kubeconfig = tmp / "kubeconfig"
    kubeconfig.write_text(json.dumps(cluster.kubeconfig("bench")))
    os.environ["KUBECONFIG"] = str(kubeconfig)
    healthy_stack(cluster, env)
    api = connect(env, "bench")
    base = f"http://localhost:{http_port}"
    options = Options(
        url=base,
        outpost_url=base,
        protected=tuple(f"http://127.0.0.1:{http_port}/app/{i}/" for i in range(PROTECTED)),
    )
    roles = probes.roles(env)
    pods = {
        role: [
            Pod(f"{role}-{i}", env.kube.namespace, roles[role].container)
            for i in range(PODS_PER_ROLE)
        ]
        for role in ("server", "pgbouncer", "outpost")
    }
    checks = registry.select(
        only=["rollout.*", "spread.*", "pdb.*", "http.*", "pgbouncer.*", "shm.usage"]
    )
    planned = []
    subject = probes.subject(env, "cluster", options, pods, context="bench")
    for p in probes.build(subject, checks):
        if p.check == "pgbouncer.reachable":  # the Service name does not resolve here
            p = dataclasses.replace(p, args={"address": f"127.0.0.1:{bouncer_port}"})
        elif p.check == "pgbouncer.listening":
            p = dataclasses.replace(p, args={"port": bouncer_port})
        planned.append(p)
    return run.Prepared(env, "cluster", checks, tuple(planned), timeout=30, deadline=10, api=api)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--latency", type=float, default=0.25, help="seconds per check (default 0.25)"
    )
    parser.add_argument(
        "--runs", type=int, default=3, help="runs of each mode; the median is reported"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    bin_dir = Path(tempfile.mkdtemp(prefix="akops-bench-"))
    kubectl = bin_dir / "kubectl"
    kubectl.write_text(FAKE_KUBECTL)
    kubectl.chmod(0o755)
    os.environ["PATH"] = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
    os.environ["AKOPS_BENCH_LATENCY"] = str(args.latency)

    http_port, http_server = serve(args.latency)
    cluster = Cluster().start()
    bouncer = socket.socket()
    bouncer.bind(("127.0.0.1", 0))
    bouncer.listen(128)
    try:
        prep = prepared(http_port, bouncer.getsockname()[1], cluster, bin_dir)
        jobs, _ = run.jobs_for(prep)
        figures: dict[str, list[float]] = {
            "sequential": [], "fixed64": [], "concurrent": [], "slowest": []
        }  # fmt: skip
        report = None
        for _ in range(args.runs):
            # fixed64: the pool before it was sized to the jobs, for comparison in the same run
            for mode, workers in (("sequential", 1), ("fixed64", 64), ("concurrent", None)):
                report = run.execute(prep, workers=workers)
                bad = [r for r in report.results if not r.ok]
                if bad:
                    print(
                        f"benchmark setup broken: {bad[0].check} {bad[0].target}: {bad[0].detail}"
                    )
                    return 1
                figures[mode].append(report.duration)
                if mode == "concurrent":
                    figures["slowest"].append(max(r.duration for r in report.results))
    finally:
        http_server.terminate()
        http_server.join(5)
        bouncer.close()
        cluster.stop()
    assert report is not None
    seq = statistics.median(figures["sequential"])
    con = statistics.median(figures["concurrent"])
    slowest = statistics.median(figures["slowest"])
    out = {
        "latency_s": args.latency,
        "pods": PODS_PER_ROLE * 3,
        "protected_services": PROTECTED,
        "results": len(report.results),
        "jobs": len(jobs),
        "sequential_s": round(seq, 3),
        "concurrent_s": round(con, 3),
        "fixed_pool_64_s": round(statistics.median(figures["fixed64"]), 3),
        "concurrent_over_sequential": round(con / seq, 4),
        "speedup": round(seq / con, 1),
        "slowest_check_s": round(slowest, 3),
        "wall_over_slowest": round(con / slowest, 2),
        "cpus": os.cpu_count(),
    }
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(
            f"{out['results']} results in {out['jobs']} jobs ({PODS_PER_ROLE * 3} pods, "
            f"{PROTECTED} protected services, API and convergence checks), "
            f"{args.latency:g} s per check, median of {args.runs} runs:\n"
            f"  sequential   {seq:7.2f} s\n"
            f"  fixed pool of 64 (before) {statistics.median(figures['fixed64']):7.2f} s\n"
            f"  concurrent   {con:7.2f} s   ratio {con / seq:.3f} ({seq / con:.0f}x faster)\n"
            f"  slowest check {slowest:6.2f} s   wall / slowest = {con / slowest:.2f} (target <= 1.5)"
        )
    return 0 if con <= 1.5 * slowest else 1


if __name__ == "__main__":
    sys.exit(main())
