"""Running a verify plan: concurrently, each check bounded, convergence checks retried.

Rule: I/O orchestration. ``prepare`` loads the environment, connects to the cluster
when the plan needs it, resolves pods by label and the database credentials, and
builds the probes (``akops.verify.probes``) from the checks of the registry. ``run_jobs`` runs every job on its own
daemon thread (one slot per job, at most ``workers`` at once: ``pool_size``): a job is one exec per pod (its exec
checks batched), one HTTP request, one API read or one query. Each job has a budget
(its timeout, plus the convergence deadline for convergence checks); a job past its
budget is reported as failed and abandoned, so one hung target never holds the run.
"""

from __future__ import annotations

import collections
import contextlib
import math
import queue
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from akops import process
from akops.environment import Environment, load_environment
from akops.errors import (
    AkopsError,
    CallTimeout,
    ClusterError,
    ExecTimeout,
    InputError,
    SecretError,
    ToolMissingError,
)
from akops.layout import Layout
from akops.requests import VerifyRequest
from akops.secrets import Secrets, resolve
from akops.verify import commands, probes, registry
from akops.verify.check import (
    Check,
    Observation,
    Options,
    Pod,
    Probe,
    Shell,
    Sources,
    TargetKind,
    last_line,
    pod_state,
)
from akops.verify.execute import exec_host
from akops.verify.query import Credentials
from akops.verify.results import Outcome, Result, Status, VerifyReport, errored, failed

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

GRACE = 1.0  # seconds a job may overrun its own timeouts before the runner gives up on it
RETRY_INTERVAL = 2.0
#: Checks run at once by default: one per job (one per pod, URL, API read, query), at most
#: this many; ``--workers`` sets another ceiling, within ``WORKERS_LIMIT``.
MAX_WORKERS = 256
WORKERS_LIMIT = 1024

OnResult = Callable[[Result], None]


@dataclass(frozen=True)
class Job:
    """Work producing one outcome per key (check ID, target)."""

    keys: tuple[tuple[str, str], ...]
    work: Callable[[], Sequence[Outcome]]
    timeout: float
    #: retry a failing attempt until this many seconds have passed (0: no retry)
    deadline: float = 0.0
    interval: float = RETRY_INTERVAL

    @property
    def budget(self) -> float:
        return self.deadline + self.timeout + GRACE


def _attempt(job: Job) -> list[Outcome]:
    try:
        outcomes = list(job.work())
    except (ExecTimeout, CallTimeout) as e:
        return [failed(str(e))] * len(job.keys)
    except AkopsError as e:
        return [errored(str(e))] * len(job.keys)
    except Exception as e:  # a bug in one check must not take the other checks' results with it
        return [errored(f"{type(e).__name__}: {' '.join(str(e).split())[:200]}")] * len(job.keys)
    if len(outcomes) != len(job.keys):
        return [errored(f"check gave {len(outcomes)} outcomes for {len(job.keys)} targets")] * len(
            job.keys
        )
    return outcomes


def _attempts(job: Job) -> list[Result]:
    start = time.monotonic()
    tries = 0
    while True:
        tries += 1
        outcomes = _attempt(job)
        elapsed = time.monotonic() - start
        if all(o.ok for o in outcomes) or elapsed + job.interval >= job.deadline:
            break
        time.sleep(job.interval)
    return [
        Result(check, target, o.status, o.detail, elapsed, tries)
        for (check, target), o in zip(job.keys, outcomes, strict=True)
    ]


def pool_size(jobs: int, workers: int | None = None) -> int:
    """How many jobs run at once: one slot per job, bounded by ``workers`` (default
    ``MAX_WORKERS``). A fixed pool smaller than the jobs would run them in waves, and the
    wall time would grow with the number of pods and services instead of staying near the
    slowest check."""
    ceiling = MAX_WORKERS if workers is None else workers
    if not 1 <= ceiling <= WORKERS_LIMIT:
        raise InputError(f"--workers {ceiling}: expected 1 to {WORKERS_LIMIT}")
    return max(1, min(jobs, ceiling))


