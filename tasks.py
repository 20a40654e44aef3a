"""Invoke tasks: thin adapters over the ``akops`` library.

Each task parses its flags, calls one library function, and turns ``AkopsError``
into an exit code. Heavy modules (kubernetes, testinfra) are imported inside the
tasks that need them so that ``invoke --list`` stays fast.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

from invoke import Collection, Context, Exit, task

from akops.errors import AkopsError

if TYPE_CHECKING:
    from akops.cluster.saved_plan import SavedPlan
    from akops.ops.pipeline import Summary
from akops.layout import Layout

LAYOUT = Layout(Path(__file__).resolve().parent)
ENV_HELP = "environment name (a file in environments/); required, or set AKOPS_ENV"


def _env(env: str) -> str:
    """``--env``, else ``AKOPS_ENV``; never an implicit default (InputError, exit 2)."""
    import os

    from akops.cli import require_env
    from akops.environment import known_environments

    return require_env(env, os.environ, known_environments(LAYOUT.environments))


@contextmanager
def exits(error_code: int | None = None) -> Iterator[None]:
    """Map the project's errors to exit codes: the entry point decides, the library suggests.

    ``error_code`` replaces every error's own code (``plan --detailed-exitcode``: any error is 1).
    SIGINT, SIGTERM and SIGHUP stop every child process group the task started and exit
    128 + the signal's number with one line (written only if the terminal is still there)."""
    from akops import process

    try:
        with process.signal_guard():
            yield
    except AkopsError as e:
        raise Exit(f"error: {e}", code=error_code or e.exit_code) from None
    except KeyboardInterrupt as e:
        _interrupted(e)
    except OSError as e:
        # The terminal went away (a hangup) while a signal was being handled: the signal is
        # what happened, not the failed write.
        cause = _interrupt_in(e)
        if cause is None:
            raise
        _interrupted(cause)


def _interrupt_in(e: BaseException) -> KeyboardInterrupt | None:
    seen: BaseException | None = e
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt):
            return seen
        seen = seen.__context__
    return None


def _interrupted(e: KeyboardInterrupt) -> None:
    from akops import ask

    name, code = getattr(e, "name", "SIGINT"), getattr(e, "exit_code", 130)
    ask.line(f"interrupted by {name}: every process this task started was stopped")
    ask.flush()
    raise Exit(code=code) from None


@task(
    help={
        "env": ENV_HELP,
        "check": "render in memory and exit 1 with a diff if manifests/ENV differs",
        "dry_run": "show the diff a render would write, and write nothing",
    }
)
def render(c: Context, env: str = "", check: bool = False, dry_run: bool = False) -> None:
    """Render templates/ for an environment into manifests/ENV/."""
    from akops import render as r

    with exits():
        env = _env(env)
        _, stack = r.render_env(LAYOUT, env)
        target = LAYOUT.manifests_for(env)
        if dry_run:
            drift = r.drift(stack, target, LAYOUT.rel(target))
            print(drift.diff, end="")
            print(f"{LAYOUT.rel(target)}: would change {len(drift.changed)} file(s)")
            return
        if check:
            drift = r.drift(stack, target, LAYOUT.rel(target))
            if not drift.clean:
                print(drift.diff, end="")
                raise Exit(
                    f"drift: {len(drift.changed)} file(s) in {LAYOUT.rel(target)} differ from a fresh "
                    f"render ({', '.join(drift.changed)}); run `invoke render --env {env}`",
                    code=1,
                )
            print(f"{LAYOUT.rel(target)}: up to date ({len(stack.files)} files)")
            return
        written = r.write(stack, target)
        print(f"{LAYOUT.rel(target)}: {len(written)} files rendered")


# --- tasks of later issues are added below, one section each ---


# --- runbook ---

RUNBOOKS_HELP = "directory to read runbooks from (default: runbooks/)"


