"""Runbooks: ``runbook.list``, ``runbook.show``, ``runbook.run``.

Rule: adapter (parse flags, call one library function, map errors to exit codes).
"""

from __future__ import annotations

from pathlib import Path

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit

from akops.layout import Layout
from akops.requests import RunbookListRequest, RunbookRunRequest, RunbookShowRequest
from akops.tasks.common import exits, index, layout, operation


def _runbooks(repo: Layout, directory: str) -> tuple[Path, str]:
    path = Path(directory).resolve() if directory else repo.runbooks
    return path, repo.rel(path)


@operation(RunbookListRequest, name="list")
def runbook_list(c: Context, req: RunbookListRequest) -> None:
    """List the runbooks: name, title and when to use each."""
    import sys

    from rich.console import Console
    from rich.table import Table

    from akops.environment import known_environments, load_environment
    from akops.runbook import listing, load, validation

    repo = layout(c)
    with exits():
        directory, label = _runbooks(repo, req.runbooks)
        if req.check:
            names = known_environments(repo.environments)
            envs = [load_environment(n, repo.environments) for n in names]
            count, problems = load.lint(
                directory, label, validation.known_checks(), validation.tasks_of(index(repo)), envs
            )
            for p in problems:
                print(p)
            if problems:
                raise Exit(f"runbooks: {len(problems)} problem(s) in {label}", code=1)
            print(f"{label}: {count} runbook(s) valid")
            return
        docs = load.load_all(directory, label)
        if req.alert:
            docs = listing.for_alert(docs, req.alert)
        if req.format == "json":
            print(listing.to_json(docs), end="")
        elif not sys.stdout.isatty():
            print(listing.to_lines(docs), end="")
        else:
            table = Table("runbook", "title", "when to use it", "alerts", box=None, show_edge=False)
            for rb in docs:
                r = rb.runbook
                table.add_row(r.name, r.title, r.summary, "\n".join(r.when.alerts))
            for column in table.columns:
                column.overflow = "fold"  # wrap, never cut an alert name short
            Console(soft_wrap=False).print(table)
    if req.alert and not docs:
        raise Exit(f"no runbook in {label} names alert {req.alert!r}", code=1)


@operation(RunbookShowRequest, name="show")
def runbook_show(c: Context, req: RunbookShowRequest) -> None:
    """Print a runbook as readable Markdown."""
    from akops.environment import load_environment
    from akops.runbook import load, markdown

    repo = layout(c)
    with exits():
        directory, label = _runbooks(repo, req.runbooks)
        rb = load.find(directory, req.name, label)
        environment = load_environment(req.env, repo.environments) if req.env else None
        print(markdown.runbook(rb, environment), end="")


@operation(RunbookRunRequest, name="run")
def runbook_run(c: Context, req: RunbookRunRequest) -> None:
    """Run a runbook against an environment, asking before each change; writes a transcript."""
    from rich.console import Console

    from akops.environment import load_environment
    from akops.runbook import load, runner

    repo = layout(c)
    with exits():
        directory, label = _runbooks(repo, req.runbooks)
        rb = load.find(directory, req.name, label)
        environment = load_environment(req.env, repo.environments)
        opts = runner.RunOptions.of(repo, req, environment, directory)
        result = runner.run(rb, opts, Console(soft_wrap=True, highlight=False))
        if result.exit_code:
            raise Exit(code=result.exit_code)


ns = Collection("runbook", runbook_list, runbook_show, runbook_run)
