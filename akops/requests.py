"""One typed request per operation: its inputs, each declared once with its flag.

Rule: pure values (dataclasses of ``akops.cli.Request``; no I/O, nothing heavy imported:
``invoke --list`` reads these). Each field carries its flag's help, parser, repeatability
and, in ``groups``, the other surfaces that take it (``CHECK_STEP``: a runbook check step's
``args``; ``VERIFY_ARGS``: a runbook run's ``--verify-args``). The Invoke task of an
operation is generated from its request (``akops.tasks.common.operation``); ``checks/``'
pytest options and the runbook's check-step flags are read from ``VerifyRequest``; the
library takes the request itself.

Introspection (the task and flag reference is generated from it)::

    for task, request in REQUESTS.items():
        for f in request.flags():
            f.flag, f.help, f.kind, f.default, f.repeatable, f.positional, f.required

A new flag is one field here; the task, its ``--help``, the checks' options and the
runbook's step flags follow. Requests compare by identity (``eq=False``): ``invoke --list``
imports this module, and every generated ``__eq__`` is import time spent for nothing.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

from akops.cli import (
    Request,
    bytes_size,
    flags_in,
    named,
    one_of,
    option,
    output_dir,
    output_file,
    secs,
    text,
    whole,
)
from akops.errors import InputError

#: A runbook check step may set this flag in its ``args`` (where a check looks).
CHECK_STEP = "check-step"
#: A runbook run's ``--verify-args`` may set this flag for every check step.
VERIFY_ARGS = "verify-args"
#: ``pytest checks`` takes this flag too (the options of ``checks/conftest.py``).
CHECKS = "checks"

ENV_HELP = "environment name (a file in environments/); required, or set AKOPS_ENV"
RUNBOOKS_HELP = "directory to read runbooks from (default: runbooks/)"
LINT_FORMATS = ("text", "json", "sarif", "junit")
LIST_WORDS = ("--list", "-l")


# --- fields several operations share: one declaration each ------------------------------


def environment(help: str = ENV_HELP) -> Any:
    """``--env``: which environment; ``kind="environment"`` fields fall back to AKOPS_ENV."""
    return option(help, default="", kind="environment", groups=(CHECKS,))


def context(
    help: str = "kube context to use instead of the environment's kube.context (explicit override)",
    groups: tuple[str, ...] = (),
) -> Any:
    return option(help, groups=groups)


def yes(help: str) -> Any:
    return option(help, default=False)


def dry_run(help: str) -> Any:
    return option(help, default=False)


def skip_helm(
    help: str = "leave the Authentik Helm release alone (objects only; no helm needed)",
) -> Any:
    return option(help, default=False)


def force_conflicts(
    help: str = "take ownership of fields another field manager owns (server-side apply force)",
) -> Any:
    return option(help, default=False)


def allow_dirty() -> Any:
    return option(
        "let a protected environment take a change from a git tree with uncommitted changes",
        default=False,
    )


def runbooks() -> Any:
    return option(RUNBOOKS_HELP, default="")


def runbook_name() -> Any:
    return option(
        "runbook name (a file in runbooks/ without .yaml)", parse=named("runbook"), positional=True
    )


# --- render, lint --------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, eq=False)
class RenderRequest(Request):
    """Render templates/ for an environment into manifests/ENV/."""

    env: str = environment()
    check: bool = option(
        "render in memory and exit 1 with a diff if manifests/ENV differs", default=False
    )
    dry_run: bool = dry_run("show the diff a render would write, and write nothing")


@dataclass(frozen=True, kw_only=True, eq=False)
class LintRequest(Request):
    """Lint a rendered environment or files."""

    env: str = option(
        ENV_HELP + "; lints what `invoke render` produces for it, with its waivers", default=""
    )
    path: tuple[str, ...] = option(
        "file or directory to lint instead: manifests, chart values, pgbouncer.ini (repeatable)",
        repeatable=True,
    )
    values: tuple[str, ...] = option(
        "with --path: a file to judge as Authentik chart values whatever its keys (repeatable)",
        repeatable=True,
    )
    format: str = option(
        "text (path:line:col: severity rule message, the default), json, sarif or junit",
        default="text",
        parse=one_of(*LINT_FORMATS),
        kind="choice",
    )
    kube_version: str = option(
        "Kubernetes version of the schemas for --path (default 1.33)", default=""
    )
    chart_version: str = option(
        "Authentik chart version whose keys --path checks (default: the one a rendered values "
        "file's header names, else the newest bundled)",
        default="",
    )
    max_connections: int | None = option(
        "PostgreSQL max_connections for the capacity rule with --path",
        parse=whole(minimum=1),
        kind="count",
    )
    strict_kinds: bool = option(
        "a kind without a schema (a custom resource) is an error, not a warning", default=False
    )
    waivers: str = option(
        "with --path: a YAML file of waivers (a list of {rule, object, reason}, as in an "
        "environment's lint.waivers)",
        default="",
    )
    no_cache: bool = option(
        "do not read or write lint's caches (yamllint and per-file results, under "
        "$XDG_CACHE_HOME/akops)",
        default=False,
    )
    list_rules: bool = option("list every rule (ID, severity, title) and exit", default=False)
    explain: str = option(
        "explain one rule (what it catches, how to fix it, why) and exit", default=""
    )
    require_promtool: bool = option(
        "exit 2 if promtool is not on PATH (default: skip its check, say so)", default=False
    )
    verbose: bool = option(
        "text: also list the waived findings, each with its reason (json, sarif and junit "
        "always hold them)",
        default=False,
    )


# --- verify --------------------------------------------------------------------------------

#: ``--only``/``--skip`` help; the task appends the registry's check IDs.
CHECK_ID_HELP = "check ID (glob allowed, e.g. 'http.*')"
#: Where a check looks: flags a runbook check step may set, and ``pytest checks`` takes.
_LOOKS = (CHECK_STEP, VERIFY_ARGS, CHECKS)


@dataclass(frozen=True, kw_only=True, eq=False)
class VerifyRequest(Request):
    """Verify the stack: which checks, where they look, how long they may take."""

    env: str = environment()
    target: str = option(
        "cluster (pods via the kube context) or local (services on this machine)",
        default="cluster",
        parse=one_of("cluster", "local"),
        kind="choice",
        groups=(VERIFY_ARGS, CHECKS),
    )
    context: str | None = context(
        "kube context to use instead of the environment's kube.context",
        groups=(VERIFY_ARGS, CHECKS),
    )
    only: tuple[str, ...] = option(
        "run only this " + CHECK_ID_HELP, repeatable=True, groups=(CHECKS,)
    )
    skip: tuple[str, ...] = option("skip this " + CHECK_ID_HELP, repeatable=True, groups=(CHECKS,))
    json: str | None = option(
        "also write the report as JSON to this path", parse=output_file(parents=True)
    )
    junit: str | None = option(
        "also write the report as JUnit XML to this path", parse=output_file(parents=True)
    )
    url: str | None = option("Authentik base URL (local default: verify.local.url)", groups=_LOOKS)
    outpost_url: str | None = option(
        "outpost base URL for the ping (local default: verify.local.outpost_url)", groups=_LOOKS
    )
    pgbouncer: str | None = option(
        "PgBouncer HOST:PORT reachable from here (db checks; local port checks)", groups=_LOOKS
    )
    shm: str | None = option(
        "tmpfs path whose usage is checked locally (default: verify.local.shm)", groups=_LOOKS
    )
    #: None: the environment's list; () (from the library only): no protected service
    protected: tuple[str, ...] | None = option(
        "URL of a service behind forward auth (replaces the environment's list); repeatable",
        default=None,
        repeatable=True,
        groups=_LOOKS,
    )
    timeout: float | None = option(
        "seconds per check (default: verify.check_timeout)",
        parse=secs(),
        kind="seconds",
        groups=_LOOKS,
    )
    deadline: float | None = option(
        "seconds convergence checks retry (default: verify.convergence_deadline)",
        parse=secs(allow_zero=True),
        kind="seconds",
        groups=_LOOKS,
    )
    run_timeout: float | None = option(
        "seconds the whole run may take; checks unfinished by then are reported as such "
        "(default: every check's own budget, wave after wave)",
        parse=secs(),
        kind="seconds",
    )
    workers: int | None = option(
        "most checks run at once (default: one per pod, URL, API read or query, at most 256; "
        "up to 1024)",
        parse=whole(minimum=1, maximum=1024),
        kind="count",
    )
    prometheus: str | None = option(
        "Prometheus base URL whose firing alerts alerts.firing reads (default: "
        "monitoring.prometheus_url)",
        groups=_LOOKS,
    )


def verify_argv(flag: str, raw: str) -> tuple[str, ...]:
    """``--verify-args '--target local --url U'``: verify's words, each flag one a runbook run
    may set (``VERIFY_ARGS``) with a value its parser takes."""
    try:
        words = tuple(shlex.split(text(flag, raw)))
    except ValueError as e:
        raise InputError(f"{flag} {raw!r}: {e}") from e
    VerifyRequest.from_argv(words, group=VERIFY_ARGS, where=flag)
    return words


# --- changing the cluster ------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, eq=False)
class _OnCluster(Request):
    """An operation on an environment's cluster: which environment, through which context."""

    env: str = environment()
    context: str | None = context()