def run_jobs(
    jobs: Sequence[Job],
    *,
    workers: int | None = None,
    on_result: OnResult | None = None,
    deadline: float | None = None,
) -> list[Result]:
    """Run ``jobs`` concurrently (``pool_size`` at once); results in the order of ``jobs``
    (each job's keys in order).

    The slots are the runner's, not the threads': a job past its budget is reported and
    abandoned, and its slot goes to the next job at once (the hung thread is a daemon that
    no longer counts). Past ``deadline`` seconds for the whole run, every job still running
    is reported as abandoned and every job not started as not run."""
    done: queue.Queue[tuple[int, list[Result]]] = queue.Queue()
    size = pool_size(len(jobs), workers)
    started: dict[int, float] = {}
    waiting = collections.deque(range(len(jobs)))
    running: set[int] = set()
    out: dict[int, list[Result]] = {}
    end = time.monotonic() + deadline if deadline is not None else math.inf

    def start(i: int) -> None:
        started[i] = time.monotonic()
        running.add(i)
        # The job's children belong to whoever runs the verify (a runbook's check step).
        work = process.carried(lambda: done.put((i, _attempts(jobs[i]))))
        threading.Thread(target=work, name=f"akops-verify-{i}", daemon=True).start()

    def finish(i: int, results: list[Result]) -> None:
        running.discard(i)
        out[i] = results
        for r in results:
            if on_result is not None:
                on_result(r)

    def unanswered(i: int, status: Status, detail: str, now: float) -> list[Result]:
        took = now - started[i] if i in started else 0.0
        return [Result(c, t, status, detail, took) for c, t in jobs[i].keys]

    while len(out) < len(jobs):
        while waiting and len(running) < size:
            start(waiting.popleft())
        now = time.monotonic()
        if now >= end:
            over = f"the run's deadline of {deadline:g}s"
            for i in sorted(running):
                finish(i, unanswered(i, Status.FAIL, f"no answer before {over} (abandoned)", now))
            for i in waiting:
                finish(i, unanswered(i, Status.ERROR, f"not run: {over} passed first", now))
            break
        wait = min(0.1, end - now)
        for i in sorted(running):
            left = started[i] + jobs[i].budget - now
            if left <= 0:
                detail = f"no answer within {jobs[i].budget:g}s (abandoned)"
                finish(i, unanswered(i, Status.FAIL, detail, now))
            else:
                wait = min(wait, left)
        if waiting and len(running) < size:
            continue  # a slot was freed: start the next job before waiting
        try:
            i, results = done.get(timeout=max(wait, 0.005))
        except queue.Empty:
            continue
        if i not in out:
            finish(i, results)
    return [r for i in range(len(jobs)) for r in out[i]]


# --- from probes to jobs ------------------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    """Everything a run needs, resolved: the environment, the probes, the connections."""

    env: Environment
    target: TargetKind
    checks: tuple[Check, ...]
    probes: tuple[Probe, ...]
    timeout: float
    deadline: float
    api: Any = None
    credentials: Credentials | None = None
    secrets: Secrets = field(default_factory=Secrets)
    context: str | None = None

    def sources(self) -> Sources:
        return Sources(timeout=self.timeout, api=self.api, credentials=self.credentials)


def _exec_job(spec: str, probes: Sequence[Probe], timeout: float) -> Job:
    """One ``kubectl exec`` (or local shell) for every exec probe of a host; each probe's
    check has a shell command (``jobs_for`` keeps the others out), so the batch's frames are
    the probes' in order."""
    inner = max(1.0, timeout / 2)  # what a command may take inside the batch (tcp connect)
    shells = [_shell(p) for p in probes]

    def work() -> list[Outcome]:
        cmds = [s.command(p.args, inner) for s, p in zip(shells, probes, strict=True)]
        result = exec_host(spec, timeout).run(commands.batch(cmds))
        parts = commands.split(result.stdout, len(cmds))
        why = last_line(result.output) or f"exit {result.rc}"
        return [
            errored(f"exec failed: {why}") if part is None else s.judge(part, p.args)
            for s, p, part in zip(shells, probes, parts, strict=True)
        ]

    return Job(tuple((p.check, p.target) for p in probes), work, timeout)


def _shell(probe: Probe) -> Shell:
    shell = registry.BY_ID[probe.check].shell
    assert shell is not None, f"{probe.check}: an exec probe without a shell command"
    return shell


