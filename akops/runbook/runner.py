"""The step machine: a runbook's steps in order, each recorded in the transcript as it ends.

Rule: orchestration of one run. Processes start through ``akops.process`` (own group, timeout,
killed on interrupt), questions go through ``akops.ask``, the transcript through
``akops.runbook.store``; this module decides only what happens next. A check runs
the verify registry, a task ``invoke TASK``, a command its argv (never a shell), and only a
program on the allow-list; a step that changes something is confirmed first. A check step
calls the verify registry in this process (``akops.runbook.checking``): the argv it records is
the equivalent ``invoke verify`` command line. The first failure
stops the run unless the step allows going on; ``--dry-run`` runs the read-only steps, records
every failure and walks on to the end. SIGINT, SIGTERM and SIGHUP stop the running step's whole
process group, record the attempt as interrupted by that signal, and leave it resumable. Every
output line and record is masked with the environment's secrets first.

Public entry point: ``run(rb, opts, console, operator=None) -> RunResult``.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import FrameType

from rich.console import Console
from rich.text import Text

from akops import ask, process
from akops.errors import AkopsError, Interrupted, NoAnswer, ProcessTimeout, ToolMissingError
from akops.requests import VERIFY_ARGS, VerifyRequest
from akops.runbook import checking, commands, store
from akops.runbook.markdown import placeholder_vars
from akops.runbook.masking import available_secrets
from akops.runbook.options import RunOptions, RunResult
from akops.runbook.questions import question, questions
from akops.runbook.resume import Start, begin, now, resume_command
from akops.runbook.schema import END, RunbookDoc, Step
from akops.runbook.template import Context, render, truthy
from akops.runbook.transcript import STOPPING, RunStatus, StepRecord, StepResult
from akops.secrets import Secrets

__all__ = ["RunOptions", "RunResult", "run"]

#: Most lines of one step's output kept in a transcript (the newest win).
MAX_LINES = 2000
#: Most steps one attempt runs, so a decision loop cannot spin forever unattended.
MAX_STEPS = 200

_END_STATUS: dict[str, RunStatus] = {
    "failed": "failed",
    "timed-out": "failed",
    "declined": "stopped",
    "refused": "refused",
    "interrupted": "interrupted",
}


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


@contextlib.contextmanager
def _held(reraise: bool = True) -> Iterator[list[int]]:
    """Signals wait until the block is done (a transcript write must not be cut in half).

    With ``reraise`` the first signal that arrived is raised as ``Interrupted`` afterwards;
    without, it is dropped (the run is already ending because of an earlier one)."""
    pending: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield pending
        return

    def hold(signum: int, frame: FrameType | None) -> None:
        pending.append(signum)

    saved = {sig: signal.signal(sig, hold) for sig in process.GUARDED}
    try:
        yield pending
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
    if pending and reraise:
        raise Interrupted(pending[0])


def could_not_run(rec: StepRecord, step: Step) -> bool:
    """A task or check step that ended with the contract's "could not run" (exit 2).

    Only the project's own tasks and checks follow the exit-code contract; a command step's
    exit 2 means whatever that program says it means.
    """
    return rec.result == "failed" and rec.exit_code == 2 and step.kind in ("task", "check")


class Runner:
    """One attempt of one run; every attribute is set here, before anything runs."""

    def __init__(
        self,
        rb: RunbookDoc,
        opts: RunOptions,
        console: Console,
        operator: ask.Operator,
        start: Start,
        secrets: Secrets,
        secret_errors: dict[str, str],
        environ: dict[str, str],
    ) -> None:
        self.rb = rb
        self.runbook = rb.runbook
        self.opts = opts
        self.console = console
        self.operator = operator
        self.t = start.transcript
        self.attempt = start.attempt
        self.start = start.index
        self.ctx = Context(opts.env, start.inputs, start.vars)
        self.secrets = secrets
        self.secret_errors = secret_errors
        self.environ = environ
        self.invoke = [sys.executable, "-m", "invoke", "--search-root", str(opts.root)]
        #: The step in progress (None between steps).
        self.live: _Live | None = None
        #: Index of the step that runs next, so an interrupt between steps is recorded there.
        self.next: int | None = start.index

    @classmethod
    def prepare(
        cls, rb: RunbookDoc, opts: RunOptions, console: Console, operator: ask.Operator
    ) -> Runner:
        """Check the options against the runbook and open the attempt (nothing runs yet)."""
        ask.check_answers(opts.answers, questions(rb.runbook))
        # A bad --verify-args is known before step 1 (a rehearsal builds its options in code).
        VerifyRequest.from_argv(opts.verify_args, group=VERIFY_ARGS, where="--verify-args")
        environ = dict(os.environ if opts.environ is None else opts.environ)
        secrets, errors = available_secrets(opts.env, environ)
        start = begin(
            rb, opts, environ=environ, interactive=operator.interactive, mask=secrets.mask
        )
        return cls(rb, opts, console, operator, start, secrets, errors, environ)

    # -- output ---------------------------------------------------------------------

    def mask(self, text: str) -> str:
        return self.secrets.mask(text)

    def say(self, text: str, style: str | None = None) -> None:
        ask.say(self.console, Text(self.mask(text), style=style or ""))

    def _line(self, line: str) -> None:
        masked = self.mask(line)
        if self.live is not None:
            pattern = self.live.step.filter
            if pattern is not None and not re.search(pattern, masked):
                self.live.filtered += 1
                return
            self.live.add(masked)
        self.say("  │ " + masked, "dim")

    # -- the transcript -------------------------------------------------------------

    def save(self, reraise: bool = True) -> tuple[Path, Path]:
        with _held(reraise):
            return store.save(self.t, self.opts.runs_dir)

    # -- the run --------------------------------------------------------------------

    def run(self) -> RunResult:
        json_path, md_path = self.save()
        mode = " (dry run: read-only steps run, the rest is shown)" if self.opts.dry_run else ""
        head = f"Runbook {self.runbook.name} on {self.opts.env.name}{mode}"
        if self.attempt.resumed_from:
            head += f", attempt {self.attempt.number} resuming at step {self.attempt.resumed_from}"
        elif self.attempt.start_at:
            head += f", starting at step {self.attempt.start_at}"
        self.say(head, "bold")
        self.say(f"Transcript: {md_path}")
        if self.attempt.note:
            self.say(self.attempt.note, "yellow")
        try:
            self._skip_before()
            status = self._loop(self.start)
        except KeyboardInterrupt as e:
            status = self._interrupted(e)
        except BaseException:
            self._close_live("failed", "the runner itself stopped on an error")
            self._finish("failed")
            raise
        json_path, md_path = self._finish(status)
        self._summary(status, md_path, json_path)
        return RunResult(self.t, json_path, md_path)

    def _interrupted(self, e: KeyboardInterrupt) -> RunStatus:
        name = e.name if isinstance(e, Interrupted) else "SIGINT"
        with _held(reraise=False):
            # The running step's group is gone already: process.run stops it on the way out,
            # and a check step stops the execs it started.
            self.attempt.signal = name
            if self.live is not None:
                self._close_live("interrupted", f"stopped by {name}")
            elif self.next is not None and self.next < len(self.runbook.steps):
                i = self.next
                step = self.runbook.steps[i]
                live = _Live(step, self._title(i, step), now(), time.monotonic())
                self.attempt.steps.append(
                    live.record("interrupted", note=f"not started: {name} came first")
                )
        self.say(
            f"Interrupted by {name}: the running step and its processes were stopped.", "bold red"
        )
        return "interrupted"

    def _close_live(self, result: StepResult, note: str) -> None:
        if self.live is not None:
            self.attempt.steps.append(self.live.record(result, note=note))
            self.live = None

    def _finish(self, status: RunStatus) -> tuple[Path, Path]:
        self.attempt.status = status
        self.attempt.finished = now()
        return self.save(reraise=False)

    def _skip_before(self) -> None:
        """``--from STEP`` on a new run: the steps before it are on record as skipped."""
        if self.opts.start_at is None or self.attempt.resumed_from:
            return
        for i, step in enumerate(self.runbook.steps[: self.start]):
            live = _Live(step, self._title(i, step), now(), time.monotonic())
            self.attempt.steps.append(
                live.record("skipped", note=f"before --from {self.opts.start_at}")
            )
        self.save()

    def _loop(self, start: int) -> RunStatus:
        steps = self.runbook.steps
        i: int | None = start
        count = 0
        failed_in_dry_run = False
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
            self.next = i = self._after(i, step, rec)
            self.save()
            if rec.result in STOPPING:
                if step.continue_on_failure and rec.result in ("failed", "timed-out"):
                    self.say("  The runbook allows going on after this failure.", "yellow")
                elif self.opts.dry_run and rec.result != "interrupted":
                    failed_in_dry_run = True
                    self.say("  Dry run: recorded; the walk goes on.", "yellow")
                else:
                    return _END_STATUS[rec.result]
        return "failed" if failed_in_dry_run else "succeeded"

    def _after(self, i: int, step: Step, rec: StepRecord) -> int | None:
        """The index of the step after step ``i`` (None: the end)."""
        if self.opts.dry_run:
            return i + 1  # a dry run shows every step once, in order
        target = step.next
        if step.decision is not None and rec.answer is not None:
            target = step.decision.choices[rec.answer]
        if target is None:
            return i + 1
        return None if target == END else self.runbook.index(target)

    def _context(self) -> Context:
        if not self.opts.dry_run:
            return self.ctx
        # In a dry run, values a changing step would have captured are shown as stand-ins.
        return Context(
            self.ctx.env, self.ctx.inputs, {**placeholder_vars(self.rb), **self.ctx.vars}
        )

    def _title(self, i: int, step: Step) -> str:
        try:
            return render(step.title, self._context(), self.rb, ("steps", i, "title")).strip()
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
        ctx = self._context()
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
        refused = commands.refusal(step, args, self.opts.programs)
        if refused is not None:
            return live.record("refused", note=refused)
        if step.changing:
            refusal = self._gate(step, live)
            if refusal is not None:
                return refusal
            live.started, live.t0 = now(), time.monotonic()  # the step's time, not the answer's
        return self._process(step, args, live)

    def _ask(self, step: Step) -> ask.Answered:
        q = question(step)
        assert q is not None
        return ask.answer(q, self.operator, yes=self.opts.yes, answers=self.opts.answers)

    def _by(self, step: Step, answered: ask.Answered) -> str:
        if answered.by == "--answer":
            return f"--answer {step.id}={answered.choice}"
        if answered.by == "--yes":
            return "--yes"
        return self.t.user

    def _gate(self, step: Step, live: _Live) -> StepRecord | None:
        """Ask before a changing step; the record of not running it, or None to go on."""
        if self.opts.dry_run:
            return live.record("would-run", note="dry run, and this step changes something")
        try:
            answered = self._ask(step)
        except NoAnswer as e:
            return live.record("refused", note=str(e))
        if answered.choice == ask.YES:
            live.note = f"confirmed by {self._by(step, answered)}"
            return None
        return live.record("declined", note=f"declined by {self._by(step, answered)}")

    def _check(self, step: Step, args: list[str], live: _Live) -> StepRecord:
        """A check step: the verify registry in this process (``akops.runbook.checking``)."""
        try:
            report = checking.run_check(
                self.opts.root,
                commands.check_request(args),
                timeout=step.timeout,
                on_line=self._line,
                environ=self.environ,
            )
        except AkopsError as e:  # could not run the check (exit 2 for `invoke verify`)
            return live.record("failed", exit_code=e.exit_code, note=self.mask(str(e)))
        if report is None:
            return live.record("timed-out", note=f"stopped after its timeout of {step.timeout:g} s")
        why = report.reason()
        if why:
            self._line(why)
        self._line(report.result_line())
        if not report.ok:
            return live.record("failed", exit_code=report.exit_code)
        return live.record("passed", exit_code=0)

    def _process(self, step: Step, args: list[str], live: _Live) -> StepRecord:
        if step.check is not None:
            return self._check(step, args, live)
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
        try:
            done = process.run(
                argv,
                timeout=step.timeout,
                cwd=self.opts.root,
                env=environ,
                mask=self.mask,
                on_line=self._line,
            )
        except ToolMissingError:
            return live.record("failed", note=f"{args[0]}: not installed (not found on PATH)")
        except ProcessTimeout:
            return live.record("timed-out", note=f"stopped after its timeout of {step.timeout:g} s")
        if live.filtered:
            hidden = f"{live.filtered} output line(s) not matching {step.filter!r} hidden"
            live.note = f"{live.note}; {hidden}" if live.note else hidden
        if done.returncode not in step.success_codes:
            return live.record("failed", exit_code=done.returncode)
        captured: dict[str, str] = {}
        if step.capture is not None:
            value = "\n".join(live.lines).strip()
            pattern = step.capture.pattern
            if pattern is not None and not re.fullmatch(pattern, value):
                return live.record(
                    "failed",
                    exit_code=done.returncode,
                    note=f"output does not match {pattern!r}, so it is not kept as vars.{step.capture.name}",
                )
            captured[step.capture.name] = value
            self.ctx = self.ctx.with_var(step.capture.name, value)
        return live.record("passed", exit_code=done.returncode, captured=captured)

    def _manual(self, i: int, step: Step, ctx: Context, live: _Live) -> StepRecord:
        assert step.manual is not None
        text = render(step.manual, ctx, self.rb, ("steps", i, "manual"))
        for line in text.strip().splitlines():
            self.say("  > " + line)
        if self.opts.dry_run:
            return live.record("would-run", note="dry run: a manual step is shown, not asked")
        try:
            answered = self._ask(step)
        except NoAnswer as e:
            return live.record("refused", note=str(e))
        if answered.choice == ask.YES:
            return live.record("confirmed", note=f"confirmed by {self._by(step, answered)}")
        return live.record("declined", note=f"not done, says {self._by(step, answered)}")

    def _decide(self, i: int, step: Step, ctx: Context, live: _Live) -> StepRecord:
        d = step.decision
        assert d is not None
        q = render(d.question, ctx, self.rb, ("steps", i, "decision", "question"))
        self.say("  ? " + q.strip())
        if self.opts.dry_run:
            ways = ", ".join(f"{c} → {t}" for c, t in d.choices.items())
            return live.record("would-run", note=f"dry run: a decision is shown ({ways})")
        try:
            answered = self._ask(step)
        except NoAnswer as e:
            return live.record("refused", note=str(e))
        self.say(f"  → {answered.choice}")
        by = {"--yes": "the default answer (--yes)", "--answer": f"--answer {step.id}="}.get(
            answered.by, f"answered by {self.t.user}"
        )
        if answered.by == "--answer":
            by += answered.choice
        return live.record("answered", answer=answered.choice, note=by)

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
        if could_not_run(rec, step):
            # The step never judged anything: its "If it fails" advice (written for a real
            # failure) would send the operator after the wrong problem.
            self.say(
                "  Could not run (exit 2): fix what the line above names (input, kube context, "
                "API access, a missing tool), then resume; the step's own advice is for a "
                "failure it found.",
                "yellow",
            )
            return
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
        kind = "Dry run" if self.opts.dry_run else "Run"
        self.say(f"{kind} {self.t.run_id}: {status} ({parts})", style)
        if self.opts.dry_run:
            allowed = {s.id for s in self.runbook.steps if s.continue_on_failure}
            for label, results in (
                ("Failed", ("failed", "timed-out", "refused")),
                ("Shown, not run", ("would-run",)),
            ):
                ids = [
                    r.step
                    for r in self.attempt.steps
                    if r.result in results and not (label == "Failed" and r.step in allowed)
                ]
                if ids:
                    self.say(f"  {label}: {', '.join(ids)}")
        self.say(f"Transcript: {md_path} (and {json_path.name})")
        if status in ("failed", "stopped", "refused", "interrupted"):
            self.say(
                "Continue from the stopped step with: "
                + resume_command(self.runbook.name, self.opts)
            )


def run(
    rb: RunbookDoc, opts: RunOptions, console: Console, operator: ask.Operator | None = None
) -> RunResult:
    """Run (or resume) ``rb`` with ``opts``; returns the transcript and where it was written.

    ``operator`` answers the questions (default: the terminal behind ``console``'s stdin).
    SIGINT, SIGTERM and SIGHUP end the run as "interrupted" (``RunResult.exit_code`` 128+N).
    Raises ``AkopsError`` for what stops a run before it starts (unknown step, bad answer,
    nothing to resume)."""
    # Prepared outside the guard: a refusal before anything runs must not stop children the
    # caller started (a rehearsal's services, a test session's database).
    runner = Runner.prepare(rb, opts, console, operator or ask.Terminal(console))
    with process.signal_guard():
        return runner.run()
