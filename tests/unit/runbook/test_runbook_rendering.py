"""Templates, argv building, Markdown and reference validation: pure functions, tested directly."""

from __future__ import annotations

import shlex
from datetime import UTC, datetime

import pytest

from akops.environment import Environment, load_environment
from akops.errors import RunbookError
from akops.layout import Layout
from akops.runbook import commands, markdown
from akops.runbook.schema import RunbookDoc, parse
from akops.runbook.template import Context, parse_assignments, resolve_inputs, truthy
from akops.runbook.transcript import Attempt, StepRecord, Transcript
from akops.runbook.validation import known_checks, problems

TEXT = """
title: Sample
summary: for tests
when: {symptoms: [x], alerts: [PgBouncerDown]}
inputs:
  - {name: node, description: a node, pattern: '^[a-z0-9-]+$'}
  - {name: ns, description: namespace, default: "{{ env.kube.namespace }}"}
steps:
  - id: get
    title: Pods on {{ inputs.node }}
    why: look at {{ env.name }}
    command: [kubectl, --context, "{{ env.kube.context }}", -n, "{{ inputs.ns }}", get, pods,
              --field-selector, "spec.nodeName={{ inputs.node }}"]
    changes: false
    on_failure: check {{ env.kube.context }}
  - id: check
    title: Ready
    why: health
    check: http.ready
    on_failure: f
  - id: plan
    title: Plan
    why: diff
    task: plan
    args: [--verbose]
    changes: false
    success_codes: [0, 2]
    on_failure: f
  - id: kill
    title: Kill
    why: capture then act
    command: [psql, -c, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid IN ({{ vars.pids }})"]
    changes: true
    when: "{{ vars.pids }}"
    on_failure: f
  - id: find
    title: Find
    why: capture
    command: [psql, -At, -c, "SELECT 1"]
    capture: {name: pids}
    changes: false
    on_failure: f
"""


@pytest.fixture(scope="module")
def env(layout: Layout) -> Environment:
    return load_environment("prod", layout.environments)


@pytest.fixture
def rb() -> RunbookDoc:
    return parse(TEXT, "runbooks/sample.yaml", "sample")


TASKS = {"plan": frozenset({"env", "verbose", "context"}), "verify": frozenset({"env", "only"})}


def test_inputs_resolve_defaults_from_the_environment(rb: RunbookDoc, env: Environment) -> None:
    assert resolve_inputs(rb, {"node": "k8s-node2"}, env) == {
        "node": "k8s-node2",
        "ns": "authentik",
    }


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({}, r"runbooks/sample.yaml:6: runbook 'sample' needs --input node=VALUE \(a node\)"),
        ({"node": "x; rm -rf /"}, r"input node='x; rm -rf /' does not match"),
        ({"node": "a", "nope": "1"}, r"unknown input\(s\) nope .*declares: node, ns"),
    ],
)
def test_bad_inputs(rb: RunbookDoc, env: Environment, given: dict[str, str], message: str) -> None:
    with pytest.raises(RunbookError, match=message):
        resolve_inputs(rb, given, env)


def test_assignments() -> None:
    assert parse_assignments(["a=1", "b=x=y"], "--input") == {"a": "1", "b": "x=y"}
    with pytest.raises(RunbookError, match="--input 'a': expected NAME=VALUE"):
        parse_assignments(["a"], "--input")


def test_argv_per_kind(rb: RunbookDoc, env: Environment) -> None:
    ctx = Context(env, {"node": "n1", "ns": "authentik"}, {"pids": "1,2"})
    steps = rb.runbook.steps
    assert commands.argv(steps[0], 0, ctx, rb) == [
        "kubectl",
        "--context",
        "kubernetes-admin@kubernetes",
        "-n",
        "authentik",
        "get",
        "pods",
        "--field-selector",
        "spec.nodeName=n1",
    ]
    assert commands.argv(steps[1], 1, ctx, rb, ("--target", "local")) == [
        "invoke",
        "verify",
        "--env",
        "prod",
        "--only",
        "http.ready",
        "--target",
        "local",
    ]
    assert commands.argv(steps[2], 2, ctx, rb) == ["invoke", "plan", "--env", "prod", "--verbose"]
    assert "pid IN (1,2)" in commands.argv(steps[3], 3, ctx, rb)[-1]  # type: ignore[index]


CHECK_WITH_ARGS = """
title: Pool
summary: for tests
when: {symptoms: [x]}
inputs:
  - {name: port, description: local port, default: "16432"}
steps:
  - id: pool
    title: Pool
    why: w
    check: db.pool-waiting
    args: [--pgbouncer, "127.0.0.1:{{ inputs.port }}", --timeout, "5"]
    on_failure: f
"""


def test_a_check_step_passes_its_flags_and_the_runs_flags_win(env: Environment) -> None:
    rb = parse(CHECK_WITH_ARGS, "runbooks/pool.yaml", "pool")
    step = rb.runbook.steps[0]
    ctx = Context(env, {"port": "15999"})
    head = ["invoke", "verify", "--env", "prod", "--only", "db.pool-waiting"]
    assert commands.argv(step, 0, ctx, rb) == [*head, "--pgbouncer", "127.0.0.1:15999",
                                                "--timeout", "5"]  # fmt: skip
    # `invoke verify` refuses a flag given twice: the operator's --verify-args replace the step's
    run = ("--target", "local", "--pgbouncer=127.0.0.1:7000")
    assert commands.argv(step, 0, ctx, rb, run) == [*head, "--timeout", "5", *run]
    assert commands.raw_argv(step) == [
        "invoke", "verify", "--env", "{{ env.name }}", "--only", "db.pool-waiting",
        "--pgbouncer", "127.0.0.1:{{ inputs.port }}", "--timeout", "5",
    ]  # fmt: skip
    assert "--only db.pool-waiting --pgbouncer 127.0.0.1:16432" in markdown.runbook(rb, env)