def jobs_for(prepared: Prepared) -> tuple[list[Job], list[Result]]:
    """The jobs of a run, and the results known without running anything (skips, no pods)."""
    jobs: list[Job] = []
    known: list[Result] = []
    by_host: dict[str, list[Probe]] = {}
    sources = prepared.sources()
    for p in prepared.probes:
        check = registry.BY_ID[p.check]
        if p.kind == "skip":
            known.append(Result(p.check, p.target, Status.SKIP, str(p.args["why"]), 0.0))
        elif p.kind == "absent":
            known.append(Result(p.check, p.target, Status.FAIL, str(p.args["why"]), 0.0))
        elif p.kind == "exec" and check.shell is None:
            # Never in a batch: its frame would shift every later probe's output.
            why = f"{check.id} gives an exec probe but has no shell command (a bug in the check)"
            known.append(Result(p.check, p.target, Status.ERROR, why, 0.0))
        elif p.kind == "exec":
            assert p.host is not None
            by_host.setdefault(p.host, []).append(p)
        else:
            assert check.observe is not None, f"{check.id} has no observe for a {p.kind} probe"
            timeout = (
                prepared.env.kube.api_timeout * max(1, p.calls)
                if p.kind == "api"
                else prepared.timeout
            )
            deadline = prepared.deadline if check.converges else 0.0
            jobs.append(
                Job(((p.check, p.target),), _bind(check.observe, p, sources), timeout, deadline)
            )
    # Execs first: starting a process costs most, so their threads start before the rest.
    execs = [_exec_job(spec, group, prepared.timeout) for spec, group in by_host.items()]
    return execs + jobs, known


def _bind(observation: Observation, probe: Probe, sources: Sources) -> Callable[[], list[Outcome]]:
    from akops.verify import observe

    return lambda: [observe.outcome(observation, probe, sources)]


# --- preparing and running a whole verify -------------------------------------------------


def resolve_credentials(
    env: Environment, environ: Mapping[str, str] | None = None
) -> tuple[Credentials | None, Secrets, str | None]:
    """The database checks' credentials: the upstream user and database of ``env`` and the
    ``postgres_password`` secret from its source (default ``os.environ``); without it, None
    and why (the checks then skip, saying so)."""
    try:
        secrets = resolve(env.secrets, {"postgres_password"}, environ)
    except SecretError as e:
        return None, Secrets(), f"no database credentials: {e}"
    password = secrets.values["postgres_password"]
    return Credentials(env.upstream.user, env.upstream.database, password), secrets, None


def _pods(api: ApiClient, env: Environment, names: Iterable[str]) -> dict[str, list[Pod]]:
    from akops.verify import observe

    found: dict[str, list[Pod]] = {}
    roles = probes.roles(env)
    for name in names:
        role = roles[name]
        pods = []
        for doc in observe.pods(api, env.kube.namespace, role.selector):
            state = pod_state(doc)
            if state.ready and not state.terminating:
                pods.append(Pod(state.name, env.kube.namespace, role.container, state.node))
        found[name] = sorted(pods, key=lambda p: p.name)
    return found


def _containerless(
    api: ApiClient, env: Environment, resolved: Mapping[str, Sequence[Pod]]
) -> str | None:
    """Why no check can reach a container of the stack, when every pod of it runs on kwok's
    fake nodes (the local control plane); None on a cluster with real nodes, or unknown."""
    pods = dict(resolved)
    try:
        pods.update(_pods(api, env, sorted(set(probes.roles(env)) - set(pods))))
    except ClusterError:
        return None
    nodes = {p.node for found in pods.values() for p in found if p.node}
    from akops.verify import observe

    fake = observe.fake_nodes(api, nodes) if nodes else None
    if not fake or fake != nodes:
        return None
    return (
        f"the stack's pods run on kwok's fake nodes ({', '.join(sorted(nodes))}): "
        "no container to exec into or to answer HTTP"
    )


def _reachable(api: ApiClient, env: Environment) -> None:
    """One bounded request first: an API that cannot be reached is "could not run" (exit 2,
    within ``kube.api_timeout``), not a convergence check retried until its deadline."""
    from akops.cluster.call import NotFound, call

    namespace = env.kube.namespace
    with contextlib.suppress(NotFound):  # an answer, even 404, means the API is there
        call(api, "GET", f"/api/v1/namespaces/{namespace}", what=f"namespace {namespace}")


def options_of(req: VerifyRequest) -> Options:
    """Where the checks look and how long they take: the request's check-step fields."""
    return Options(
        url=req.url,
        outpost_url=req.outpost_url,
        pgbouncer=req.pgbouncer,
        shm=req.shm,
        protected=req.protected,
        timeout=req.timeout,
        deadline=req.deadline,
        prometheus=req.prometheus,
    )


