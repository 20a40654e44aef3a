"""What every task module shares: the repository, the environment, exit codes, the deploy lock.

Rule: adapter helpers; the library is imported inside the functions that need it so that
importing a task module (``invoke --list``) stays cheap.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit

from akops.errors import AkopsError
from akops.layout import Layout

#: The config key under which the index records the repository root (``c.config.akops.root``).
CONFIG = "akops"

ENV_HELP = "environment name (a file in environments/); required, or set AKOPS_ENV"
CONTEXT_HELP = "kube context to use instead of the environment's kube.context (explicit override)"
SKIP_HELM_HELP = "leave the Authentik Helm release alone (objects only; no helm needed)"
FORCE_HELP = "take ownership of fields another field manager owns (server-side apply force)"
ALLOW_DIRTY_HELP = (
    "let a protected environment take a change from a git tree with uncommitted changes"
)


def assemble(root: Path, *parts: str) -> Collection:
    """The root collection of the task modules ``akops.tasks.<part>``, bound to ``root``.

    A part's ``ns`` with a name becomes a group (``runbook.run``); an unnamed one adds its
    tasks and groups at the top (``invoke deploy``)."""
    ns = Collection()
    for part in parts:
        module = importlib.import_module(f"akops.tasks.{part}")
        collection: Collection = module.ns
        if collection.name:
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


def locked(
    repo: Layout,
    env: str,
    context: str | None,
    task: str,
    dry_run: bool,
    allow_dirty: bool,
    tree: bool = True,
) -> AbstractContextManager[object]:
    """The environment's deploy lock around a change (none for a dry run, which changes nothing)."""
    if dry_run:
        return nullcontext()
    from akops.cluster import lease
    from akops.environment import load_environment
    from akops.source import revision

    environment = load_environment(env, repo.environments)
    source = revision(repo.root)
    return lease.locked(
        environment,
        context,
        task,
        commit=source.commit or "",
        dirty=source.dirty,
        check_tree=tree,
        allow_dirty=allow_dirty,
    )


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
