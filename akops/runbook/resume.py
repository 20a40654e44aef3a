"""Where an attempt starts: a new run, a resumed one (``--resume``), or either from a step (``--from``).

Rule: I/O (reads transcripts through ``akops.runbook.store``, asks git for the revision through
``akops.process``). A resumed run is the newest stopped transcript of the same runbook on the
same environment; it keeps its inputs and captured values, and its new attempt starts at the
step that stopped the last one. ``resume_command`` is the command line that does that.
"""

from __future__ import annotations

import getpass
import shlex
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from akops import source
from akops.errors import RunbookError
from akops.runbook import store
from akops.runbook.options import RunOptions
from akops.runbook.schema import RunbookDoc
from akops.runbook.template import resolve_inputs
from akops.runbook.transcript import Attempt, Transcript


@dataclass(frozen=True)
class Start:
    """A run's transcript with its new attempt appended, and where the attempt begins."""

    transcript: Transcript
    attempt: Attempt
    #: Index of the first step this attempt runs.
    index: int
    inputs: dict[str, str]
    #: Values captured by earlier attempts (a resumed run), for templates.
    vars: dict[str, str]


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def begin(
    rb: RunbookDoc,
    opts: RunOptions,
    *,
    environ: Mapping[str, str],
    interactive: bool,
    mask: Callable[[str], str],
) -> Start:
    """The transcript and attempt for this run; errors (unknown step, nothing to resume) first."""
    runbook, env = rb.runbook, opts.env
    ids = [s.id for s in runbook.steps]
    for sid in sorted(opts.skip):
        if sid not in ids:
            raise RunbookError(f"--skip {sid}: runbook {runbook.name!r} has no such step")
    if opts.start_at is not None and opts.start_at not in ids:
        raise RunbookError(
            f"--from {opts.start_at}: runbook {runbook.name!r} has no such step "
            f"(steps: {', '.join(ids)})"
        )
    started = now()
    attempt = Attempt(
        number=1,
        started=started,
        dry_run=opts.dry_run,
        yes=opts.yes,
        interactive=interactive,
        runbook_sha256=rb.sha256,
        start_at=opts.start_at,
    )
    if opts.resume:
        return _resumed(rb, opts, attempt)
    inputs = resolve_inputs(rb, opts.inputs, env)
    t = Transcript(
        run_id=store.new_run_id(opts.runs_dir, runbook.name, env.name, started),
        runbook=runbook.name,
        title=runbook.title,
        env=env.name,
        user=user(environ),
        host=socket.gethostname(),
        revision=revision(opts.root),
        started=started,
        inputs={k: mask(v) for k, v in inputs.items()},
    )
    t.attempts.append(attempt)
    index = runbook.index(opts.start_at) if opts.start_at else 0
    return Start(t, attempt, index, inputs, {})


def _resumed(rb: RunbookDoc, opts: RunOptions, attempt: Attempt) -> Start:
    runbook, env = rb.runbook, opts.env
    if opts.inputs:
        raise RunbookError("--input with --resume: a resumed run keeps the inputs it started with")
    t = store.latest_resumable(opts.runs_dir, runbook.name, env.name)
    last = t.attempts[-1]
    at = opts.start_at or last.stopped_at
    if at is None:
        raise RunbookError(
            f"run {t.run_id}: its last attempt has no stopped step to resume from; give --from STEP"
        )
    if at not in {s.id for s in runbook.steps}:
        raise RunbookError(
            f"run {t.run_id} stopped at step {at!r}, which {rb.source} no longer has"
        )
    note = ""
    if rb.sha256 and last.runbook_sha256 and rb.sha256 != last.runbook_sha256:
        note = f"{rb.source} changed since attempt {last.number}."
    attempt = attempt.model_copy(
        update={"number": len(t.attempts) + 1, "resumed_from": at, "note": note}
    )
    t.attempts.append(attempt)
    # The stopped run's inputs; defaults fill any input the runbook gained since.
    declared = {i.name for i in runbook.inputs}
    kept = {k: v for k, v in t.inputs.items() if k in declared}
    inputs = resolve_inputs(rb, kept, env)
    return Start(t, attempt, runbook.index(at), inputs, t.captured())


def revision(root: Path) -> str:
    """``git describe``-like: the commit, and ``-dirty`` when the tree has changes."""
    return source.revision(root).describe()


def user(environ: Mapping[str, str]) -> str:
    for var in ("SUDO_USER", "USER", "LOGNAME"):
        if environ.get(var):
            return environ[var]
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def resume_command(name: str, opts: RunOptions) -> str:
    """The shell command that resumes this run: the same runbook, environment, transcripts
    directory, skips, check flags and mode. Inputs are not repeated (a resumed run keeps its
    own, and refuses new ones); nor are ``--yes`` and ``--answer`` (answering again is the
    operator's call)."""
    argv = ["invoke", "runbook.run", name, "--env", opts.env.name, "--resume"]
    if opts.runs_dir.resolve() != (opts.root / opts.env.runs_dir).resolve():
        argv += ["--runs-dir", str(opts.runs_dir.resolve())]
    if opts.runbooks is not None:
        argv += ["--runbooks", str(opts.runbooks.resolve())]
    for step in sorted(opts.skip):
        argv += ["--skip", step]
    if opts.verify_args:
        argv += ["--verify-args", shlex.join(opts.verify_args)]
    if opts.dry_run:
        argv.append("--dry-run")
    return shlex.join(argv)
