"""Running a runbook: steps as subprocesses, the operator's answers, the transcript.

Rule: the I/O half of ``akops.runbook``. Steps run in order, each as a subprocess in
its own session with a timeout (a check runs ``invoke verify``, a task ``invoke TASK``,
a command its argv, never through a shell). Before every step that changes
something the operator is asked (``--yes`` answers yes; a run nobody can answer
stops there); ``--dry-run`` runs only read-only steps. The first failure stops the
run unless the step allows continuing. Ctrl-C stops the running step and still
writes the transcript. All output and every record are masked with the
environment's secrets before they are shown or stored.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel
from rich.console import Console
from rich.text import Text

from akops.environment import Environment, SecretRef
from akops.errors import AkopsError, RunbookError, SecretError
from akops.runbook import commands, store
from akops.runbook.markdown import placeholder_vars
from akops.runbook.schema import END, RunbookDoc, Step
from akops.runbook.template import Context, render, resolve_inputs, truthy
from akops.runbook.transcript import (
    STOPPING,
    Attempt,
    RunStatus,
    StepRecord,
    StepResult,
    Transcript,
)
from akops.secrets import Secrets, resolve_one

#: Most lines of one step's output kept in a transcript (the newest win).
MAX_LINES = 2000
#: Most steps one attempt runs, so a decision loop cannot spin forever unattended.
MAX_STEPS = 200
#: Seconds a stopped step gets between SIGTERM and SIGKILL.
GRACE = 3.0


class Operator(Protocol):
    """Whoever answers the questions of a run."""

    @property
    def interactive(self) -> bool: ...

    def confirm(self, prompt: str) -> bool: ...

    def choose(self, prompt: str, choices: Sequence[str], default: str | None) -> str: ...


class TerminalOperator:
    """The person at the terminal; interactive only when stdin is a TTY."""

    def __init__(self, console: Console, interactive: bool | None = None) -> None:
        self.console = console
        self._interactive = sys.stdin.isatty() if interactive is None else interactive

    @property
    def interactive(self) -> bool:
        return self._interactive

    def _ask(self, prompt: str) -> str:
        try:
            return self.console.input(prompt, markup=False).strip()
        except EOFError:
            return ""

    def confirm(self, prompt: str) -> bool:
        return self._ask(f"{prompt} [y/N] ").lower() in ("y", "yes")

    def choose(self, prompt: str, choices: Sequence[str], default: str | None) -> str:
        hint = "/".join(f"[{c}]" if c == default else c for c in choices)
        while True:
            answer = self._ask(f"{prompt} ({hint}) ")
            if not answer and default is not None:
                return default
            if answer in choices:
                return answer
            self.console.print(
                f"Answer one of: {', '.join(choices)}", markup=False, highlight=False
            )


@dataclass(frozen=True)
class RunOptions:
    env: Environment
    root: Path
    runs_dir: Path
    inputs: Mapping[str, str] = field(default_factory=dict)
    yes: bool = False
    dry_run: bool = False
    resume: bool = False
    skip: frozenset[str] = frozenset()
    #: Appended to every check step's ``invoke verify`` (e.g. ``--target local`` and its addresses).
    verify_args: tuple[str, ...] = ()
    #: The process environment steps inherit and secrets resolve from (default: ``os.environ``).
    environ: Mapping[str, str] | None = None
    #: Where the runbook was read from, when not the repository's ``runbooks/`` (``--runbooks``).
    runbooks: Path | None = None


@dataclass(frozen=True)
class RunResult:
    transcript: Transcript
    json_path: Path
    md_path: Path

    @property
    def status(self) -> RunStatus:
        return self.transcript.status


@dataclass
class _Live:
    """The step in progress, so an interrupt can still record what it did so far."""

    step: Step
    title: str
    started: datetime
    t0: float
    command: list[str] | None = None
    note: str = ""
    lines: deque[str] = field(default_factory=lambda: deque(maxlen=MAX_LINES))
    dropped: bool = False
    filtered: int = 0

    def add(self, line: str) -> None:
        if len(self.lines) == self.lines.maxlen:
            self.dropped = True
        self.lines.append(line)

    def record(self, result: StepResult, **kw: object) -> StepRecord:
        fields: dict[str, object] = {
            "step": self.step.id,
            "title": self.title,
            "kind": self.step.kind,
            "changes": self.step.changing,
            "command": self.command,
            "started": self.started,
            "duration": round(time.monotonic() - self.t0, 3),
            "result": result,
            "output": "\n".join(self.lines),
            "output_truncated": self.dropped,
            "note": self.note,
        }
        fields.update(kw)
        return StepRecord.model_validate(fields)


@dataclass(frozen=True)
class _Outcome:
    exit_code: int | None
    timed_out: bool = False
    missing: bool = False


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def secret_refs(env: Environment) -> dict[str, SecretRef]:
    """Every secret an environment names: ``secrets:``, and any other ``SecretRef`` in it (the
    outpost API token) under its dotted field path."""
    found: dict[str, SecretRef] = dict(env.secrets)

    def walk(value: object, path: str) -> None:
        if isinstance(value, SecretRef):
            found.setdefault(path, value)
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name), f"{path}.{name}" if path else name)
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                walk(item, f"{path}[{i}]")

    for name in type(env).model_fields:
        if name != "secrets":
            walk(getattr(env, name), name)
    return found


def available_secrets(
    env: Environment, environ: Mapping[str, str]
) -> tuple[Secrets, dict[str, str]]:
    """Every secret of ``env`` that resolves here (for masking), and why the others did not."""
    values: dict[str, str] = {}
    errors: dict[str, str] = {}
    for name, ref in secret_refs(env).items():
        try:
            values[name] = resolve_one(name, ref, environ)
        except SecretError as e:
            errors[name] = str(e)
    return Secrets(values), errors


def revision(root: Path) -> str:
    """``git describe``-like: the commit, and ``-dirty`` when the tree has changes."""

    def git(*args: str) -> str:
        out = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10, check=True
        )
        return out.stdout.strip()

    try:
        head = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    return head + ("-dirty" if dirty else "")


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    # Steps run in their own session: a kubectl or an `invoke verify` with children
    # is stopped as a whole, whatever it spawned.
    for sig, wait in ((signal.SIGTERM, GRACE), (signal.SIGKILL, GRACE)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _execute(
    argv: Sequence[str],
    cwd: Path,
    environ: Mapping[str, str],
    timeout: float,
    on_line: Callable[[str], None],
) -> _Outcome:
    try:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(environ),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except FileNotFoundError:
        return _Outcome(None, missing=True)
    assert proc.stdout is not None
    stream = proc.stdout

    def pump() -> None:
        for raw in iter(stream.readline, b""):
            on_line(raw.decode("utf-8", errors="replace").rstrip("\r\n"))

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    timed_out = False
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(proc)
    except BaseException:
        _kill_group(proc)
        raise
    finally:
        # A grandchild may still hold the pipe open: the reader gets a grace period, no more.
        reader.join(timeout=GRACE)
        if not reader.is_alive():
            stream.close()
    return _Outcome(proc.returncode, timed_out=timed_out)


@contextlib.contextmanager
def _no_interrupts() -> Iterator[None]:
    """Let a transcript write finish even if Ctrl-C is pressed again."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class _Run:
    def __init__(
        self, rb: RunbookDoc, opts: RunOptions, console: Console, operator: Operator
    ) -> None:
        self.rb = rb
        self.runbook = rb.runbook
        self.opts = opts
        self.console = console
        self.operator = operator
        self.environ = dict(os.environ if opts.environ is None else opts.environ)
        self.secrets, self.secret_errors = available_secrets(opts.env, self.environ)
        self.live: _Live | None = None
        self.invoke = [sys.executable, "-m", "invoke", "--search-root", str(opts.root)]

    # -- output ---------------------------------------------------------------------

    def mask(self, text: str) -> str:
        return self.secrets.mask(text)

    def say(self, text: str, style: str | None = None) -> None:
        self.console.print(Text(self.mask(text), style=style or ""), highlight=False)

    def _line(self, line: str) -> None:
        masked = self.mask(line)
        if self.live is not None:
            pattern = self.live.step.filter
            if pattern is not None and not re.search(pattern, masked):
                self.live.filtered += 1
                return
            self.live.add(masked)
        self.console.print(Text("  │ " + masked, style="dim"), highlight=False)

    # -- the transcript -------------------------------------------------------------

    def _start(self) -> tuple[Transcript, Attempt, int, dict[str, str]]:
        runbook, env = self.runbook, self.opts.env
        sha = self.rb.sha256
        started = now()
        interactive = self.operator.interactive
        for sid in sorted(self.opts.skip):
            if sid not in {s.id for s in runbook.steps}:
                raise RunbookError(f"--skip {sid}: runbook {runbook.name!r} has no such step")
        if self.opts.resume:
            if self.opts.inputs:
                raise RunbookError(
                    "--input with --resume: a resumed run keeps the inputs it started with"
                )
            t = store.latest_resumable(self.opts.runs_dir, runbook.name, env.name)
            last = t.attempts[-1]
            at = last.stopped_at
            if at is None:
                raise RunbookError(
                    f"run {t.run_id}: its last attempt has no stopped step to resume from"
                )
            if at not in {s.id for s in runbook.steps}:
                raise RunbookError(
                    f"run {t.run_id} stopped at step {at!r}, which {self.rb.source} no longer has"
                )
            note = ""
            if sha and last.runbook_sha256 and sha != last.runbook_sha256:
                note = f"{self.rb.source} changed since attempt {last.number}."
            attempt = Attempt(
                number=len(t.attempts) + 1,
                started=started,
                dry_run=self.opts.dry_run,
                yes=self.opts.yes,
                interactive=interactive,
                resumed_from=at,
                runbook_sha256=sha,
                note=note,
            )
            t.attempts.append(attempt)
            # The stopped run's inputs; defaults fill any input the runbook gained since.
            declared = {i.name for i in runbook.inputs}
            kept = {k: v for k, v in t.inputs.items() if k in declared}
            return t, attempt, runbook.index(at), resolve_inputs(self.rb, kept, env)
        inputs = resolve_inputs(self.rb, self.opts.inputs, env)
        t = Transcript(
            run_id=store.new_run_id(self.opts.runs_dir, runbook.name, env.name, started),
            runbook=runbook.name,
            title=runbook.title,
            env=env.name,
            user=_user(self.environ),
            host=socket.gethostname(),
            revision=revision(self.opts.root),
            started=started,
            inputs={k: self.mask(v) for k, v in inputs.items()},
        )
        attempt = Attempt(
            number=1,
            started=started,
            dry_run=self.opts.dry_run,
            yes=self.opts.yes,
            interactive=interactive,
            runbook_sha256=sha,
        )
        t.attempts.append(attempt)
        return t, attempt, 0, inputs

    def save(self) -> tuple[Path, Path]:
        with _no_interrupts():
            return store.save(self.t, self.opts.runs_dir)

    # -- the run --------------------------------------------------------------------

    def run(self) -> RunResult:
        self.t, self.attempt, start, inputs = self._start()
        vars_ = self.t.captured() if self.opts.resume else {}
        self.ctx = Context(self.opts.env, inputs, vars_)
        json_path, md_path = self.save()
        mode = " (dry run: read-only steps only)" if self.opts.dry_run else ""
        head = f"Runbook {self.runbook.name} on {self.opts.env.name}{mode}"
        if self.attempt.resumed_from:
            head += f", attempt {self.attempt.number} resuming at step {self.attempt.resumed_from}"
        self.say(head, "bold")
        self.say(f"Transcript: {md_path}")
        if self.attempt.note:
            self.say(self.attempt.note, "yellow")
        try:
            status = self._loop(start)
        except KeyboardInterrupt:
            self._close_live("interrupted", "stopped by Ctrl-C")
            status = "interrupted"
            self.say("Interrupted: the running step was stopped.", "bold red")
        except BaseException:
            self._close_live("failed", "the runner itself stopped on an error")
            self._finish("failed")
            raise
        json_path, md_path = self._finish(status)
        self._summary(status, md_path, json_path)
        return RunResult(self.t, json_path, md_path)

    def _close_live(self, result: StepResult, note: str) -> None:
        if self.live is not None:
            self.attempt.steps.append(self.live.record(result, note=note))
            self.live = None

    def _finish(self, status: RunStatus) -> tuple[Path, Path]:
        self.attempt.status = status
        self.attempt.finished = now()
        return self.save()

    def _loop(self, start: int) -> RunStatus:
        steps = self.runbook.steps
        i: int | None = start
        count = 0
        while i is not None and i < len(steps):
            count += 1
            if count > MAX_STEPS:
                self.say(
                    f"Stopped: more than {MAX_STEPS} steps in one attempt (a decision loop?)",
                    "bold red",
                )
                return "failed"
            step = steps[i]
            rec = self._step(i, step)
            self.attempt.steps.append(rec)
            self.save()
            if rec.result in STOPPING:
                if step.continue_on_failure and rec.result in ("failed", "timed-out"):
                    self.say("  The runbook allows going on after this failure.", "yellow")
                else:
                    return {
                        "failed": "failed",
                        "timed-out": "failed",
                        "declined": "stopped",
                        "refused": "refused",
                        "interrupted": "interrupted",
                    }[rec.result]  # type: ignore[return-value]
            target = step.next
            if step.decision is not None and rec.answer is not None:
                target = step.decision.choices[rec.answer]
            if target is None:
                i += 1
            else:
                i = None if target == END else self.runbook.index(target)
        return "succeeded"

    def _title(self, i: int, step: Step) -> str:
        ctx = self._dry_ctx() if self.opts.dry_run else self.ctx
        try:
            return render(step.title, ctx, self.rb, ("steps", i, "title")).strip()
        except AkopsError:
            return step.title

    def _header(self, i: int, step: Step, title: str) -> None:
        effect = "changes something" if step.changing else "read-only"
        timeout = (
            f", timeout {step.timeout:g}s" if step.kind in ("check", "task", "command") else ""
        )
        total = len(self.runbook.steps)
        self.say(
            f"[{i + 1}/{total}] {step.id}: {title} ({step.kind}, {effect}{timeout})", "bold cyan"
        )

    def _dry_ctx(self) -> Context:
        # In a dry run, values a changing step would have captured are shown as stand-ins.
        return Context(
            self.ctx.env, self.ctx.inputs, {**placeholder_vars(self.rb), **self.ctx.vars}
        )

    def _step(self, i: int, step: Step) -> StepRecord:
        title = self._title(i, step)
        self._header(i, step, title)
        self.live = live = _Live(step, title, now(), time.monotonic())
        try:
            rec = self._step_body(i, step, live)
        except AkopsError as e:
            # A template that cannot render here (e.g. a value a skipped step did not
            # capture) fails this step rather than the whole process.
            rec = live.record("failed", note=self.mask(str(e)))
        self.live = None
        self._report(rec, step)
        return rec

    def _step_body(self, i: int, step: Step, live: _Live) -> StepRecord:
        ctx = self._dry_ctx() if self.opts.dry_run else self.ctx
        if step.id in self.opts.skip:
            return live.record("skipped", note="skipped with --skip")
        if step.when is not None:
            cond = render(step.when, ctx, self.rb, ("steps", i, "when"))
            if not truthy(cond):
                return live.record("skipped", note=f"skipped: `{step.when.strip()}` is empty")
        if step.kind == "decision":
            return self._decide(i, step, ctx, live)
        if step.kind == "manual":
            return self._manual(i, step, ctx, live)
        args = commands.argv(step, i, ctx, self.rb, self.opts.verify_args)
        assert args is not None
        live.command = [self.mask(a) for a in args]
        self.say("  $ " + commands.display(args))
        if step.changing:
            refusal = self._gate(step, live)
            if refusal is not None:
                return refusal
            live.started, live.t0 = now(), time.monotonic()  # the step's time, not the answer's
        return self._process(step, args, live)

    def _gate(self, step: Step, live: _Live) -> StepRecord | None:
        """Ask before a changing step; the record of not running it, or None to go on."""
        if self.opts.dry_run:
            return live.record("would-run", note="dry run, and this step changes something")
        if self.opts.yes:
            live.note = "confirmed by --yes"
            return None
        if not self.operator.interactive:
            return live.record(
                "refused",
                note="this step changes something and nobody can confirm it: the run is not "
                "interactive and --yes was not given",
            )
        if self.operator.confirm(f"  Step {step.id} changes something. Run it?"):
            live.note = f"confirmed by {self.t.user}"
            return None
        return live.record("declined", note=f"declined by {self.t.user}")

    def _process(self, step: Step, args: list[str], live: _Live) -> StepRecord:
        environ = dict(self.environ)
        environ.setdefault("PGCONNECT_TIMEOUT", "10")
        for var, secret in step.secret_env.items():
            if secret not in self.secrets.values:
                why = self.secret_errors.get(
                    secret, f"secret {secret!r} is not defined under 'secrets:'"
                )
                return live.record("failed", note=why)
            environ[var] = self.secrets.values[secret]
        argv = [*self.invoke, *args[1:]] if args[0] == commands.INVOKE else args
        outcome = _execute(argv, self.opts.root, environ, step.timeout, self._line)
        if outcome.missing:
            return live.record("failed", note=f"{args[0]}: not installed (not found on PATH)")
        if outcome.timed_out:
            return live.record(
                "timed-out",
                exit_code=outcome.exit_code,
                note=f"stopped after its timeout of {step.timeout:g} s",
            )
        if live.filtered:
            hidden = f"{live.filtered} output line(s) not matching {step.filter!r} hidden"
            live.note = f"{live.note}; {hidden}" if live.note else hidden
        if outcome.exit_code not in step.success_codes:
            return live.record("failed", exit_code=outcome.exit_code)
        captured: dict[str, str] = {}
        if step.capture is not None:
            value = "\n".join(live.lines).strip()
            pattern = step.capture.pattern
            if pattern is not None and not re.fullmatch(pattern, value):
                return live.record(
                    "failed",
                    exit_code=outcome.exit_code,
                    note=f"output does not match {pattern!r}, so it is not kept as vars.{step.capture.name}",
                )
            captured[step.capture.name] = value
            self.ctx = self.ctx.with_var(step.capture.name, value)
        return live.record("passed", exit_code=outcome.exit_code, captured=captured)

    def _manual(self, i: int, step: Step, ctx: Context, live: _Live) -> StepRecord:
        assert step.manual is not None
        text = render(step.manual, ctx, self.rb, ("steps", i, "manual"))
        for line in text.strip().splitlines():
            self.say("  > " + line)
        if self.opts.dry_run:
            return live.record("would-run", note="dry run: a manual step is shown, not asked")
        if self.opts.yes:
            return live.record("confirmed", note="confirmed by --yes")
        if not self.operator.interactive:
            return live.record(
                "refused",
                note="a manual step needs the operator's confirmation: not interactive and no --yes",
            )
        if self.operator.confirm("  Done?"):
            return live.record("confirmed", note=f"confirmed by {self.t.user}")
        return live.record("declined", note=f"not confirmed by {self.t.user}")

    def _decide(self, i: int, step: Step, ctx: Context, live: _Live) -> StepRecord:
        d = step.decision
        assert d is not None
        question = render(d.question, ctx, self.rb, ("steps", i, "decision", "question"))
        self.say("  ? " + question.strip())
        choices = list(d.choices)
        if self.operator.interactive and not self.opts.yes:
            answer = self.operator.choose("  Answer", choices, d.default)
            by = f"answered by {self.t.user}"
        elif d.default is not None:
            answer = d.default
            by = (
                "the default answer (--yes)"
                if self.opts.yes
                else "the default answer (not interactive)"
            )
        else:
            return live.record(
                "refused", note="a decision without a default needs an operator to answer"
            )
        self.say(f"  → {answer}")
        return live.record("answered", answer=answer, note=by)

    def _report(self, rec: StepRecord, step: Step) -> None:
        styles = {"passed": "green", "confirmed": "green", "answered": "green", "skipped": "yellow"}
        style = styles.get(rec.result, "yellow" if rec.result == "would-run" else "bold red")
        line = f"  {rec.result} in {rec.duration:.1f}s"
        if rec.result == "would-run":
            line = "  not run"
        if rec.exit_code not in (None, 0):
            line += f" (exit {rec.exit_code})"
        if rec.note:
            line += f": {rec.note}"
        self.say(line, style)
        if rec.result in ("failed", "timed-out") and step.on_failure:
            i = self.runbook.index(step.id)
            try:
                advice = render(step.on_failure, self.ctx, self.rb, ("steps", i, "on_failure"))
            except AkopsError:
                advice = step.on_failure
            self.say(f"  If it fails: {advice.strip()}", "yellow")

    def _summary(self, status: RunStatus, md_path: Path, json_path: Path) -> None:
        counts: dict[str, int] = {}
        for rec in self.attempt.steps:
            counts[rec.result] = counts.get(rec.result, 0) + 1
        parts = ", ".join(f"{v} {k}" for k, v in counts.items()) or "no steps"
        if status == "succeeded" and counts.get("failed", 0) + counts.get("timed-out", 0):
            parts += "; the runbook allows those failures"
        style = "bold green" if status == "succeeded" else "bold red"
        self.say(f"Run {self.t.run_id}: {status} ({parts})", style)
        self.say(f"Transcript: {md_path} (and {json_path.name})")
        if status in ("failed", "stopped", "refused", "interrupted"):
            self.say(
                "Continue from the stopped step with: "
                + resume_command(self.runbook.name, self.opts)
            )


def resume_command(name: str, opts: RunOptions) -> str:
    """The shell command that resumes this run: the same runbook, environment, transcripts
    directory, skips, check flags and mode. Inputs are not repeated (a resumed run keeps its
    own, and refuses new ones); nor is ``--yes`` (confirming again is the operator's call)."""
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


def _user(environ: Mapping[str, str]) -> str:
    for var in ("SUDO_USER", "USER", "LOGNAME"):
        if environ.get(var):
            return environ[var]
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def run(
    rb: RunbookDoc, opts: RunOptions, console: Console, operator: Operator | None = None
) -> RunResult:
    """Run (or resume) ``rb`` with ``opts``; returns the transcript and where it was written."""
    return _Run(rb, opts, console, operator or TerminalOperator(console)).run()
