"""What each step runs: the argv of a check, a task or a command step.

Rule: pure. A check runs ``invoke verify --env ENV --only ID`` plus its own flags
(``args``, e.g. ``--pgbouncer``) and the run's target flags (``--verify-args``, which
win over a step's flag of the same name), a task runs ``invoke TASK --env ENV ARGS``, a command runs its own
argv with each argument rendered as a template. Always a list, never a shell string.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence

from akops.runbook.schema import RunbookDoc, Step
from akops.runbook.template import Context, render

#: The programs a command step may run (the repository's runbooks are held to this by lint).
PROGRAMS: frozenset[str] = frozenset({"kubectl", "psql"})
INVOKE = "invoke"

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
