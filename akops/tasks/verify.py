"""``invoke verify``: the checks of the verify registry against an environment.

Rule: adapter (parse flags, call one library function, map errors to exit codes).
"""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit

from akops.requests import VerifyRequest
from akops.tasks.common import exits, layout, operation

# The registry is cheap to read (its I/O is imported only when a check runs): --help lists it.
from akops.verify.registry import IDS

ONE_OF = f", one of: {', '.join(IDS)}; repeatable"


@operation(
    VerifyRequest,
    auto_shortflags=False,  # a dozen flags: long names only, no surprising -h
    more_help={"only": ONE_OF, "skip": ONE_OF},
)
def verify(c: Context, req: VerifyRequest) -> None:
    """Verify the stack: checks run concurrently, a table, then VERIFY RESULT (exit 0/1/2)."""
    from rich.console import Console

    from akops.verify import run, show

    with exits():
        prepared = run.prepare(layout(c), req)
        with show.live() as live:
            report = run.execute(
                prepared,
                workers=req.workers,
                on_result=live.result,
                total=live.total,
                deadline=req.run_timeout,
            )
        run.write_reports(report, req.json, req.junit)
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