@dataclass(frozen=True, kw_only=True, eq=False)
class PlanRequest(_OnCluster):
    """What apply would change (server-side dry run)."""

    skip_helm: bool = skip_helm()
    force_conflicts: bool = force_conflicts("plan as if applying with --force-conflicts")
    verbose: bool = option("also list unchanged objects", default=False)
    detailed_exitcode: bool = option(
        "Terraform's CI gate: exit 0 no changes, 2 changes, 1 any error", default=False
    )
    out: str = option(
        "also write the plan to FILE (JSON; secret values only as salted hashes) for "
        "`invoke apply --plan FILE`",
        default="",
        parse=output_file(),
    )
    format: str = option(
        "text (the default) or json (the saved plan's structure, on stdout)",
        default="text",
        parse=one_of("text", "json"),
        kind="choice",
    )


@dataclass(frozen=True, kw_only=True, eq=False)
class _Change(_OnCluster):
    """What every change of the stack's objects takes (apply and deploy)."""

    yes: bool = yes("apply without asking (required when stdin is not a terminal)")
    force_conflicts: bool = force_conflicts()
    prune: bool = option("delete objects of ours that are no longer rendered", default=False)
    skip_helm: bool = skip_helm()
    dry_run: bool = dry_run("render, lint and plan only; change nothing")
    allow_dirty: bool = allow_dirty()


