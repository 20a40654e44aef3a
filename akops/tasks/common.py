"""What every task module shares: the repository, the environment, exit codes, the deploy lock.

Rule: adapter helpers; the library is imported inside the functions that need it so that
importing a task module (``invoke --list``) stays cheap.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol, TypeVar

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import Task

from akops.cli import Request
from akops.errors import AkopsError
from akops.layout import Layout

#: The config key under which the index records the repository root (``c.config.akops.root``).
CONFIG = "akops"

R = TypeVar("R", bound=Request)
HELP_WORDS = ("--help", "-h")


class Operation(Task[Any]):
    """A task generated from a request (``operation``); knows its dotted name for ``--help``."""

    request: type[Request]
    full_name: str
    helps: Mapping[str, str]


def operation(
    request: type[R],
    *,
    name: str | None = None,
    auto_shortflags: bool = True,
    more_help: Mapping[str, str] | None = None,
    error_code: Callable[[Mapping[str, Any]], int | None] = lambda raw: None,
) -> Callable[[Callable[[Context, R], None]], Operation]:
    """The Invoke task of ``request``: its flags are the request's fields (help, repeatable,
    positional), and the body gets the parsed request. Every value goes through its field's
    parser before the body starts (InputError: one line naming the flag, exit 2); a field of
    kind ``environment`` falls back to AKOPS_ENV. ``more_help`` appends to a field's help;
    ``error_code`` (of the raw flags) replaces every error's exit code, as ``exits`` does.

    Invoke hands ``--help`` typed after a task with a positional argument to that argument;
    the task then prints its help (exit 0) instead of taking "--help" as a name."""
    specs = request.flags()
    helps = {f.name: f.help + (more_help or {}).get(f.name, "") for f in specs}

    def make(body: Callable[[Context, R], None]) -> Operation:
        def run(c: Context, **raw: Any) -> None:
            if any(raw.get(f.name) in HELP_WORDS for f in specs if f.positional):
                print_help(made)
                return
            with exits(error_code(raw)):
                parsed = request.parse(raw)
                repo = layout(c)
                for f in specs:
                    if f.kind == "environment" and parsed.needs_env():
                        chosen = resolve_env(repo, getattr(parsed, f.name))
                        parsed = replace(parsed, **{f.name: chosen})
            body(c, parsed)

        context = inspect.Parameter("c", inspect.Parameter.POSITIONAL_OR_KEYWORD)
        params = [
            inspect.Parameter(
                f.name,
                inspect.Parameter.KEYWORD_ONLY,
                default=f.default if f.switch else None,
            )
            for f in specs
        ]
        run.__signature__ = inspect.Signature([context, *params])  # type: ignore[attr-defined]
        run.__doc__, run.__name__ = body.__doc__, body.__name__
        run.__module__, run.__qualname__ = body.__module__, body.__qualname__
        made = Operation(
            run,
            name=name or body.__name__,
            positional=[f.name for f in specs if f.positional],
            iterable=[f.name for f in specs if f.repeatable],
            help=dict(helps),
            auto_shortflags=auto_shortflags,
        )
        made.request, made.helps = request, helps
        made.full_name = made.name
        return made

    return make


def print_help(made: Operation) -> None:
    """What ``invoke --help TASK`` prints, for a task whose positional took ``--help``."""
    from types import SimpleNamespace

    from invoke.parser.context import ParserContext
    from invoke.program import Program

    made.help = dict(made.helps)  # Invoke pops each help as it builds the arguments
    program: Any = Program(binary="inv[oke]")
    program.parser = SimpleNamespace(
        contexts={made.full_name: ParserContext(name=made.full_name, args=made.get_arguments())}
    )
    program.collection = {made.full_name: made}
    program.print_task_help(made.full_name)


def assemble(root: Path, *parts: str) -> Collection:
    """The root collection of the task modules ``akops.tasks.<part>``, bound to ``root``.

    A part's ``ns`` with a name becomes a group (``runbook.run``); an unnamed one adds its
    tasks and groups at the top (``invoke deploy``)."""
    ns = Collection()
    for part in parts:
        module = importlib.import_module(f"akops.tasks.{part}")
        collection: Collection = module.ns
        if collection.name:
            for name, t in collection.tasks.items():
                if isinstance(t, Operation):
                    t.full_name = f"{collection.name}.{name}"
            ns.add_collection(collection)
            continue
        for name, t in collection.tasks.items():
            ns.add_task(t, name)
        for name, sub in collection.collections.items():
            ns.add_collection(sub, name)
    ns.configure({CONFIG: {"root": str(root)}})
    return ns


def layout(c: Context) -> Layout:
    """The repository the index was loaded from."""
    return Layout(Path(c.config[CONFIG]["root"]))


def index(repo: Layout) -> Any:
    """The index (``tasks.py``) of the repository at ``repo``, loaded afresh: its ``ns``."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("akops_tasks_index", repo.root / "tasks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ns


def resolve_env(repo: Layout, env: str) -> str:
    """``--env``, else ``AKOPS_ENV``; never an implicit default (InputError, exit 2)."""
    import os

    from akops.cli import require_env
    from akops.environment import known_environments

    return require_env(env, os.environ, known_environments(repo.environments))


@contextmanager
def exits(error_code: int | None = None) -> Iterator[None]:
    """Map the project's errors to exit codes: the entry point decides, the library suggests.

    ``error_code`` replaces every error's own code (``plan --detailed-exitcode``: any error is 1).
    SIGINT, SIGTERM and SIGHUP stop every child process group the task started and exit
    128 + the signal's number with one line (written only if the terminal is still there)."""
    from akops import process

    try:
        with process.signal_guard(exiting=True):
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


class Change(Protocol):
    """What the deploy lock needs of a changing operation's request."""

    @property
    def env(self) -> str: ...
    @property
    def context(self) -> str | None: ...
    @property
    def dry_run(self) -> bool: ...


@contextmanager
def locked(
    repo: Layout, req: Change, task: str, *, allow_dirty: bool = False, tree: bool = True
) -> Iterator[Callable[[], None] | None]:
    """The deploy lock of ``req.env`` around a change, giving its check (the guard each
    stage of the change calls); none for a dry run, which changes nothing. ``tree``: a
    protected environment refuses a dirty git tree (unless ``allow_dirty``)."""
    if req.dry_run:
        yield None
        return
    from akops.cluster import lease
    from akops.environment import load_environment
    from akops.source import revision

    environment = load_environment(req.env, repo.environments)
    source = revision(repo.root)
    with lease.locked(
        environment,
        req.context,
        task,
        commit=source.commit or "",
        dirty=source.dirty,
        check_tree=tree,
        allow_dirty=allow_dirty,
    ) as lock:
        yield lock.check


def write_private(path: Path, text: str, flag: str) -> None:
    """Write ``text`` readable by this user only (a plan names the cluster's objects)."""
    import os

    from akops.errors import InputError

    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as e:
        raise InputError(f"{flag} {path}: cannot write: {e.strerror}") from e
