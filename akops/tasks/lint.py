"""``invoke lint``: a rendered environment or files, against every lint rule.

Rule: adapter (parse flags, call one library function, map errors to exit codes).
"""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from akops.tasks.common import ENV_HELP, exits, layout


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
        "verbose": "text: also list the waived findings, each with its reason (json, sarif and junit always hold them)",
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
    verbose: bool = False,
) -> None:
    """Lint a rendered environment or files: YAML, schema, chart values, policy, alert rules."""
    repo = layout(c)
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
                root=repo.root,
                cache=not no_cache,
            )
        else:
            from akops.environment import load_environment
            from akops.runbook.load import alert_links

            monitoring = load_environment(env, repo.environments).monitoring
            report = linting.lint_environment(
                repo,
                env,
                strict_kinds=strict_kinds,
                cache=not no_cache,
                note=lambda line: print(line, file=sys.stderr),
                # The alert rules and the runbooks' when.alerts, both ways.
                runbooks=alert_links(
                    repo.runbooks,
                    repo.rel(repo.runbooks),
                    monitoring.runbook_url if monitoring else None,
                ),
            )
        out = report.render(
            format,
            color=format == "text" and sys.stdout.isatty(),
            verbose=verbose,
            show_waived="--verbose",
        )
    print(out, end="")
    if not report.ok:
        raise Exit(code=1)


ns = Collection(lint)
