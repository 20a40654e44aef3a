"""Showing a verify run at the terminal: a progress bar while it runs, then the table.

Rule: presentation only (rich). Progress goes to stderr so stdout stays the report.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from akops.verify.results import Result, Status


class Live:
    """Progress of a run: ``total`` once known, then ``result`` per finished row."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task = progress.add_task("verify", total=None)
        self.failures = 0

    def total(self, n: int) -> None:
        self.progress.update(self.task, total=n)

    def result(self, r: Result) -> None:
        if r.status in (Status.FAIL, Status.ERROR):
            self.failures += 1
        if r.status in (Status.FAIL, Status.ERROR) and self.progress.console.is_terminal:
            self.progress.console.print(
                f"[red]{r.status.value}[/] {r.check} {r.target}: {r.detail}", highlight=False
            )
        self.progress.update(
            self.task, advance=1, description=f"{r.check} ({self.failures} failing)"
        )


@contextmanager
def live(console: Console | None = None) -> Iterator[Live]:
    console = console or Console(stderr=True)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        yield Live(progress)