@dataclass(frozen=True, kw_only=True, eq=False)
class DeployRequest(_Change):
    """render → lint → plan → confirm → apply → rollout → verify."""


@dataclass(frozen=True, kw_only=True, eq=False)
class ApplyRequest(_Change):
    """Show the plan, confirm, apply; or apply exactly a saved plan."""

    # A field declared again keeps its place (and short flag); only its declaration changes.
    #: not of kind environment: with --plan FILE it defaults to the plan's environment
    env: str = option(ENV_HELP, default="", groups=(CHECKS,))
    prune: bool = option(
        "delete objects of ours that are no longer rendered (planned as destroy)", default=False
    )
    dry_run: bool = dry_run("show the plan and stop; change nothing")
    plan: str = option(
        "apply exactly this saved plan (`invoke plan --out FILE`); refuses if anything moved since",
        default="",
    )


@dataclass(frozen=True, kw_only=True, eq=False)
class RollbackRequest(_OnCluster):
    """PgBouncer and the Helm release one revision back."""

    yes: bool = yes("roll back without asking (required when stdin is not a terminal)")
    skip_helm: bool = skip_helm("roll back PgBouncer only; leave the Helm release alone")
    force_config: bool = option(
        "roll back even though pgbouncer.ini changed since that revision", default=False
    )
    dry_run: bool = dry_run("show the revisions it would roll back to; change nothing")


@dataclass(frozen=True, kw_only=True, eq=False)
class RolloutRequest(_OnCluster):
    """Watch the stack's Deployments converge."""

    deployment: tuple[str, ...] = option(
        "wait for this Deployment only (repeatable; default: every Deployment of the stack)",
        repeatable=True,
    )


