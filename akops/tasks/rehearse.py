"""``invoke rehearse``: an incident replayed on real services, with its runbook.

Rule: adapter (parse flags, call one library function, map errors to exit codes).
"""

from __future__ import annotations

from pathlib import Path

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from akops.tasks.common import ENV_HELP, exits, layout, resolve_env


@task(
    auto_shortflags=False,  # -h must stay help
    help={
        "scenario": "scenario name (a file in rehearsals/ without .yaml); --list lists them",
        "env": ENV_HELP,
        "json": "also write the report as JSON to this path",
        "out": "directory for the report, plot and runbook transcript (default: runs/rehearsals/...)",
        "pgbouncer_ini": "run PgBouncer from this pgbouncer.ini instead of the rendered one",
        "shm_size": "outpost /dev/shm size instead of the rendered patch's (64Mi: no patch)",
        "max_connections": "PostgreSQL max_connections instead of the environment's",
        "pgbouncer_replicas": "PgBouncer replicas instead of the environment's",
        "act": "run only this act of the scenario (repeatable)",
    },
    iterable=["act"],
)
def rehearse(
    c: Context,
    scenario: str,
    env: str = "",
    json: str = "",
    out: str = "",
    pgbouncer_ini: str = "",
    shm_size: str = "",
    max_connections: str = "",
    pgbouncer_replicas: str = "",
    act: list[str] | None = None,
) -> None:
    """Replay an incident on real services, run its runbook: exit 0 all held, 1 one did not, 2 could not run."""
    repo = layout(c)
    from rich.console import Console

    from akops.cli import count
    from akops.errors import InputError
    from akops.rehearse import read

    with exits():
        # Invoke hands `--list`, typed where the positional SCENARIO goes, to SCENARIO.
        if scenario in ("--list", "-l"):
            for s in read.load_all(repo.rehearsals):
                print(f"{s.name:<26} {s.title} (runbook: {s.runbook or '-'}; ×{s.time_factor:g})")
            return
        if scenario.startswith("-"):
            raise InputError(
                f"expected a scenario name, got {scenario!r}: invoke rehearse SCENARIO --env ENV "
                "(invoke rehearse --list shows them)"
            )
        from akops.rehearse import run

        opts = run.Options(
            scenario=scenario,
            env=resolve_env(repo, env),
            out=Path(out).resolve() if out else None,
            pgbouncer_ini=Path(pgbouncer_ini).resolve() if pgbouncer_ini else None,
            shm_size=shm_size or None,
            max_connections=count("max-connections", max_connections, minimum=4),
            pgbouncer_replicas=count("pgbouncer-replicas", pgbouncer_replicas, minimum=1),
            acts=tuple(act or ()),
        )
        console = Console(highlight=False, soft_wrap=True)
        report, folder = run.rehearse(repo, opts, console)
        if json:
            try:
                Path(json).write_text(report.model_dump_json(indent=2), encoding="utf-8")
            except OSError as e:
                raise InputError(f"--json {json}: cannot write: {e.strerror or e}") from e
        console.print(f"Report: {repo.rel(folder / 'report.md')}")
        console.print(report.result_line(), style="bold green" if report.ok else "bold red")
    if not report.ok:
        raise Exit(code=report.exit_code)


ns = Collection(rehearse)
