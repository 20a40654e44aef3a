"""Step templates: ``{{ env.kube.namespace }}``, ``{{ inputs.node }}``, ``{{ vars.ghost_pids }}``.

Rule: pure. Templates render in a sandbox with strict undefined names, one string at
a time: a command stays an argv list (one template per argument, never a shell
string). Secrets are not in the context: they reach a command only through its
``secret_env``. Errors name the runbook file, line and field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from akops.environment import Environment
from akops.errors import RunbookError
from akops.runbook.schema import RunbookDoc
from akops.yamldoc import PathKey

_JINJA = ImmutableSandboxedEnvironment(
    undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False
)

FALSE_WORDS = frozenset({"", "false", "no", "0", "none"})


@dataclass(frozen=True)
class Context:
    """What a template can see."""

    env: Environment
    inputs: Mapping[str, str] = field(default_factory=dict)
    vars: Mapping[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {"env": self.env, "inputs": dict(self.inputs), "vars": dict(self.vars)}

    def with_var(self, name: str, value: str) -> Context:
        return Context(self.env, self.inputs, {**self.vars, name: value})


def render(text: str, ctx: Context, rb: RunbookDoc, path: PathKey) -> str:
    """Render one template string; errors point at the runbook field it came from."""
    try:
        return _JINJA.from_string(text).render(ctx.as_dict())
    except jinja2.UndefinedError as e:
        raise rb.error(path, f"undefined in template: {e.message}") from e
    except jinja2.TemplateError as e:
        raise rb.error(path, f"template error: {e}") from e


def truthy(text: str) -> bool:
    """Whether a rendered ``when`` lets its step run."""
    return text.strip().lower() not in FALSE_WORDS


def resolve_inputs(
    rb: RunbookDoc, given: Mapping[str, str], env: Environment, check: bool = True
) -> dict[str, str]:
    """Given values plus rendered defaults; unknown, missing or malformed inputs are errors.

    ``check=False`` skips the patterns (for previews that stand in ``<name>`` for a value).
    """
    runbook = rb.runbook
    declared = {i.name for i in runbook.inputs}
    unknown = sorted(set(given) - declared)
    if unknown:
        known = ", ".join(sorted(declared)) or "none"
        raise RunbookError(
            f"{rb.source}: unknown input(s) {', '.join(unknown)} for runbook {runbook.name!r} "
            f"(it declares: {known})"
        )
    values: dict[str, str] = {}
    for i, inp in enumerate(runbook.inputs):
        if inp.name in given:
            value = given[inp.name]
        elif inp.default is not None:
            value = render(inp.default, Context(env, values), rb, ("inputs", i, "default"))
        else:
            raise RunbookError(
                f"{rb.where(('inputs', i))}: runbook {runbook.name!r} needs "
                f"--input {inp.name}=VALUE ({inp.description})"
            )
        if check and inp.pattern is not None and not re.fullmatch(inp.pattern, value):
            raise RunbookError(
                f"input {inp.name}={value!r} does not match {inp.pattern!r} "
                f"({rb.where(('inputs', i, 'pattern'))})"
            )
        values[inp.name] = value
    return values


def parse_assignments(items: list[str], flag: str) -> dict[str, str]:
    """``["a=1", "b=2"]`` → ``{"a": "1", "b": "2"}``; a malformed item is an error."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise RunbookError(f"{flag} {item!r}: expected NAME=VALUE")
        out[key.strip()] = value
    return out
