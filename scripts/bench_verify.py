#!/usr/bin/env python3
"""Benchmark of `invoke verify`: the check set run sequentially and concurrently.

Run with `nox -s bench_verify` or `python scripts/bench_verify.py [--latency S] [--runs N]`.
The cluster is simulated on this machine with a known latency per check, everything
else is the real code path:

* 9 pods (3 Authentik server, 3 PgBouncer, 3 outpost) reached through testinfra's
  ``kubectl://`` backend; ``kubectl`` on PATH is a stand-in that waits ``--latency``
  seconds (an exec round trip) and then runs the command here. The exec checks of a pod
  are batched into one exec, as in a real run;
* Authentik's endpoints, the outpost ping and 43 protected services on a local HTTP
  server that waits ``--latency`` seconds before each answer;
* PgBouncer: a TCP listener on 127.0.0.1 (reachable and listening checks).

Sequential = the same jobs with one worker; concurrent = the default worker pool. The
issue's target: concurrent wall time <= 1.5 x the slowest single check.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import socket
import statistics
import sys
import tempfile
import threading
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

PROTECTED = 43
FAKE_KUBECTL = """#!/bin/sh
# Stand-in for `kubectl [flags] exec POD -- /bin/sh -c CMD`: one exec round trip, run here.
while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do shift; done
shift
sleep "$AKOPS_BENCH_LATENCY"
exec "$@"
"""


def serve(latency: float) -> ThreadingHTTPServer:
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
        request_queue_size = 256  # the default backlog (5) would drop SYNs: +1 s retransmits

    httpd = Server(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def prepared(http_port: int, bouncer_port: int) -> run.Prepared:
    layout = Layout(ROOT)
    env = load_environment("prod", layout.environments)
    base = f"http://localhost:{http_port}"
    options = Options(
        url=base,
        outpost_url=base,
        protected=tuple(f"http://127.0.0.1:{http_port}/app/{i}/" for i in range(PROTECTED)),
    )
    roles = probes.roles(env)
    pods = {
        role: [Pod(f"{role}-{i}", env.kube.namespace, roles[role].container) for i in range(3)]
        for role in ("server", "pgbouncer", "outpost")
    }
    checks = registry.select(only=["http.*", "pgbouncer.*", "shm.usage"])
    planned = []
    subject = probes.subject(env, "cluster", options, pods, context="bench")
    for p in probes.build(subject, checks):
        if p.check == "pgbouncer.reachable":  # the Service name does not resolve here
            p = dataclasses.replace(p, args={"address": f"127.0.0.1:{bouncer_port}"})
        elif p.check == "pgbouncer.listening":
            p = dataclasses.replace(p, args={"port": bouncer_port})
        planned.append(p)
    return run.Prepared(env, "cluster", checks, tuple(planned), timeout=30, deadline=0)


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

    httpd = serve(args.latency)
    bouncer = socket.socket()
    bouncer.bind(("127.0.0.1", 0))
    bouncer.listen(128)
    try:
        prep = prepared(httpd.server_address[1], bouncer.getsockname()[1])
        jobs, _ = run.jobs_for(prep)
        figures: dict[str, list[float]] = {"sequential": [], "concurrent": [], "slowest": []}
        report = None
        for _ in range(args.runs):
            for mode, workers in (("sequential", 1), ("concurrent", run.WORKERS)):
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
        httpd.shutdown()
        bouncer.close()
    assert report is not None
    seq = statistics.median(figures["sequential"])
    con = statistics.median(figures["concurrent"])
    slowest = statistics.median(figures["slowest"])
    out = {
        "latency_s": args.latency,
        "pods": 9,
        "protected_services": PROTECTED,
        "results": len(report.results),
        "jobs": len(jobs),
        "sequential_s": round(seq, 3),
        "concurrent_s": round(con, 3),
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
            f"{out['results']} results in {out['jobs']} jobs (9 pods, {PROTECTED} protected services), "
            f"{args.latency:g} s per check, median of {args.runs} runs:\n"
            f"  sequential   {seq:7.2f} s\n"
            f"  concurrent   {con:7.2f} s   ratio {con / seq:.3f} ({seq / con:.0f}x faster)\n"
            f"  slowest check {slowest:6.2f} s   wall / slowest = {con / slowest:.2f} (target <= 1.5)"
        )
    return 0 if con <= 1.5 * slowest else 1


if __name__ == "__main__":
    sys.exit(main())