def _runbooks(directory: str) -> tuple[Path, str]:
    path = Path(directory).resolve() if directory else LAYOUT.runbooks
    return path, LAYOUT.rel(path)


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
    import sys

    from rich.console import Console
    from rich.table import Table

    from akops.environment import known_environments, load_environment
    from akops.errors import InputError
    from akops.runbook import listing, load, validation

    with exits():
        if format not in ("table", "json"):
            raise InputError(f"--format must be table or json, not {format!r}")
        directory, label = _runbooks(runbooks)
        if check:
            names = known_environments(LAYOUT.environments)
            envs = [load_environment(n, LAYOUT.environments) for n in names]
            count, problems = load.lint(
                directory, label, validation.known_checks(), validation.tasks_of(ns), envs
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
    from akops.environment import load_environment
    from akops.runbook import load, markdown

    with exits():
        _positional(name, "runbook.show")
        directory, label = _runbooks(runbooks)
        rb = load.find(directory, name, label)
        environment = load_environment(env, LAYOUT.environments) if env else None
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
    import shlex

    from rich.console import Console

    from akops import ask
    from akops.environment import load_environment
    from akops.runbook import load, runner, template

    with exits():
        _positional(name, "runbook.run")
        env = _env(env)
        directory, label = _runbooks(runbooks)
        rb = load.find(directory, name, label)
        environment = load_environment(env, LAYOUT.environments)
        # --runs-dir is relative to where the operator is; the environment's, to the repository.
        runs = Path(runs_dir).resolve() if runs_dir else LAYOUT.root / environment.runs_dir
        opts = runner.RunOptions(
            env=environment,
            root=LAYOUT.root,
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


runbook = Collection("runbook", runbook_list, runbook_show, runbook_run)

# --- verify ---

# The registry is cheap to read (its I/O is imported only when a check runs): --help lists it.
from akops.verify.registry import IDS as CHECK_IDS  # noqa: E402

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
    from rich.console import Console

    from akops.cli import count
    from akops.verify import run, show

    with exits():
        env = _env(env)
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
            LAYOUT,
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


# --- lint ---


@task(
    iterable=["path", "values"],
    help={
        "env": ENV_HELP + "; lints what `invoke render` produces for it, with its waivers",
        "path": "file or directory to lint instead: manifests, chart values, pgbouncer.ini (repeatable)",
        "values": "with --path: a file to judge as Authentik chart values whatever its keys (repeatable)",
        "format": "text (path:line:col: severity rule message, the default), json, sarif or junit",
        "kube_version": "Kubernetes version of the schemas for --path (default 1.33)",
        "chart_version": "Authentik chart version whose keys --path checks (default: the one a rendered values file's header names, else the newest bundled)",
        "max_connections": "PostgreSQL max_connections for the capacity rule with --path",
        "strict_kinds": "a kind without a schema (a custom resource) is an error, not a warning",
        "waivers": "with --path: a YAML file of waivers (a list of {rule, object, reason}, as in an environment's lint.waivers)",
        "no_cache": "do not read or write lint's caches (yamllint and per-file results, under $XDG_CACHE_HOME/akops)",
        "list_rules": "list every rule (ID, severity, title) and exit",
        "explain": "explain one rule (what it catches, how to fix it, why) and exit",
        "require_promtool": "exit 2 if promtool is not on PATH (default: skip its check, say so)",
    },
)
def lint(
    c: Context,
    env: str = "",
    path: list[str] | None = None,
    values: list[str] | None = None,
    format: str = "text",
    kube_version: str = "",
    chart_version: str = "",
    max_connections: str = "",
    strict_kinds: bool = False,
    waivers: str = "",
    no_cache: bool = False,
    list_rules: bool = False,
    explain: str = "",
    require_promtool: bool = False,
) -> None:
    """Lint a rendered environment or files: YAML, schema, chart values, policy, alert rules."""
    import sys

    from akops.cli import count
    from akops.errors import InputError, ToolMissingError

    with exits():
        from akops import lint as linting  # inside: Ctrl-C during the imports exits 130 too
        from akops.alerts import promtool

        if list_rules or explain:
            print(linting.describe_rules(explain or None), end="")
            return
        if format not in linting.FORMATS:
            raise InputError(
                f"--format must be one of {', '.join(linting.FORMATS)}, not {format!r}"
            )
        if not promtool.available():
            if require_promtool:
                raise ToolMissingError(
                    "promtool is not on PATH: apt-get install prometheus (it ships promtool)"
                )
            print("note: promtool not on PATH; alert rules not checked by it", file=sys.stderr)
        if bool(env) == bool(path):
            raise InputError(
                "give either --env ENV or --path P (repeatable), not both and not neither"
            )
        if env and (values or waivers or chart_version or kube_version or max_connections):
            raise InputError(
                "--values, --waivers, --chart-version, --kube-version and --max-connections "
                "go with --path; with --env they come from the environment file"
            )
        if path:
            report = linting.lint_paths(
                path,
                kube_version=kube_version or None,
                chart_version=chart_version or None,
                max_connections=count("max-connections", max_connections, minimum=1),
                strict_kinds=strict_kinds,
                values_files=values or (),
                waivers_file=waivers or None,
                root=LAYOUT.root,
                cache=not no_cache,
            )
        else:
            from akops.environment import load_environment
            from akops.runbook.load import alert_links

            monitoring = load_environment(env, LAYOUT.environments).monitoring
            report = linting.lint_environment(
                LAYOUT,
                env,
                strict_kinds=strict_kinds,
                cache=not no_cache,
                note=lambda line: print(line, file=sys.stderr),
                # The alert rules and the runbooks' when.alerts, both ways.
                runbooks=alert_links(
                    LAYOUT.runbooks,
                    LAYOUT.rel(LAYOUT.runbooks),
                    monitoring.runbook_url if monitoring else None,
                ),
            )
        out = report.render(format, color=format == "text" and sys.stdout.isatty())
    print(out, end="")
    if not report.ok:
        raise Exit(code=1)


# --- chart ---


@task(
    name="pull",
    help={
        "env": ENV_HELP,
        "dry_run": "say what would be pulled and whether it is cached already; pull nothing",
    },
)
def chart_pull(c: Context, env: str = "", dry_run: bool = False) -> None:
    """helm pull the environment's pinned chart version into the user's cache, digest recorded."""
    from akops import chart as charts
    from akops.cluster.helm import helm_program
    from akops.environment import load_environment

    with exits():
        env = _env(env)
        chart = load_environment(env, LAYOUT.environments).authentik.chart
        where = f"{chart.name} {chart.version} from {chart.repo}"
        have = charts.cached(chart)
        if dry_run:
            state = f"cached at {have.archive} ({have.digest})" if have else "not cached"
            print(f"{where}: {state}; would pull it into {charts.cache_dir(chart)}")
            return
        pulled = charts.pull(chart, helm_program())
        print(f"{where}: cached at {pulled.archive} ({pulled.digest})")


chart = Collection("chart", chart_pull)

# --- deploy ---

CONTEXT_HELP = "kube context to use instead of the environment's kube.context (explicit override)"
SKIP_HELM_HELP = "leave the Authentik Helm release alone (objects only; no helm needed)"
FORCE_HELP = "take ownership of fields another field manager owns (server-side apply force)"
ALLOW_DIRTY_HELP = (
    "let a protected environment take a change from a git tree with uncommitted changes"
)


def _locked(
    env: str, context: str | None, task: str, dry_run: bool, allow_dirty: bool, tree: bool = True
) -> AbstractContextManager[object]:
    """The environment's deploy lock around a change (none for a dry run, which changes nothing)."""
    if dry_run:
        return nullcontext()
    from akops.cluster import lease
    from akops.environment import load_environment
    from akops.source import revision

    environment = load_environment(env, LAYOUT.environments)
    source = revision(LAYOUT.root)
    return lease.locked(
        environment,
        context,
        task,
        commit=source.commit or "",
        dirty=source.dirty,
        check_tree=tree,
        allow_dirty=allow_dirty,
    )


@task(
    help={
        "env": ENV_HELP,
        "context": CONTEXT_HELP,
        "skip_helm": SKIP_HELM_HELP,
        "force_conflicts": "plan as if applying with --force-conflicts",
        "verbose": "also list unchanged objects",
        "out": "also write the plan to FILE (JSON; secret values only as salted hashes) for `invoke apply --plan FILE`",
        "format": "text (the default) or json (the saved plan's structure, on stdout)",
        "detailed_exitcode": "Terraform's CI gate: exit 0 no changes, 2 changes, 1 any error",
    }
)
def plan(
    c: Context,
    env: str = "",
    context: str | None = None,
    skip_helm: bool = False,
    force_conflicts: bool = False,
    verbose: bool = False,
    detailed_exitcode: bool = False,
    out: str = "",
    format: str = "text",
) -> None:
    """Show what apply would change (server-side dry run); exit 0 planned, 1 refused, 2 could not run."""
    from akops.ops import operations as d

    with exits(1 if detailed_exitcode else None):
        env = _env(env)
        if format not in ("text", "json"):
            from akops.errors import InputError

            raise InputError(f"--format must be text or json, not {format!r}")
        saved = None
        if out or format == "json":
            import datetime
            import secrets

            created = datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            result, saved = d.plan_saved(
                LAYOUT,
                env,
                context=context,
                skip_helm=skip_helm,
                force=force_conflicts,
                created=created,
                salt=secrets.token_hex(16),
            )
            if out:
                _write_private(Path(out), saved.to_json())
        else:
            result = d.plan_env(
                LAYOUT, env, context=context, skip_helm=skip_helm, force=force_conflicts
            )
    if format == "json" and saved is not None:
        print(saved.to_json(), end="")
    else:
        print(result.to_text(verbose=verbose), end="")
        if out:
            print(f"Saved to {out}: apply exactly this plan with `invoke apply --plan {out}`.")
    if detailed_exitcode and result.has_changes:
        raise Exit(code=2)


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` readable by this user only (a plan names the cluster's objects)."""
    import os

    from akops.errors import InputError

    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as e:
        raise InputError(f"--out {path}: cannot write: {e.strerror}") from e


@task(
    help={
        "env": ENV_HELP,
        "context": CONTEXT_HELP,
        "yes": "apply without asking (required when stdin is not a terminal)",
        "force_conflicts": FORCE_HELP,
        "prune": "delete objects of ours that are no longer rendered (planned as destroy)",
        "skip_helm": SKIP_HELM_HELP,
        "dry_run": "show the plan and stop; change nothing",
        "allow_dirty": ALLOW_DIRTY_HELP,
        "plan": "apply exactly this saved plan (`invoke plan --out FILE`); refuses if anything moved since",
    }
)
def apply(
    c: Context,
    env: str = "",
    context: str | None = None,
    yes: bool = False,
    force_conflicts: bool = False,
    prune: bool = False,
    skip_helm: bool = False,
    dry_run: bool = False,
    allow_dirty: bool = False,
    plan: str = "",
) -> None:
    """Show the plan, confirm, then server-side apply the stack (and upgrade the release)."""
    from akops.ops import operations as d

    with exits():
        saved = _saved_plan(plan) if plan else None
        env = _env(env or (saved.basis.environment if saved else ""))
        with _locked(env, context, "apply", dry_run, allow_dirty):
            if saved is not None:
                d.apply_saved_env(
                    LAYOUT,
                    env,
                    saved,
                    context=context,
                    yes=yes,
                    force=force_conflicts,
                    prune=prune,
                    dry_run=dry_run,
                )
                return
            d.apply_env(
                LAYOUT,
                env,
                context=context,
                yes=yes,
                force=force_conflicts,
                prune=prune,
                skip_helm=skip_helm,
                dry_run=dry_run,
            )


def _summarised(summary: Summary) -> None:
    """Print a pipeline's summary; its failed stage's exit code is the task's."""
    print(summary.to_text(), end="")
    if summary.exit_code:
        raise Exit(code=summary.exit_code)


def _saved_plan(path: str) -> SavedPlan:
    from akops.cluster.saved_plan import load
    from akops.errors import InputError

    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise InputError(f"--plan {path}: cannot read: {e.strerror}") from e
    return load(text, path)


@task(
    help={
        "env": ENV_HELP,
        "context": CONTEXT_HELP,
        "yes": "apply without asking (required when stdin is not a terminal)",
        "force_conflicts": FORCE_HELP,
        "prune": "delete objects of ours that are no longer rendered",
        "skip_helm": SKIP_HELM_HELP,
        "dry_run": "render, lint and plan only; change nothing",
        "allow_dirty": ALLOW_DIRTY_HELP,
    }
)
def deploy(
    c: Context,
    env: str = "",
    context: str | None = None,
    yes: bool = False,
    force_conflicts: bool = False,
    prune: bool = False,
    skip_helm: bool = False,
    dry_run: bool = False,
    allow_dirty: bool = False,
) -> None:
    """Render, lint, plan, confirm, apply, wait for the rollout, verify; one summary."""
    from akops.ops import operations as d

    with exits(), _locked(env := _env(env), context, "deploy", dry_run, allow_dirty):
        summary = d.deploy_env(
            LAYOUT,
            env,
            context=context,
            yes=yes,
            force=force_conflicts,
            prune=prune,
            skip_helm=skip_helm,
            dry_run=dry_run,
        )
    _summarised(summary)


@task(
    help={
        "env": ENV_HELP,
        "context": CONTEXT_HELP,
        "yes": "roll back without asking (required when stdin is not a terminal)",
        "skip_helm": "roll back PgBouncer only; leave the Helm release alone",
        "force_config": "roll back even though pgbouncer.ini changed since that revision",
        "dry_run": "show the revisions it would roll back to; change nothing",
    }
)
def rollback(
    c: Context,
    env: str = "",
    context: str | None = None,
    yes: bool = False,
    skip_helm: bool = False,
    force_config: bool = False,
    dry_run: bool = False,
) -> None:
    """Roll PgBouncer and the Authentik release back one revision, then wait and verify."""
    from akops.ops import operations as d

    # A rollback returns to a revision the cluster already ran: no tree check.
    with exits(), _locked(env := _env(env), context, "rollback", dry_run, False, tree=False):
        summary = d.rollback_env(
            LAYOUT,
            env,
            context=context,
            yes=yes,
            skip_helm=skip_helm,
            force_config=force_config,
            dry_run=dry_run,
        )
    _summarised(summary)


@task(
    iterable=["deployment"],
    help={
        "env": ENV_HELP,
        "context": CONTEXT_HELP,
        "deployment": "wait for this Deployment only (repeatable; default: every Deployment of the stack)",
    },
)
def rollout(
    c: Context, env: str = "", context: str | None = None, deployment: list[str] | None = None
) -> None:
    """Wait (by watch, with a live display) until the stack's Deployments converge."""
    from akops.ops import operations as d

    with exits():
        env = _env(env)
        done = d.rollout_env(LAYOUT, env, context=context, deployments=tuple(deployment or ()))
    print(f"converged: {done}")


@task(
    help={
        "env": ENV_HELP,
        "yes": "send without asking (required when stdin is not a terminal)",
        "context": CONTEXT_HELP + " (for the deploy lock)",
        "dry_run": "show the diff of the outpost's patches; send nothing",
        "allow_dirty": ALLOW_DIRTY_HELP,
    }
)
def outpost_patch(
    c: Context,
    env: str = "",
    context: str | None = None,
    yes: bool = False,
    dry_run: bool = False,
    allow_dirty: bool = False,
) -> None:
    """Show the diff of the outpost's kubernetes_json_patches, ask, send them to Authentik."""
    from akops.ops import operations as d

    with exits(), _locked(env := _env(env), context, "outpost-patch", dry_run, allow_dirty):
        print(d.outpost_patch_env(LAYOUT, env, yes=yes, dry_run=dry_run))


@task(
    help={
        "env": ENV_HELP,
        "context": CONTEXT_HELP,
        "yes": "break the lock without asking (required when stdin is not a terminal)",
        "dry_run": "show who holds the lock; change nothing",
    }
)
def unlock(
    c: Context,
    env: str = "",
    context: str | None = None,
    yes: bool = False,
    dry_run: bool = False,
) -> None:
    """Show who holds the deploy lock (Lease akops-deploy) and, after asking, break it."""
    from akops.cluster import lease
    from akops.cluster.connect import connect
    from akops.environment import load_environment
    from akops.ops.confirm import confirm

    with exits():
        env = _env(env)
        environment = load_environment(env, LAYOUT.environments)
        namespace = environment.kube.namespace
        with connect(environment, context) as api:
            found = lease.get(api, namespace)
            if found is None or found.holder is None:
                print(f"the deploy lock of {env} ({namespace}) is not held")
                return
            state = "expired" if found.expired(lease.now()) else "live"
            print(
                f"the deploy lock of {env} ({namespace}) is held ({state}) by {found.holder.describe()}"
            )
            if dry_run:
                return
            confirm(f"Break it? The run holding it may still be changing {env}.", yes=yes)
            broken = lease.break_lock(api, namespace)
        print(f"unlocked: {broken.describe() if broken else 'nobody'} no longer holds it")


# --- images ---

TIMEOUT_HELP = "seconds each registry gets to answer for one image (default 10)"


@task(
    name="pin",
    help={
        "env": ENV_HELP,
        "dry_run": "show the changes to the environment file and write nothing",
        "timeout": TIMEOUT_HELP,
    },
)
def images_pin(c: Context, env: str = "", dry_run: bool = False, timeout: str = "10") -> None:
    """Resolve every image's tag to its digest in the registry; write tag@sha256 into ENV's file."""
    from akops.cli import seconds
    from akops.images import pin

    with exits():
        env = _env(env)
        report = pin.pin_env(
            LAYOUT, env, dry_run=dry_run, timeout=seconds("timeout", timeout) or 10
        )
    print(report.to_text(), end="")


@task(
    name="check",
    iterable=["env"],
    help={
        "env": "environment to check (repeatable; default: every environment)",
        "timeout": TIMEOUT_HELP,
    },
)
def images_check(c: Context, env: list[str] | None = None, timeout: str = "10") -> None:
    """Report pinned tags whose registry digest moved since they were pinned (exit 1)."""
    from akops.cli import seconds
    from akops.images import pin

    with exits():
        report = pin.check_envs(LAYOUT, tuple(env or ()), timeout=seconds("timeout", timeout) or 10)
    print(report.to_text(), end="")
    if report.exit_code:
        raise Exit(code=report.exit_code)


images = Collection("images", images_pin, images_check)

# --- rehearse ---


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
    from rich.console import Console

    from akops.cli import count
    from akops.errors import InputError
    from akops.rehearse import read

    with exits():
        # Invoke hands `--list`, typed where the positional SCENARIO goes, to SCENARIO.
        if scenario in ("--list", "-l"):
            for s in read.load_all(LAYOUT.rehearsals):
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
            env=_env(env),
            out=Path(out).resolve() if out else None,
            pgbouncer_ini=Path(pgbouncer_ini).resolve() if pgbouncer_ini else None,
            shm_size=shm_size or None,
            max_connections=count("max-connections", max_connections, minimum=4),
            pgbouncer_replicas=count("pgbouncer-replicas", pgbouncer_replicas, minimum=1),
            acts=tuple(act or ()),
        )
        console = Console(highlight=False, soft_wrap=True)
        report, where = run.rehearse(LAYOUT, opts, console)
        if json:
            try:
                Path(json).write_text(report.model_dump_json(indent=2), encoding="utf-8")
            except OSError as e:
                raise InputError(f"--json {json}: cannot write: {e.strerror or e}") from e
        console.print(f"Report: {LAYOUT.rel(where / 'report.md')}")
        console.print(report.result_line(), style="bold green" if report.ok else "bold red")
    if not report.ok:
        raise Exit(code=report.exit_code)


ns = Collection(
    render,
    runbook,
    verify,
    lint,
    chart,
    plan,
    apply,
    deploy,
    rollback,
    rollout,
    outpost_patch,
    unlock,
    images,
    rehearse,
)