@dataclass(frozen=True, kw_only=True, eq=False)
class OutpostPatchRequest(_OnCluster):
    """The outpost's kubernetes_json_patches, sent to Authentik."""

    context: str | None = context(
        "kube context to use instead of the environment's kube.context (explicit override) "
        "(for the deploy lock)"
    )
    yes: bool = yes("send without asking (required when stdin is not a terminal)")
    dry_run: bool = dry_run("show the diff of the outpost's patches; send nothing")
    allow_dirty: bool = allow_dirty()


@dataclass(frozen=True, kw_only=True, eq=False)
class UnlockRequest(_OnCluster):
    """Who holds the deploy lock; break it."""

    yes: bool = yes("break the lock without asking (required when stdin is not a terminal)")
    dry_run: bool = dry_run("show who holds the lock; change nothing")


# --- runbooks ------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, eq=False)
class RunbookListRequest(Request):
    """List (or validate) the runbooks."""

    check: bool = option(
        "validate every runbook (schema, checks and tasks it names, rendering); exit 1 on problems",
        default=False,
    )
    runbooks: str = runbooks()
    format: str = option(
        "table (at a terminal; one tab-separated line per runbook when piped) or json",
        default="table",
        parse=one_of("table", "json"),
        kind="choice",
    )
    alert: str = option("only the runbooks this alert points to (exit 1 if none)", default="")


@dataclass(frozen=True, kw_only=True, eq=False)
class RunbookShowRequest(Request):
    """One runbook as Markdown."""

    name: str = runbook_name()
    env: str = option(
        "render the commands for this environment (default: show the templates)", default=""
    )
    runbooks: str = runbooks()


@dataclass(frozen=True, kw_only=True, eq=False)
class RunbookRunRequest(Request):
    """Run a runbook against an environment."""

    name: str = runbook_name()
    env: str = environment(ENV_HELP + "; required")
    yes: bool = yes("answer yes to every confirmation (decisions take their default answer)")
    dry_run: bool = dry_run(
        "walk the whole runbook: run the read-only steps, record failures and go on, show the "
        "rest; ends with a summary"
    )
    resume: bool = option(
        "continue the last stopped run of this runbook on ENV from the step it stopped at",
        default=False,
    )
    input: tuple[str, ...] = option(
        "runbook input NAME=VALUE (repeatable); see `invoke runbook.show NAME`", repeatable=True
    )
    skip: tuple[str, ...] = option(
        "step ID to skip, recorded in the transcript (repeatable)", repeatable=True
    )
    answer: tuple[str, ...] = option(
        "answer step STEP's question in advance: STEP=CHOICE (repeatable; needed for a decision "
        "when no terminal is there)",
        repeatable=True,
    )
    from_: str = option(
        "start at step STEP (the steps before it are recorded as skipped)", default=""
    )
    verify_args: tuple[str, ...] = option(
        f"verify flags for every check step ({', '.join(f.flag for f in flags_in(VerifyRequest, VERIFY_ARGS))}), "
        "e.g. '--target local ...'",
        default=(),
        parse=verify_argv,
        kind="flags",
    )
    runs_dir: str = option(
        "where transcripts go (default: the environment's runs_dir, runs/)", default=""
    )
    runbooks: str = runbooks()


# --- rehearse, images, chart ---------------------------------------------------------------

# The range of each flag a rehearsal takes over the environment, read before anything starts.
#: PostgreSQL refuses fewer than its reserved connections plus one; MAX_BACKENDS above.
MAX_CONNECTIONS = (4, 262_143)
#: Each replica is a real PgBouncer process on this machine.
PGBOUNCER_REPLICAS_MAX = 32
#: The outpost's /dev/shm before the scenario's size factor divides it: 1Mi..1Ti.
SHM_SIZE = (1024 * 1024, 1024**4)


