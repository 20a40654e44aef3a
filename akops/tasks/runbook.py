"""Runbooks: ``runbook.list``, ``runbook.show``, ``runbook.run``.

Rule: adapter (parse flags, call one library function, map errors to exit codes).
"""

from __future__ import annotations

from pathlib import Path

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from akops.layout import Layout
from akops.tasks.common import ENV_HELP, exits, index, layout, resolve_env

RUNBOOKS_HELP = "directory to read runbooks from (default: runbooks/)"


def _runbooks(repo: Layout, directory: str) -> tuple[Path, str]:
    path = Path(directory).resolve() if directory else repo.runbooks
    return path, repo.rel(path)


def _positional(name: str, task_name: str) -> None:
    # Invoke hands a flag typed where the positional NAME goes (`runbook.run --help`) to NAME.
    if name.startswith("-"):
        from akops.errors import InputError

        raise InputError(f"expected a runbook name, got {name!r} (help: invoke --help {task_name})")


@task(
    name="list",
    help={
        "check": "validate every runbook (schema, checks and tasks it names, rendering); exit 1 on problems",
        "runbooks": RUNBOOKS_HELP,
        "format": "table (at a terminal; one tab-separated line per runbook when piped) or json",
        "alert": "only the runbooks this alert points to (exit 1 if none)",
    },
)
def runbook_list(
    c: Context, check: bool = False, runbooks: str = "", format: str = "table", alert: str = ""
) -> None:
    """List the runbooks: name, title and when to use each."""
    repo = layout(c)
    import sys

    from rich.console import Console
    from rich.table import Table

    from akops.environment import known_environments, load_environment
    from akops.errors import InputError
    from akops.runbook import listing, load, validation

    with exits():
        if format not in ("table", "json"):
            raise InputError(f"--format must be table or json, not {format!r}")
        directory, label = _runbooks(repo, runbooks)
        if check:
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
        if alert:
            docs = listing.for_alert(docs, alert)
        if format == "json":
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
    if alert and not docs:
        raise Exit(f"no runbook in {label} names alert {alert!r}", code=1)


@task(
    name="show",
    help={
        "name": "runbook name (a file in runbooks/ without .yaml)",
        "env": "render the commands for this environment (default: show the templates)",
        "runbooks": RUNBOOKS_HELP,
    },
)
def runbook_show(c: Context, name: str, env: str = "", runbooks: str = "") -> None:
    """Print a runbook as readable Markdown."""
    repo = layout(c)
    from akops.environment import load_environment
    from akops.runbook import load, markdown

    with exits():
        _positional(name, "runbook.show")
        directory, label = _runbooks(repo, runbooks)
        rb = load.find(directory, name, label)
        environment = load_environment(env, repo.environments) if env else None
        print(markdown.runbook(rb, environment), end="")


@task(
    name="run",
    iterable=["input", "skip", "answer"],
    help={
        "name": "runbook name (a file in runbooks/ without .yaml)",
        "env": ENV_HELP + "; required",
        "yes": "answer yes to every confirmation (decisions take their default answer)",
        "answer": "answer step STEP's question in advance: STEP=CHOICE (repeatable; needed for a "
        "decision when no terminal is there)",
        "dry_run": "walk the whole runbook: run the read-only steps, record failures and go on, "
        "show the rest; ends with a summary",
        "from_": "start at step STEP (the steps before it are recorded as skipped)",
        "resume": "continue the last stopped run of this runbook on ENV from the step it stopped at",
        "input": "runbook input NAME=VALUE (repeatable); see `invoke runbook.show NAME`",
        "skip": "step ID to skip, recorded in the transcript (repeatable)",
        "verify_args": "verify flags for every check step (--target, --context, --url, --outpost-url, "
        "--pgbouncer, --shm, --protected, --timeout, --deadline), e.g. '--target local ...'",
        "runs_dir": "where transcripts go (default: the environment's runs_dir, runs/)",
        "runbooks": RUNBOOKS_HELP,
    },
)
def runbook_run(
    c: Context,
    name: str,
    env: str = "",
    yes: bool = False,
    dry_run: bool = False,
    resume: bool = False,
    input: list[str] | None = None,
    skip: list[str] | None = None,
    answer: list[str] | None = None,
    from_: str = "",
    verify_args: str = "",
    runs_dir: str = "",
    runbooks: str = "",
) -> None:
    """Run a runbook against an environment, asking before each change; writes a transcript."""
    repo = layout(c)
    import shlex

    from rich.console import Console

    from akops import ask
    from akops.environment import load_environment
    from akops.runbook import load, runner, template

    with exits():
        _positional(name, "runbook.run")
        env = resolve_env(repo, env)
        directory, label = _runbooks(repo, runbooks)
        rb = load.find(directory, name, label)
        environment = load_environment(env, repo.environments)
        # --runs-dir is relative to where the operator is; the environment's, to the repository.
        runs = Path(runs_dir).resolve() if runs_dir else repo.root / environment.runs_dir
        opts = runner.RunOptions(
            env=environment,
            root=repo.root,
            runs_dir=runs,
            inputs=template.parse_assignments(input or [], "--input"),
            yes=yes,
            dry_run=dry_run,
            resume=resume,
            skip=frozenset(skip or []),
            start_at=from_ or None,
            answers=ask.parse_answers(answer or []),
            verify_args=tuple(shlex.split(verify_args)),
            runbooks=directory if runbooks else None,
        )
        result = runner.run(rb, opts, Console(soft_wrap=True, highlight=False))
        if result.exit_code:
            raise Exit(code=result.exit_code)


ns = Collection("runbook", runbook_list, runbook_show, runbook_run)
