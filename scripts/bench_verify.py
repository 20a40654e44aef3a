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
* PgBouncer and the database checks (``db.idle-in-transaction``, ``db.pool-waiting``):
  a real PostgreSQL and a real PgBouncer that the script starts on 127.0.0.1 with
  ``akops.rehearse.start``, as ``invoke rehearse`` does (as ``nobody`` when run as root, in
  a scratch directory): PostgreSQL with prod's ``upstream`` role and database and a random
  password, PgBouncer from prod's RENDERED ``pgbouncer.ini`` and ``userlist.txt`` with only
  its addresses and paths changed (``topology.adjust_ini``). The run is pointed at them as
  an operator points ``invoke verify`` at a port-forward: ``--pgbouncer`` is PgBouncer's
  address, and the password is in the variable prod's ``secrets.postgres_password`` names
  (``AKOPS_PROD_POSTGRES_PASSWORD``), resolved by the runner's own ``resolve_credentials``.
  ``pgbouncer.reachable`` and ``pgbouncer.listening`` look at the same PgBouncer;
  ``pgbouncer.isolated`` (outpost pods must not reach it) at a loopback port nothing
  listens on, refused as a REJECT policy answers. The two queries are local and get no
  added latency.

Every child (PostgreSQL, PgBouncer, the HTTP server's process) is stopped when the script
ends, by success, failure or Ctrl-C/SIGTERM (one ``ExitStack`` under
``process.signal_guard``). Sequential = the same jobs with one worker; concurrent = the
default pool (one slot per job). The issue's target: concurrent wall time <= 1.5 x the
slowest single check. The load average is printed at start and end: wall figures on a
shared machine are only as quiet as the machine was.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import multiprocessing
import os
import secrets
import signal
import statistics
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from akops import process  # noqa: E402
from akops.environment import Environment, load_environment  # noqa: E402
from akops.errors import AkopsError, Interrupted  # noqa: E402
from akops.layout import Layout  # noqa: E402
from akops.rehearse import start, topology  # noqa: E402
from akops.rehearse.respond import password_variable  # noqa: E402
from akops.render import render_env  # noqa: E402
from akops.verify import probes, registry, run  # noqa: E402
from akops.verify.check import Options, Pod  # noqa: E402
from akops.verify.results import VerifyReport  # noqa: E402
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


def database(stack: contextlib.ExitStack, layout: Layout, env: Environment) -> start.Bouncer:
    """A real PostgreSQL and a real PgBouncer in front of it (stopped when ``stack`` closes),
    and the password where the checks read it: the variable the environment names."""
    password = secrets.token_hex(16)
    root = stack.enter_context(start.workdir("akops-bench-verify-"))
    up = env.upstream
    pg = start.start_postgres(stack, root, up.user, up.database, up.max_connections, password)
    _, rendered = render_env(layout, env.name)
    files = rendered.by_name()
    ini = yaml.safe_load(files["pgbouncer-configmap.yaml"])["data"]["pgbouncer.ini"]
    userlist = yaml.safe_load(files["pgbouncer-secret.yaml"])["stringData"]["userlist.txt"]

    def adjust(text: str, local: dict[str, str]) -> str:
        return topology.adjust_ini(text, local, (pg.host, pg.port))

    bouncer = start.start_pgbouncer(stack, root, 0, ini, userlist, password, adjust)
    os.environ[password_variable(env)] = password
    return bouncer


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

    def forever() -> None:
        # The fork inherits signal_guard's handlers: TERM (from the parent's cleanup) ends it
        # quietly, and a Ctrl-C on the terminal is the parent's to handle.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        httpd.serve_forever()

    httpd = Server(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    child = multiprocessing.get_context("fork").Process(target=forever, daemon=True)
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


def prepared(
    env: Environment, http_port: int, bouncer: start.Bouncer, cluster: Cluster, tmp: Path
) -> run.Prepared:
    from akops.cluster.connect import connect

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
        pgbouncer=bouncer.address,  # as after `kubectl port-forward`: the db.* checks run
    )
    credentials, secret_values, why = run.resolve_credentials(env)
    if why:
        raise AkopsError(why)
    roles = probes.roles(env)
    pods = {
        role: [
            Pod(f"{role}-{i}", env.kube.namespace, roles[role].container)
            for i in range(PODS_PER_ROLE)
        ]
        for role in ("server", "pgbouncer", "outpost")
    }
    checks = registry.select(
        only=["rollout.*", "spread.*", "pdb.*", "http.*", "pgbouncer.*", "shm.usage", "db.*"]
    )
    planned = []
    subject = probes.subject(env, "cluster", options, pods, context="bench")
    for p in probes.build(subject, checks):
        if p.check == "pgbouncer.reachable":  # the Service name does not resolve here
            p = dataclasses.replace(p, args={"address": bouncer.address})
        elif p.check == "pgbouncer.isolated":  # a port nothing listens on: refused, as a
            # REJECT policy answers (the Service name does not resolve here, proving nothing)
            p = dataclasses.replace(p, args={"address": f"127.0.0.1:{start.free_port()}"})
        elif p.check == "pgbouncer.listening":
            p = dataclasses.replace(p, args={"port": bouncer.port})
        planned.append(p)
    return run.Prepared(
        env,
        "cluster",
        checks,
        tuple(planned),
        timeout=30,
        deadline=10,
        api=api,
        credentials=credentials,
        secrets=secret_values,
    )


def measure(
    stack: contextlib.ExitStack, latency: float, runs: int
) -> tuple[dict[str, list[float]], list[str], VerifyReport, int] | None:
    """Start the stand-ins and the real database servers (all closed with ``stack``), then
    run the check set ``runs`` times in each mode; None when a check did not pass."""
    bin_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="akops-bench-")))
    kubectl = bin_dir / "kubectl"
    kubectl.write_text(FAKE_KUBECTL)
    kubectl.chmod(0o755)
    os.environ["PATH"] = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
    os.environ["AKOPS_BENCH_LATENCY"] = str(latency)

    layout = Layout(ROOT)
    env = load_environment("prod", layout.environments)
    bouncer = database(stack, layout, env)
    http_port, http_server = serve(latency)

    def stop_http() -> None:
        http_server.terminate()
        http_server.join(5)
        if http_server.is_alive():
            http_server.kill()
            http_server.join(5)

    stack.callback(stop_http)
    cluster = Cluster().start()
    stack.callback(cluster.stop)
    prep = prepared(env, http_port, bouncer, cluster, bin_dir)
    jobs, _ = run.jobs_for(prep)
    figures: dict[str, list[float]] = {
        "sequential": [], "fixed64": [], "concurrent": [], "slowest": []
    }  # fmt: skip
    slowest_checks: list[str] = []  # the slowest check of each concurrent run
    report = None
    for _ in range(runs):
        # fixed64: the pool before it was sized to the jobs, for comparison in the same run
        for mode, workers in (("sequential", 1), ("fixed64", 64), ("concurrent", None)):
            report = run.execute(prep, workers=workers)
            bad = [r for r in report.results if not r.ok]
            if bad:
                print(f"benchmark setup broken: {bad[0].check} {bad[0].target}: {bad[0].detail}")
                return None
            figures[mode].append(report.duration)
            if mode == "concurrent":
                last = max(report.results, key=lambda r: r.duration)
                figures["slowest"].append(last.duration)
                slowest_checks.append(last.check)
    assert report is not None
    return figures, slowest_checks, report, len(jobs)


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

    load_start = os.getloadavg()[0]
    try:
        with process.signal_guard(), contextlib.ExitStack() as stack:
            measured = measure(stack, args.latency, args.runs)
    except Interrupted as e:
        print(f"interrupted ({e.name}): every server the benchmark started was stopped")
        return e.exit_code
    except AkopsError as e:
        print(f"benchmark could not start: {e}")
        return 2
    if measured is None:
        return 1
    figures, slowest_checks, report, jobs = measured
    load_end = os.getloadavg()[0]
    seq = statistics.median(figures["sequential"])
    con = statistics.median(figures["concurrent"])
    slowest = statistics.median(figures["slowest"])
    out = {
        "latency_s": args.latency,
        "pods": PODS_PER_ROLE * 3,
        "protected_services": PROTECTED,
        "results": len(report.results),
        "jobs": jobs,
        "database_checks": sorted({r.check for r in report.results if r.check.startswith("db.")}),
        "sequential_s": round(seq, 3),
        "concurrent_s": round(con, 3),
        "fixed_pool_64_s": round(statistics.median(figures["fixed64"]), 3),
        "concurrent_over_sequential": round(con / seq, 4),
        "speedup": round(seq / con, 1),
        "slowest_check_s": round(slowest, 3),
        "slowest_checks": slowest_checks,
        "wall_over_slowest": round(con / slowest, 2),
        "cpus": os.cpu_count(),
        "load_average_start": round(load_start, 2),
        "load_average_end": round(load_end, 2),
    }
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(
            f"{out['results']} results in {out['jobs']} jobs ({PODS_PER_ROLE * 3} pods, "
            f"{PROTECTED} protected services, API and convergence checks, "
            f"db.* through a real PgBouncer to a real PostgreSQL), "
            f"{args.latency:g} s per simulated check, median of {args.runs} runs, "
            f"{os.cpu_count()} cores, load average {load_start:.2f} at start, "
            f"{load_end:.2f} at end:\n"
            f"  sequential   {seq:7.2f} s\n"
            f"  fixed pool of 64 (before) {statistics.median(figures['fixed64']):7.2f} s\n"
            f"  concurrent   {con:7.2f} s   ratio {con / seq:.3f} ({seq / con:.0f}x faster)\n"
            f"  slowest check {slowest:6.2f} s   ({', '.join(dict.fromkeys(slowest_checks))})\n"
            f"  wall / slowest = {con / slowest:.2f} (target <= 1.5)"
        )
    return 0 if con <= 1.5 * slowest else 1


if __name__ == "__main__":
    sys.exit(main())
