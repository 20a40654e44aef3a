"""``invoke rehearse``: an incident replayed on real services, with its runbook.

Rule: adapter (parse flags, call one library function, map errors to exit codes).
"""

from __future__ import annotations

from pathlib import Path

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit

from akops.requests import RehearseRequest
from akops.tasks.common import exits, layout, operation


@operation(RehearseRequest, auto_shortflags=False)  # -h must stay help
def rehearse(c: Context, req: RehearseRequest) -> None:
    """Replay an incident on real services, run its runbook: exit 0 all held, 1 one did not, 2 could not run."""
    from rich.console import Console

    from akops.errors import InputError
    from akops.rehearse import read

    repo = layout(c)
    with exits():
        if req.listing:
            for s in read.load_all(repo.rehearsals):
                print(f"{s.name:<26} {s.title} (runbook: {s.runbook or '-'}; ×{s.time_factor:g})")
            return
        from akops.rehearse import run

        opts = run.Options.of(req)
        console = Console(highlight=False, soft_wrap=True)
        report, folder = run.rehearse(repo, opts, console)
        if req.json:
            try:
                Path(req.json).write_text(report.model_dump_json(indent=2), encoding="utf-8")
            except OSError as e:
                raise InputError(f"--json {req.json}: cannot write: {e.strerror or e}") from e
        console.print(f"Report: {repo.rel(folder / 'report.md')}")
        console.print(report.result_line(), style="bold green" if report.ok else "bold red")
    if not report.ok:
        raise Exit(code=report.exit_code)


ns = Collection(rehearse)