@dataclass(frozen=True, kw_only=True, eq=False)
class RehearseRequest(Request):
    """Replay an incident on real services and run its runbook."""

    scenario: str = option(
        "scenario name (a file in rehearsals/ without .yaml); --list lists them",
        parse=named("scenario", also=LIST_WORDS),
        positional=True,
    )
    env: str = environment()
    json: str = option(
        "also write the report as JSON to this path", default="", parse=output_file()
    )
    out: str = option(
        "directory for the report, plot and runbook transcript (default: runs/rehearsals/...)",
        default="",
        parse=output_dir,
    )
    pgbouncer_ini: str = option(
        "run PgBouncer from this pgbouncer.ini instead of the rendered one", default=""
    )
    shm_size: str = option(
        "outpost /dev/shm size instead of the rendered patch's (64Mi: no patch)",
        default="",
        parse=bytes_size(minimum=SHM_SIZE[0], maximum=SHM_SIZE[1]),
    )
    max_connections: int | None = option(
        "PostgreSQL max_connections instead of the environment's",
        parse=whole(minimum=MAX_CONNECTIONS[0], maximum=MAX_CONNECTIONS[1]),
        kind="count",
    )
    pgbouncer_replicas: int | None = option(
        "PgBouncer replicas instead of the environment's",
        parse=whole(minimum=1, maximum=PGBOUNCER_REPLICAS_MAX),
        kind="count",
    )
    act: tuple[str, ...] = option("run only this act of the scenario (repeatable)", repeatable=True)

    @property
    def listing(self) -> bool:
        """``invoke rehearse --list``: Invoke hands ``--list`` typed there to SCENARIO."""
        return self.scenario in LIST_WORDS

    def needs_env(self) -> bool:
        return not self.listing


REGISTRY_TIMEOUT = "seconds each registry gets to answer for one image (default 10)"


@dataclass(frozen=True, kw_only=True, eq=False)
class ImagesPinRequest(Request):
    """Pin every image's tag to its registry digest."""

    env: str = environment()
    dry_run: bool = dry_run("show the changes to the environment file and write nothing")
    timeout: float = option(REGISTRY_TIMEOUT, default=10.0, parse=secs(), kind="seconds")


@dataclass(frozen=True, kw_only=True, eq=False)
class ImagesCheckRequest(Request):
    """Report pinned tags whose registry digest moved."""

    env: tuple[str, ...] = option(
        "environment to check (repeatable; default: every environment)", repeatable=True
    )
    timeout: float = option(REGISTRY_TIMEOUT, default=10.0, parse=secs(), kind="seconds")


@dataclass(frozen=True, kw_only=True, eq=False)
class ChartPullRequest(Request):
    """Pull the environment's pinned chart into the cache."""

    env: str = environment()
    dry_run: bool = dry_run(
        "say what would be pulled and whether it is cached already; pull nothing"
    )
    #: akops.chart.PULL_TIMEOUT (a test holds the two equal)
    timeout: float = option(
        "seconds the chart repository gets for each step: the index, then helm pull (default 120)",
        default=120.0,
        parse=secs(),
        kind="seconds",
    )


# --- the local control plane --------------------------------------------------------------

PLANE_DIR_HELP = "the plane's folder (default: <akops cache>/cluster/akops-local)"


@dataclass(frozen=True, kw_only=True, eq=False)
class ClusterUpRequest(Request):
    """Start a real Kubernetes control plane on this machine."""

    dir: str = option(PLANE_DIR_HELP, default="")
    merge: bool = option(
        "add the akops-local context to your kubeconfig (KUBECONFIG's first file, else "
        "~/.kube/config); --no-merge leaves that file alone",
        default=True,
    )
    dry_run: bool = dry_run("say where the programs come from and what would start; start nothing")


@dataclass(frozen=True, kw_only=True, eq=False)
class ClusterDownRequest(Request):
    """Stop the local control plane."""

    dir: str = option(PLANE_DIR_HELP, default="")
    dry_run: bool = dry_run("say what would be stopped; stop nothing")


#: Every task's request, by task name: the reference documentation iterates this.
REQUESTS: dict[str, type[Request]] = {
    "render": RenderRequest,
    "lint": LintRequest,
    "verify": VerifyRequest,
    "plan": PlanRequest,
    "apply": ApplyRequest,
    "deploy": DeployRequest,
    "rollback": RollbackRequest,
    "rollout": RolloutRequest,
    "outpost-patch": OutpostPatchRequest,
    "unlock": UnlockRequest,
    "runbook.list": RunbookListRequest,
    "runbook.show": RunbookShowRequest,
    "runbook.run": RunbookRunRequest,
    "rehearse": RehearseRequest,
    "images.pin": ImagesPinRequest,
    "images.check": ImagesCheckRequest,
    "chart.pull": ChartPullRequest,
    "cluster.up": ClusterUpRequest,
    "cluster.down": ClusterDownRequest,
}
