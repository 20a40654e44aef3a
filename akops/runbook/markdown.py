"""Markdown for people: a runbook as a document (``runbook.show``) and a run's transcript.

Rule: pure (models in, text out). ``runbooks/`` doubles as documentation through this
module: the Markdown is generated, never hand-copied.
"""

from __future__ import annotations

from akops.environment import Environment
from akops.runbook import commands
from akops.runbook.schema import END, RunbookDoc, Step
from akops.runbook.template import Context, render, resolve_inputs
from akops.runbook.transcript import StepRecord, Transcript


def _fence(text: str, lang: str = "") -> list[str]:
    # A fence longer than any backtick run inside, so any output stays verbatim.
    ticks = "```"
    while ticks in text:
        ticks += "`"
    return [f"{ticks}{lang}", text.rstrip("\n"), ticks]


def placeholder_vars(rb: RunbookDoc) -> dict[str, str]:
    """Stand-ins for captured values, for showing commands before anything ran."""
    return {
        s.capture.name: f"<{s.capture.name} from step {s.id}>"
        for s in rb.runbook.steps
        if s.capture is not None
    }


def preview_context(rb: RunbookDoc, env: Environment) -> Context:
    """The context a run with default inputs would start from, with captures stubbed."""
    inputs: dict[str, str] = {}
    for inp in rb.runbook.inputs:
        if inp.default is None:
            inputs[inp.name] = f"<{inp.name}>"
    inputs = resolve_inputs(rb, inputs, env, check=False)
    return Context(env, inputs, placeholder_vars(rb))


def _target(name: str | None) -> str:
    if name is None:
        return "the next step"
    return "the end of the run" if name == END else f"step `{name}`"


def _step(rb: RunbookDoc, n: int, i: int, step: Step, ctx: Context | None) -> list[str]:
    def text(value: str, path: tuple[str | int, ...]) -> str:
        return render(value, ctx, rb, ("steps", i, *path)) if ctx is not None else value

    effect = "**changes something — asks first**" if step.changing else "read-only"
    out = [f"### {n}. {text(step.title, ('title',)).strip()}", ""]
    meta = f"`{step.id}` · {step.kind} · {effect}"
    if step.kind in ("check", "task", "command"):
        meta += f" · timeout {step.timeout:g} s"
    out += [meta, "", text(step.why, ("why",)).strip(), ""]
    if step.when is not None:
        cond = step.when.strip().removeprefix("{{").removesuffix("}}").strip()
        out += [f"Runs only when `{cond}` is not empty.", ""]
    if step.check is not None:
        out += [f"Check `{step.check}`:", ""]
    if step.task is not None:
        out += [f"Task `{step.task}`:", ""]
    if step.kind in ("check", "task", "command"):
        args = commands.argv(step, i, ctx, rb) if ctx is not None else commands.raw_argv(step)
        assert args is not None
        out += [*_fence(commands.display(args), "sh"), ""]
        if step.secret_env:
            pairs = ", ".join(f"`{k}` from secret `{v}`" for k, v in step.secret_env.items())
            out += [f"Environment: {pairs}.", ""]
        if step.capture is not None:
            out += [f"Keeps its output as `vars.{step.capture.name}`.", ""]
        if step.filter is not None:
            out += [f"Shows only the output lines matching `{step.filter}`.", ""]
        if step.success_codes != [0]:
            codes = ", ".join(str(c) for c in step.success_codes)
            out += [f"Passes with exit code {codes}.", ""]
    if step.manual is not None:
        out += ["Do this, then confirm:", ""]
        out += [
            *(
                "> " + line if line else ">"
                for line in text(step.manual, ("manual",)).strip().splitlines()
            ),
            "",
        ]
    if step.decision is not None:
        d = step.decision
        out += [f"**Question:** {text(d.question, ('decision', 'question')).strip()}", ""]
        out += ["| answer | goes to |", "|---|---|"]
        for answer, target in d.choices.items():
            mark = " (default)" if answer == d.default else ""
            out.append(f"| `{answer}`{mark} | {_target(target)} |")
        out.append("")
    if step.on_failure:
        cont = " The run goes on after a failure of this step." if step.continue_on_failure else ""
        out += [f"**If it fails:** {text(step.on_failure, ('on_failure',)).strip()}{cont}", ""]
    if step.next is not None:
        out += [f"Then: {_target(step.next)}.", ""]
    return out