def prepare(
    layout: Layout, req: VerifyRequest, *, environ: Mapping[str, str] | None = None
) -> Prepared:
    """Load, connect, resolve: raises ``AkopsError`` (exit 2) when the run cannot start.

    ``environ``: where secrets resolve from (default ``os.environ``; a runbook run's own)."""
    if req.target not in ("cluster", "local"):
        raise InputError(f"--target must be cluster or local, not {req.target!r}")
    options = options_of(req)
    env = load_environment(req.env, layout.environments)
    selected = registry.select(req.only, req.skip)
    if not selected:
        raise InputError("--only/--skip leave no check to run")
    credentials, secrets, why = resolve_credentials(env, environ)
    api = None
    pods: dict[str, list[Pod]] = {}
    kind: TargetKind = "local" if req.target == "local" else "cluster"
    context = req.context
    exec_context: str | None = None
    if kind == "cluster" and any(c.needs_api(options) for c in selected):
        from akops.cluster.connect import IN_CLUSTER, connect

        api = connect(env, context)
        _reachable(api, env)
        # kubectl gets the context explicitly: its current context may be another cluster.
        wanted = context or env.kube.context
        exec_context = None if wanted == IN_CLUSTER else wanted
        roles = {r for c in selected for r in c.roles}
        if roles and shutil.which("kubectl") is None:
            raise ToolMissingError(
                "kubectl not found on PATH: the exec checks need it (install kubectl)"
            )
        try:
            pods = _pods(api, env, sorted(roles))
        except ClusterError:
            raise
        except Exception as e:
            raise ClusterError(f"cannot list pods in {env.kube.namespace}: {e}") from e
    no_containers = _containerless(api, env, pods) if api is not None else None
    subject = probes.subject(env, kind, options, pods, exec_context, why, no_containers)
    return Prepared(
        env=env,
        target=kind,
        checks=selected,
        probes=probes.build(subject, selected),
        timeout=options.timeout or env.verify.check_timeout,
        deadline=options.deadline
        if options.deadline is not None
        else env.verify.convergence_deadline,
        api=api,
        credentials=credentials,
        secrets=secrets,
        context=context,
    )


def execute(
    prepared: Prepared,
    *,
    workers: int | None = None,
    on_result: OnResult | None = None,
    total: Callable[[int], None] | None = None,
    deadline: float | None = None,
) -> VerifyReport:
    """Run a prepared plan and gather the report (details masked); ``deadline``: seconds the
    whole run may take (``run_jobs``)."""
    start = time.monotonic()
    jobs, known = jobs_for(prepared)
    if total is not None:
        total(len(known) + sum(len(j.keys) for j in jobs))
    mask = prepared.secrets.mask

    def masked(r: Result) -> Result:
        return Result(r.check, r.target, r.status, mask(r.detail), r.duration, r.attempts)

    def report(r: Result) -> None:
        if on_result is not None:
            on_result(masked(r))

    for r in known:
        report(r)
    ran = run_jobs(jobs, workers=workers, on_result=report, deadline=deadline)
    results = [masked(r) for r in known + ran]
    results.sort(key=lambda r: registry.ORDER[r.check])
    return VerifyReport(
        env=prepared.env.name,
        target=prepared.target,
        results=tuple(results),
        duration=time.monotonic() - start,
        checks=tuple(c.id for c in prepared.checks if c.id in {p.check for p in prepared.probes}),
    )


def run_probe(prepared: Prepared, probe: Probe) -> Result:
    """One probe, alone, exactly as a whole run would treat it (``checks/`` runs these)."""
    return execute(replace(prepared, probes=(probe,)), workers=1).results[0]


def verify_environment(
    layout: Layout, req: VerifyRequest, *, on_result: OnResult | None = None
) -> VerifyReport:
    """Verify the environment of ``req``: prepare, then run every check of it."""
    return execute(
        prepare(layout, req), workers=req.workers, on_result=on_result, deadline=req.run_timeout
    )


def write_reports(
    report: VerifyReport, json_path: str | None = None, junit_path: str | None = None
) -> None:
    """Write the JSON and/or JUnit forms of ``report``; an unwritable path is an input error."""
    from pathlib import Path

    for path, text in ((json_path, report.to_json), (junit_path, report.to_junit)):
        if not path:
            continue
        target = Path(path)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text(), encoding="utf-8")
        except OSError as e:
            raise InputError(f"{path}: cannot write: {e.strerror or e}") from e
