"""``invoke lint``: a rendered environment or files, against every lint rule.

Rule: adapter (parse flags, call one library function, map errors to exit codes).
"""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit

from akops.requests import LintRequest
from akops.tasks.common import exits, layout, operation


@operation(LintRequest)
def lint(c: Context, req: LintRequest) -> None:
    """Lint a rendered environment or files: YAML, schema, chart values, policy, alert rules."""
    import sys

    from akops.errors import InputError, ToolMissingError

    with exits():
        from akops import lint as linting  # inside: Ctrl-C during the imports exits 130 too
        from akops.alerts import promtool
        from akops.ops import lint as gate

        if req.list_rules or req.explain:
            print(linting.describe_rules(req.explain or None), end="")
            return
        if not promtool.available():
            if req.require_promtool:
                raise ToolMissingError(
                    "promtool is not on PATH: apt-get install prometheus (it ships promtool)"
                )
            print("note: promtool not on PATH; alert rules not checked by it", file=sys.stderr)
        if bool(req.env) == bool(req.path):
            raise InputError(
                "give either --env ENV or --path P (repeatable), not both and not neither"
            )
        if req.env and (
            req.values
            or req.waivers
            or req.chart_version
            or req.kube_version
            or req.max_connections
        ):
            raise InputError(
                "--values, --waivers, --chart-version, --kube-version and --max-connections "
                "go with --path; with --env they come from the environment file"
            )
        report = gate.lint(layout(c), req, note=lambda line: print(line, file=sys.stderr))
        out = report.render(
            req.format,
            color=req.format == "text" and sys.stdout.isatty(),
            verbose=req.verbose,
            show_waived="--verbose",
        )
    print(out, end="")
    if not report.ok:
        raise Exit(code=1)


ns = Collection(lint)
