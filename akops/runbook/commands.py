"""What each step runs: the argv of a check, a task or a command step.

Rule: pure. A check runs ``invoke verify --env ENV --only ID`` plus its own flags
(``args``, e.g. ``--pgbouncer``) and the run's target flags (``--verify-args``, which
win over a step's flag of the same name), a task runs ``invoke TASK --env ENV ARGS``, a command runs its own
argv with each argument rendered as a template. Always a list, never a shell string.

What a command step may run is decided here too (``refusal``): only a program on the allow-list,
and in a step marked ``changes: false`` never a program that changes the cluster. The runner
applies it to the rendered argv just before the step runs; ``runbook.list --check`` applies it
to the argv as written.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Collection, Sequence

from akops.requests import VERIFY_ARGS, VerifyRequest
from akops.runbook.schema import RunbookDoc, Step
from akops.runbook.template import Context, render

#: The programs a command step may run (the repository's runbooks are held to this by lint).
PROGRAMS: frozenset[str] = frozenset({"kubectl", "psql"})
INVOKE = "invoke"

#: kubectl subcommands that only read (or only talk to a pod); any other changes the cluster.
#: An allow-list, so that a verb kubectl gains tomorrow counts as changing until listed here.
KUBECTL_READ_ONLY: frozenset[str] = frozenset(
    {
        "get", "describe", "logs", "top", "explain", "events", "version", "cluster-info",
        "api-resources", "api-versions", "diff", "wait", "exec", "port-forward",
        "config", "completion",
    }
)  # fmt: skip
#: Read-only forms of kubectl subcommands whose other forms change something.
KUBECTL_READ_ONLY_PAIRS: frozenset[tuple[str, str]] = frozenset(
    {("rollout", "status"), ("rollout", "history"), ("auth", "can-i"), ("auth", "whoami")}
)
_PAIRED = frozenset(verb for verb, _ in KUBECTL_READ_ONLY_PAIRS)
#: kubectl's global flags that take a separate value (``--context X``), so the verb is found.
KUBECTL_VALUE_FLAGS: frozenset[str] = frozenset(
    {
        "--context", "-n", "--namespace", "--kubeconfig", "--cluster", "--user", "-s",
        "--server", "--token", "--as", "--as-group", "--as-uid", "--request-timeout", "-v",
        "--certificate-authority", "--client-certificate", "--client-key", "--tls-server-name",
        "--cache-dir", "--profile", "--profile-output", "--log-flush-frequency", "--vmodule",
        "-o", "--output", "-l", "--selector",
    }
)  # fmt: skip

_WHOLE_TEMPLATE = re.compile(r"^\{\{[^{}]*\}\}$")


def argv(
    step: Step,
    index: int,
    ctx: Context,
    rb: RunbookDoc,
    verify_args: Sequence[str] = (),
) -> list[str] | None:
    """The rendered argv of step ``index``; ``None`` for manual and decision steps."""
    env = ctx.env.name
    args = [render(a, ctx, rb, ("steps", index, "args", j)) for j, a in enumerate(step.args)]
    if step.check is not None:
        return [INVOKE, "verify", "--env", env, "--only", step.check, *_merge(args, verify_args)]
    if step.task is not None:
        return [INVOKE, step.task, "--env", env, *args]
    if step.command is not None:
        return [
            render(a, ctx, rb, ("steps", index, "command", j)) for j, a in enumerate(step.command)
        ]
    return None


def _merge(step_flags: Sequence[str], run_flags: Sequence[str]) -> list[str]:
    """A check step's FLAG VALUE pairs, less those the run's flags set again, then the run's:
    ``invoke verify`` refuses a flag given twice, and the operator's choice wins."""
    given = {a.partition("=")[0] for a in run_flags if a.startswith("--")}
    pairs = zip(step_flags[::2], step_flags[1::2], strict=True)
    kept = [part for flag, value in pairs if flag not in given for part in (flag, value)]
    return [*kept, *run_flags]


def raw_argv(step: Step) -> list[str] | None:
    """The argv with templates left as written (for documentation without an environment)."""
    if step.check is not None:
        return [INVOKE, "verify", "--env", "{{ env.name }}", "--only", step.check, *step.args]
    if step.task is not None:
        return [INVOKE, step.task, "--env", "{{ env.name }}", *step.args]
    if step.command is not None:
        return list(step.command)
    return None


def quote(arg: str) -> str:
    """``shlex.quote``, but SQL with single quotes reads better in double quotes when that is safe."""
    quoted = shlex.quote(arg)
    if quoted == arg or "'" not in arg or any(c in arg for c in '"\\$`!'):
        return quoted
    return f'"{arg}"'


def display(args: Sequence[str]) -> str:
    """A copy-pasteable rendering of ``args`` (whole templates left unquoted for reading)."""
    return " ".join(a if _WHOLE_TEMPLATE.match(a) else quote(a) for a in args)


def kubectl_verb(args: Sequence[str]) -> tuple[str, str] | None:
    """``(verb, next word)`` of a kubectl argv (after its global flags); None if not found."""
    words: list[str] = []
    skip = False
    for arg in args[1:]:
        if skip:
            skip = False
            continue
        if arg == "--":
            break
        if arg.startswith("-"):
            skip = arg in KUBECTL_VALUE_FLAGS
            continue
        words.append(arg)
        if len(words) == 2:
            break
    if not words:
        return None
    return words[0], words[1] if len(words) > 1 else ""


def changes_cluster(args: Sequence[str]) -> str | None:
    """Why ``args`` would change the cluster (``kubectl delete``), or None if it only reads."""
    if not args or args[0].rsplit("/", 1)[-1] != "kubectl":
        return None
    found = kubectl_verb(args)
    if found is None:
        return "kubectl without a subcommand it can recognise"
    verb, sub = found
    if verb in _PAIRED:
        if (verb, sub) in KUBECTL_READ_ONLY_PAIRS:
            return None
        return f"kubectl {verb} {sub} changes the cluster".replace("  ", " ")
    if verb in KUBECTL_READ_ONLY:
        return None
    return f"kubectl {verb} changes the cluster"


def refusal(step: Step, args: Sequence[str], programs: Collection[str] = PROGRAMS) -> str | None:
    """Why a command step must not run ``args`` (its rendered argv), or None if it may.

    Only programs on the allow-list run; a step marked ``changes: false`` never runs a
    program that changes the cluster, whatever its templates rendered to."""
    if step.command is None:
        return None
    if not args or args[0] not in programs:
        program = args[0] if args else "(nothing)"
        return (
            f"{program!r} is not on the runbook allow-list "
            f"({', '.join(sorted(programs))}); use a task for anything else"
        )
    if not step.changing:
        why = changes_cluster(args)
        if why is not None:
            return f"{why}, and step {step.id!r} is marked 'changes: false'"
    return None


def check_request(args: Sequence[str]) -> VerifyRequest:
    """The verify request of a check step's argv (built by ``argv``): its own flags and the
    run's ``--verify-args``, each through ``VerifyRequest``'s parsers; the last of a flag
    given twice wins (the run's come last), ``--protected`` accumulates."""
    assert list(args[:2]) == [INVOKE, "verify"] and args[2] == "--env" and args[4] == "--only"
    return VerifyRequest.from_argv(
        args[6:], group=VERIFY_ARGS, where="check step", given={"env": args[3], "only": [args[5]]}
    )
