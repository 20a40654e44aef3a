"""Runbook lint: references to checks, tasks and programs that exist, and templates that render.

Rule: pure given the catalogues it is handed (check IDs, task names with their
flags, environments). ``known_checks`` and ``tasks_of`` build those catalogues from
``akops.verify`` and an Invoke collection, importing them only when asked.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from akops.environment import Environment
from akops.errors import AkopsError
from akops.runbook import commands, markdown
from akops.runbook.schema import RunbookDoc
from akops.runbook.template import render

TaskCatalogue = Mapping[str, frozenset[str]]


def known_checks() -> frozenset[str]:
    """Check IDs from the verify registry (``akops.verify.registry``)."""
    from akops.verify.registry import IDS

    return frozenset(IDS)


def check_needs() -> dict[str, frozenset[str]]:
    """The ``invoke verify`` flags each check needs to be evaluated on the cluster target."""
    from akops.verify.registry import REGISTRY

    return {check.id: frozenset(check.needs) for check in REGISTRY if check.needs}


def tasks_of(collection: Any) -> dict[str, frozenset[str]]:
    """Every task of an Invoke collection (dotted names) with the long flags it accepts."""
    out: dict[str, frozenset[str]] = {}
    for name in collection.task_names:
        task = collection[name]
        flags = set()
        for arg in task.get_arguments():
            for n in arg.names:
                flags.add(n.replace("_", "-"))
        out[name] = frozenset(flags)
    return out


def problems(
    rb: RunbookDoc,
    checks: Collection[str],
    tasks: TaskCatalogue,
    envs: Iterable[Environment],
    programs: Collection[str] = commands.PROGRAMS,
    needs: Mapping[str, Collection[str]] | None = None,
) -> list[str]:
    """Everything wrong with ``rb`` beyond its schema, one line each (file:line: field: what).

    ``needs``: flags a check step must pass so that the check is evaluated, not skipped
    (default: from the verify registry)."""
    out: list[str] = []
    needs = check_needs() if needs is None else needs

    def add(path: tuple[str | int, ...], message: str) -> None:
        out.append(str(rb.error(path, message)))

    for i, step in enumerate(rb.runbook.steps):
        if step.check is not None and step.check not in checks:
            add(
                ("steps", i, "check"),
                f"unknown check {step.check!r} (known: {', '.join(sorted(checks))})",
            )
        if step.check is not None:
            given = set(step.args[::2])
            for flag in sorted(set(needs.get(step.check, ())) - given):
                add(
                    ("steps", i, "check"),
                    f"{step.check} is skipped on the cluster without {flag}: pass it in 'args' "
                    "(e.g. after a port-forward step)",
                )
            verify_flags = tasks.get("verify")
            for j, arg in enumerate(step.args[::2]):
                if verify_flags is not None and arg[2:] not in verify_flags:
                    add(("steps", i, "args", 2 * j), f"task 'verify' has no flag {arg}")
        if step.task is not None:
            if step.task not in tasks:
                add(
                    ("steps", i, "task"),
                    f"unknown task {step.task!r} (known: {', '.join(sorted(tasks))})",
                )
            else:
                flags = tasks[step.task]
                if "env" not in flags:
                    add(
                        ("steps", i, "task"),
                        f"task {step.task!r} takes no --env, which every runbook task gets",
                    )
                for j, arg in enumerate(step.args):
                    if arg.startswith("--"):
                        flag = arg[2:].partition("=")[0]
                        if flag.startswith("no-") and flag[3:] in flags:
                            continue
                        if flag not in flags:
                            add(("steps", i, "args", j), f"task {step.task!r} has no flag --{flag}")
                        if flag == "env":
                            add(
                                ("steps", i, "args", j),
                                "--env is passed by the runner; drop it here",
                            )
        if step.command is not None and step.command[0] not in programs:
            add(
                ("steps", i, "command", 0),
                f"a command step runs {' or '.join(sorted(programs))}, not {step.command[0]!r} "
                "(use a task for anything else)",
            )
        if step.command is not None and not step.changing:
            why = commands.changes_cluster(step.command)
            if why is not None:
                add(("steps", i, "changes"), f"{why}: a step that does must say 'changes: true'")
    for env in envs:
        try:
            ctx = markdown.preview_context(rb, env)
            markdown.runbook(rb, env)
            for i, step in enumerate(rb.runbook.steps):
                if step.when is not None:
                    render(step.when, ctx, rb, ("steps", i, "when"))
        except AkopsError as e:
            out.append(f"{e} (environment {env.name})")
    return out