def test_a_check_that_needs_an_address_must_be_given_one(env: Environment) -> None:
    text = CHECK_WITH_ARGS.replace('--pgbouncer, "127.0.0.1:{{ inputs.port }}", ', "")
    rb = parse(text, "runbooks/pool.yaml", "pool")
    found = problems(rb, known_checks(), TASKS, [env])
    assert found == [
        "runbooks/pool.yaml:11: steps[0].check: db.pool-waiting is skipped on the cluster without "
        "--pgbouncer: pass it in 'args' (e.g. after a port-forward step)",
        "runbooks/pool.yaml:12: steps[0].args[0]: task 'verify' has no flag --timeout",
    ]
    good = parse(CHECK_WITH_ARGS, "runbooks/pool.yaml", "pool")
    verify = {"verify": frozenset({"env", "only", "pgbouncer", "timeout"})}
    assert problems(good, known_checks(), verify, [env]) == []


def test_a_value_with_shell_syntax_stays_one_argument(rb: RunbookDoc, env: Environment) -> None:
    hostile = "n1 $(reboot); `id` | tee"
    args = commands.argv(rb.runbook.steps[0], 0, Context(env, {"node": hostile, "ns": "a"}), rb)
    assert args is not None and args[-1] == f"spec.nodeName={hostile}"
    assert shlex.split(commands.display(args)) == args  # the display is copy-pasteable


def test_an_undefined_name_points_at_the_field(rb: RunbookDoc, env: Environment) -> None:
    with pytest.raises(
        RunbookError, match=r"runbooks/sample.yaml:\d+: steps\[3\].command\[2\]: undefined"
    ):
        commands.argv(rb.runbook.steps[3], 3, Context(env, {}, {}), rb)


def test_truthy() -> None:
    assert truthy("12,34") and not truthy("") and not truthy(" False ") and not truthy("none")


def test_markdown_without_env_shows_templates(rb: RunbookDoc) -> None:
    md = markdown.runbook(rb)
    assert md.startswith("# Sample\n")
    assert "Alerts that point here: `PgBouncerDown`." in md
    assert "### 1. Pods on {{ inputs.node }}" in md
    assert "--context {{ env.kube.context }}" in md
    assert "**changes something — asks first**" in md
    assert "Runs only when `vars.pids` is not empty." in md
    assert "Keeps its output as `vars.pids`." in md
    assert "Passes with exit code 0, 2." in md


def test_markdown_with_env_renders_commands(rb: RunbookDoc, env: Environment) -> None:
    md = markdown.runbook(rb, env)
    assert "kubectl --context kubernetes-admin@kubernetes -n authentik get pods" in md
    assert "invoke runbook.run sample --env prod" in md
    assert "<pids from step find>" in md  # captured values are stand-ins before a run
    assert "**If it fails:** check kubernetes-admin@kubernetes" in md


def test_references_are_checked(rb: RunbookDoc, env: Environment) -> None:
    assert problems(rb, known_checks(), TASKS, [env]) == []
    found = problems(rb, {"http.live"}, {"verify": frozenset({"env"})}, [env], programs={"kubectl"})
    text = "\n".join(found)
    assert "runbooks/sample.yaml:19: steps[1].check: unknown check 'http.ready'" in text
    assert "steps[2].task: unknown task 'plan'" in text
    assert "steps[3].command[0]: a command step runs kubectl, not 'psql'" in text


def test_task_flags_are_checked(env: Environment) -> None:
    text = TEXT.replace("args: [--verbose]", "args: [--verbos, --env, prod]")
    rb = parse(text, "runbooks/sample.yaml", "sample")
    found = "\n".join(problems(rb, known_checks(), TASKS, [env]))
    assert "task 'plan' has no flag --verbos" in found
    assert "--env is passed by the runner" in found


def test_a_template_that_does_not_render_for_an_environment_is_a_problem(env: Environment) -> None:
    rb = parse(TEXT.replace("{{ env.kube.context }}", "{{ env.kube.contxt }}", 1), "r.yaml", "r")
    found = problems(rb, known_checks(), TASKS, [env])
    assert any("undefined in template" in p and "(environment prod)" in p for p in found), found


def test_transcript_markdown_shows_every_attempt() -> None:
    when = datetime(2026, 6, 10, 3, 0, tzinfo=UTC)
    rec = StepRecord(
        step="a",
        title="A",
        kind="command",
        changes=False,
        command=["kubectl", "get", "x y"],
        started=when,
        duration=1.25,
        result="failed",
        exit_code=1,
        output="boom ```",
    )
    t = Transcript(
        run_id="r1",
        runbook="rb",
        title="RB",
        env="prod",
        user="ops",
        host="h",
        revision="abc",
        started=when,
        attempts=[
            Attempt(number=1, started=when, status="failed", steps=[rec]),
            Attempt(
                number=2,
                started=when,
                status="succeeded",
                resumed_from="a",
                steps=[rec.model_copy(update={"result": "passed", "exit_code": 0})],
            ),
        ],
    )
    md = markdown.transcript(t)
    assert "| status | **succeeded** |" in md and "| attempts | 2 |" in md
    assert "## Attempt 1: failed" in md and "## Attempt 2: succeeded" in md
    assert "resumed from step `a`" in md
    assert "kubectl get 'x y'" in md
    assert "````\nboom ```\n````" in md  # output with backticks stays inside its fence
    assert t.attempts[0].stopped_at == "a" and t.attempts[1].stopped_at is None
