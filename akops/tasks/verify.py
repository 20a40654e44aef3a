"""``invoke verify``: the checks of the verify registry against an environment.

Rule: adapter (parse flags, call one library function, map errors to exit codes).
"""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from akops.tasks.common import ENV_HELP, exits, layout, resolve_env

# The registry is cheap to read (its I/O is imported only when a check runs): --help lists it.
from akops.verify.registry import IDS as CHECK_IDS

CHECK_HELP = f"check ID (glob allowed, e.g. 'http.*'), one of: {', '.join(CHECK_IDS)}; repeatable"


@task(
    auto_shortflags=False,  # a dozen flags: long names only, no surprising -h
    iterable=["only", "skip", "protected"],
    help={
        "env": ENV_HELP,
        "target": "cluster (pods via the kube context) or local (services on this machine)",
        "context": "kube context to use instead of the environment's kube.context",
        "only": "run only this " + CHECK_HELP,
        "skip": "skip this " + CHECK_HELP,
        "json": "also write the report as JSON to this path",
        "junit": "also write the report as JUnit XML to this path",
        "url": "Authentik base URL (local default: verify.local.url)",
        "outpost_url": "outpost base URL for the ping (local default: verify.local.outpost_url)",
        "pgbouncer": "PgBouncer HOST:PORT reachable from here (db checks; local port checks)",
        "shm": "tmpfs path whose usage is checked locally (default: verify.local.shm)",
        "protected": "URL of a service behind forward auth (replaces the environment's list); repeatable",
        "timeout": "seconds per check (default: verify.check_timeout)",
        "deadline": "seconds convergence checks retry (default: verify.convergence_deadline)",
        "workers": "most checks run at once (default: one per pod, URL, API read or query, at most 256; up to 1024)",
        "prometheus": "Prometheus base URL whose firing alerts alerts.firing reads (default: monitoring.prometheus_url)",
    },
)
def verify(
    c: Context,
    env: str = "",
    target: str = "cluster",
    context: str | None = None,
    only: list[str] | None = None,
    skip: list[str] | None = None,
    json: str | None = None,
    junit: str | None = None,
    url: str | None = None,
    outpost_url: str | None = None,
    pgbouncer: str | None = None,
    shm: str | None = None,
    protected: list[str] | None = None,
    timeout: float | None = None,
    deadline: float | None = None,
    workers: str | None = None,
    prometheus: str | None = None,
) -> None:
    """Verify the stack: checks run concurrently, a table, then VERIFY RESULT (exit 0/1/2)."""
    repo = layout(c)
    from rich.console import Console

    from akops.cli import count
    from akops.verify import run, show

    with exits():
        env = resolve_env(repo, env)
        pool = count("workers", workers, minimum=1)
        overrides = dict(
            url=url,
            outpost_url=outpost_url,
            pgbouncer=pgbouncer,
            shm=shm,
            timeout=timeout,
            deadline=deadline,
            protected=protected or None,
            prometheus=prometheus,
        )
        prepared = run.prepare(
            repo,
            env,
            context=context,
            target=target,
            only=only or (),
            skip=skip or (),
            options=run.options(**overrides),
        )
        with show.live() as live:
            report = run.execute(prepared, workers=pool, on_result=live.result, total=live.total)
        run.write_reports(report, json, junit)
        console = Console(highlight=False)
        if not console.is_terminal:
            console = Console(highlight=False, width=160)
        console.print(report.table())
        console.print(report.summary())
        if report.reason():
            console.print(report.reason(), style="bold red", markup=False)
        console.print(f"[bold {'green' if report.ok else 'red'}]{report.result_line()}[/]")
    if not report.ok:
        raise Exit(code=report.exit_code)


ns = Collection(verify)
