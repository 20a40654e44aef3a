"""Holding a scenario's expectations against what a rehearsal observed.

Rule: pure. Every verdict says when (production seconds after its reference point: the
fault, or the runbook's end) and why, so a failed expectation names itself and its evidence.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pydantic import BaseModel

from akops.environment import Environment
from akops.rehearse.scenario import Act, Expectation, Setting
from akops.rehearse.timeline import ActRecord, Timeline
from akops.rehearse.topology import Scale


@dataclass(frozen=True)
class Verdict:
    id: str
    title: str
    act: str
    held: bool
    #: production seconds after the reference point when it held (None: it did not)
    after: float | None
    detail: str


def setting(env: Environment, path: str) -> float:
    """A numeric field of the environment by dotted path (``pgbouncer.settings.x``)."""
    value: object = env
    for part in path.split("."):
        if not isinstance(value, BaseModel) or part not in type(value).model_fields:
            raise KeyError(path)
        value = getattr(value, part)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise KeyError(path)
    return float(value)


def deadline(e: Expectation, env: Environment) -> float | None:
    """The expectation's deadline in production seconds (None: no deadline)."""
    if e.within is None:
        return None
    if isinstance(e.within, Setting):
        return setting(env, e.within.setting) + e.within.plus
    return float(e.within)


def _reference(e: Expectation, rec: ActRecord) -> float | None:
    if e.after == "runbook":
        return rec.runbook_end
    return rec.fault if rec.fault is not None else rec.start


def judge_act(
    act: Act, rec: ActRecord, timeline: Timeline, env: Environment, scale: Scale
) -> list[Verdict]:
    return [judge(e, act, rec, timeline, env, scale) for e in act.expect]


def judge(
    e: Expectation, act: Act, rec: ActRecord, timeline: Timeline, env: Environment, scale: Scale
) -> Verdict:
    def verdict(held: bool, after: float | None, detail: str) -> Verdict:
        return Verdict(e.id, e.title, act.id, held, after, detail)

    if e.runbook is not None:
        status = rec.runbook_status or "not run"
        return verdict(status == "succeeded", None, f"runbook run {status}")
    if e.step is not None:
        result = rec.runbook_steps.get(e.step, "not run")
        return verdict(result == "passed", None, f"runbook step {e.step} {result}")
    ref = _reference(e, rec)
    if ref is None:
        return verdict(False, None, "the runbook did not run, so nothing was measured after it")
    limit = deadline(e, env)
    assert limit is not None
    end = min(ref + scale.wall(limit), rec.end if rec.end is not None else float("inf"))
    shown = f"{limit:g} s"

    def at(t: float) -> float:
        return round(scale.production(t - ref), 1)

    if e.check is not None:
        want_ok = e.is_ == "pass"
        seen = timeline.checks_between(e.check, ref, end)
        for c in seen:
            if c.ok == want_ok:
                return verdict(
                    True, at(c.t), f"{e.check} {e.is_}ed after {at(c.t):g} s: {c.detail}"
                )
        last = f"; last: {seen[-1].detail}" if seen else "; never observed"
        return verdict(False, None, f"{e.check} did not {e.is_} within {shown}{last}")
    if e.metric is not None and e.throughout:
        return _throughout(e, ref, end, timeline, at, shown, verdict)
    if e.metric is not None:
        name = e.metric
        best: float | None = None
        for s in timeline.samples_between(ref, end):
            if name not in s.values:
                continue
            v = s.values[name]
            hit = v > e.above if e.above is not None else v <= (e.at_most or 0.0)
            if hit:
                return verdict(True, at(s.t), f"{name} = {v:g} after {at(s.t):g} s")
            best = v if best is None else (max(best, v) if e.above is not None else min(best, v))
        bound = f"> {e.above:g}" if e.above is not None else f"<= {e.at_most:g}"
        seen_text = (
            f"; {'highest' if e.above is not None else 'lowest'} seen {best:g}"
            if best is not None
            else "; never sampled"
        )
        return verdict(False, None, f"{name} never {bound} within {shown}{seen_text}")
    assert e.recovered is not None
    t, detail = _recovered(e.recovered, ref, rec, timeline)
    if t is None:
        return verdict(False, None, detail)
    if t > end:
        return verdict(
            False,
            None,
            f"{', '.join(e.recovered)} passed only after {at(t):g} s, later than {shown}",
        )
    return verdict(True, at(t), f"{', '.join(e.recovered)} pass from {at(t):g} s on")


def _throughout(
    e: Expectation,
    ref: float,
    end: float,
    timeline: Timeline,
    at: Callable[[float], float],
    shown: str,
    verdict: Callable[[bool, float | None, str], Verdict],
) -> Verdict:
    """Every sample of the metric in the window keeps the bound; the worst is the evidence."""
    name = e.metric
    assert name is not None
    seen = [(s.t, s.values[name]) for s in timeline.samples_between(ref, end) if name in s.values]
    bound = f"> {e.above:g}" if e.above is not None else f"<= {e.at_most:g}"
    if not seen:
        return verdict(False, None, f"{name} was never sampled within {shown}")
    if e.above is not None:
        t, worst = min(seen, key=lambda x: x[1])
        held = worst > e.above
    else:
        t, worst = max(seen, key=lambda x: x[1])
        held = worst <= (e.at_most or 0.0)
    which = "lowest" if e.above is not None else "highest"
    if held:
        return verdict(True, None, f"{name} {bound} in all {len(seen)} samples ({which} {worst:g})")
    return verdict(
        False, None, f"{name} = {worst:g} at {at(t):g} s: not {bound} throughout {shown}"
    )


def _recovered(
    checks: Sequence[str], ref: float, rec: ActRecord, timeline: Timeline
) -> tuple[float | None, str]:
    """When every check passes from then on until the act ends (None, and why, if never)."""
    act_end = rec.end if rec.end is not None else float("inf")
    since: list[float] = []
    for check in checks:
        seen = timeline.checks_between(check, ref, act_end)
        if not seen:
            return None, f"{check} was never observed after the reference point"
        failing = [c.t for c in seen if not c.ok]
        after = [c for c in seen if not failing or c.t > failing[-1]]
        if not after:
            return None, f"{check} still failing at the end: {seen[-1].detail}"
        since.append(after[0].t)
    return max(since), ""


def first_detection(rec: ActRecord, timeline: Timeline, scale: Scale) -> float | None:
    """Production seconds from the fault to the first failing check (None: none failed)."""
    if rec.fault is None:
        return None
    end = rec.end if rec.end is not None else float("inf")
    for c in timeline.checks:
        if rec.fault <= c.t <= end and not c.ok:
            return round(scale.production(c.t - rec.fault), 1)
    return None