def runbook(rb: RunbookDoc, env: Environment | None = None) -> str:
    """The runbook as a Markdown document; with ``env``, commands are rendered for it."""
    r = rb.runbook
    ctx = preview_context(rb, env) if env is not None else None
    env_arg = env.name if env is not None else "ENV"
    out = [f"# {r.title}", ""]
    out += [f"`{r.name}` — {r.summary.strip()}", ""]
    out += [
        f"Run it: `invoke runbook.run {r.name} --env {env_arg}` (add `--dry-run` to preview).",
        "",
    ]
    if env is not None:
        out += [f"Commands below are rendered for environment `{env.name}`.", ""]
    out += ["## When to use it", ""]
    out += [f"- {s.strip()}" for s in r.when.symptoms]
    out.append("")
    if r.when.alerts:
        out += ["Alerts that point here: " + ", ".join(f"`{a}`" for a in r.when.alerts) + ".", ""]
    if r.inputs:
        out += ["## Inputs", "", "| input | default | what |", "|---|---|---|"]
        for inp in r.inputs:
            value = ctx.inputs[inp.name] if ctx is not None else inp.default
            default = f"`{value}`" if inp.default is not None else "*required*"
            out.append(f"| `{inp.name}` | {default} | {inp.description.strip()} |")
        out += ["", "Pass them as `--input NAME=VALUE`.", ""]
    out += ["## Steps", ""]
    for n, (i, step) in enumerate(enumerate(r.steps), start=1):
        out += _step(rb, n, i, step, ctx)
    return "\n".join(out).rstrip("\n") + "\n"


_SYMBOL = {
    "passed": "passed",
    "failed": "**FAILED**",
    "timed-out": "**TIMED OUT**",
    "skipped": "skipped",
    "would-run": "not run (dry run)",
    "declined": "**declined**",
    "refused": "**refused**",
    "interrupted": "**interrupted**",
    "answered": "answered",
    "confirmed": "confirmed",
}


def _record(rec: StepRecord) -> list[str]:
    out = [f"#### `{rec.step}` — {rec.title}", ""]
    effect = "changes something" if rec.changes else "read-only"
    line = f"{_SYMBOL[rec.result]} · {rec.kind} · {effect} · {rec.duration:.1f} s · {rec.started:%H:%M:%S} UTC"
    if rec.exit_code is not None:
        line += f" · exit {rec.exit_code}"
    out += [line, ""]
    if rec.command is not None:
        out += [*_fence(commands.display(rec.command), "sh"), ""]
    if rec.answer is not None:
        out += [f"Answer: `{rec.answer}`", ""]
    if rec.note:
        out += [rec.note, ""]
    if rec.output:
        cut = " (truncated: the first part was dropped)" if rec.output_truncated else ""
        out += [f"Output{cut}:", "", *_fence(rec.output), ""]
    return out


def transcript(t: Transcript) -> str:
    """The transcript as Markdown: header, then every attempt with its steps."""
    out = [f"# Run `{t.run_id}`: {t.title}", ""]
    out += [
        "| | |",
        "|---|---|",
        f"| runbook | `{t.runbook}` |",
        f"| environment | `{t.env}` |",
        f"| who | {t.user} on {t.host} |",
        f"| started | {t.started:%Y-%m-%d %H:%M:%S} UTC |",
        f"| finished | {f'{t.finished:%Y-%m-%d %H:%M:%S} UTC' if t.finished else '—'} |",
        f"| revision | `{t.revision}` |",
        f"| status | **{t.status}** |",
        f"| attempts | {len(t.attempts)} |",
        "",
    ]
    if t.inputs:
        out += ["Inputs: " + ", ".join(f"`{k}={v}`" for k, v in t.inputs.items()), ""]
    for a in t.attempts:
        flags = [f for f, on in (("--dry-run", a.dry_run), ("--yes", a.yes)) if on]
        head = f"## Attempt {a.number}: {a.status}"
        if a.signal:
            head += f" by {a.signal}"
        out += [head, ""]
        out.append(
            f"Started {a.started:%Y-%m-%d %H:%M:%S} UTC"
            + (f", flags {' '.join(flags)}" if flags else "")
        )
        if a.resumed_from:
            out[-1] += f", resumed from step `{a.resumed_from}`"
        if a.start_at:
            out[-1] += f", started at step `{a.start_at}` (--from)"
        out[-1] += "." if a.interactive else " (not interactive)."
        out.append("")
        if a.note:
            out += [a.note, ""]
        for rec in a.steps:
            out += _record(rec)
    return "\n".join(out).rstrip("\n") + "\n"
