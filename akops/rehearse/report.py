"""The report of one rehearsal: Markdown for people, JSON for CI.

Rule: pure values and text. Times are given in production seconds (the rehearsal's
seconds × the time factor) unless a field says ``wall``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TopologyOut(Model):
    postgres_max_connections: int | None
    pgbouncers: int
    pool_per_pgbouncer: int | None
    pool_total: int | None
    pgbouncer_config: str
    config_notes: list[str]
    pods: int
    threads: int
    conn_max_age_wall: float
    shm_bytes: int | None
    shm_source: str | None


class StepOut(Model):
    step: str
    action: str
    reason: str
    result: str | None
    duration: float | None


class ActOut(Model):
    id: str
    title: str
    fault: str | None
    #: production seconds from the fault to the first failing check
    detection: float | None
    #: real (wall) seconds the runbook took: operator tools run unscaled
    runbook_seconds: float | None
    #: production seconds to recovery: from the runbook's end when it ran, else from the fault
    recovery: float | None
    runbook_status: str | None
    runbook_transcript: str | None
    steps: list[StepOut]


class ExpectationOut(Model):
    id: str
    act: str
    title: str
    held: bool
    after: float | None
    detail: str


class EventOut(Model):
    wall: float
    production: float
    act: str
    kind: str
    text: str


class Report(Model):
    scenario: str
    title: str
    incident: str | None
    env: str
    runbook: str | None
    defence: str
    time_factor: float
    size_factor: float
    started: str
    wall_seconds: float
    topology: TopologyOut
    acts: list[ActOut]
    expectations: list[ExpectationOut]
    events: list[EventOut]
    plot: str | None
    measurements: dict[str, float]

    @property
    def ok(self) -> bool:
        return all(e.held for e in self.expectations)

    @property
    def failed(self) -> list[ExpectationOut]:
        return [e for e in self.expectations if not e.held]

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def result_line(self) -> str:
        if self.ok:
            return f"REHEARSAL RESULT: PASS ({len(self.expectations)} expectations held)"
        names = ", ".join(f"{e.id} ({e.detail})" for e in self.failed)
        return f"REHEARSAL RESULT: FAIL: {len(self.failed)} expectation(s) did not hold: {names}"


def _s(value: float | None) -> str:
    return "—" if value is None else f"{value:g} s"


def markdown(r: Report) -> str:
    t = r.topology
    lines = [
        f"# Rehearsal: {r.title}",
        "",
        f"- scenario `{r.scenario}` on environment `{r.env}`, started {r.started}",
        f"- incident replayed: {r.incident or '—'}; runbook: `{r.runbook or '—'}`",
        f"- time compressed {r.time_factor:g}×: {r.wall_seconds:.1f} s here stand for "
        f"{r.wall_seconds * r.time_factor:.0f} s of production time; every time below is "
        "production time",
        f"- defence under test: {r.defence}",
        f"- **{r.result_line()}**",
        "",
        "## Topology",
        "",
        f"- PostgreSQL, max_connections {t.postgres_max_connections}"
        if t.postgres_max_connections
        else "- no PostgreSQL",
        f"- {t.pgbouncers} PgBouncer(s) from {t.pgbouncer_config}, pool "
        f"{t.pool_per_pgbouncer} each ({t.pool_total} in all)"
        if t.pgbouncers
        else "- no PgBouncer",
        f"- load: {t.pods} pods, {t.threads} threads with persistent connections "
        f"(CONN_MAX_AGE {t.conn_max_age_wall:g} s here)"
        if t.pods
        else "- no load",
    ]
    if t.shm_bytes is not None:
        lines.append(f"- tmpfs of {t.shm_bytes} bytes ({t.shm_source})")
    lines += [f"- note: {n}" for n in t.config_notes]
    lines += ["", "## Acts", ""]
    lines += [
        "| act | fault | fault → detection | runbook (real time) | → recovery | runbook result |",
        "|---|---|---|---|---|---|",
    ]
    for a in r.acts:
        since = "after the runbook" if a.runbook_seconds is not None else "after the fault"
        recovery = f"{_s(a.recovery)} {since}" if a.recovery is not None else "—"
        lines.append(
            f"| {a.id}: {a.title} | {a.fault or '—'} | {_s(a.detection)} | "
            f"{_s(a.runbook_seconds)} | {recovery} | {a.runbook_status or '—'} |"
        )
    lines += ["", "## Expectations", "", "| expectation | act | held | when | evidence |"]
    lines.append("|---|---|---|---|---|")
    for e in r.expectations:
        mark = "yes" if e.held else "**NO**"
        lines.append(f"| `{e.id}`: {e.title} | {e.act} | {mark} | {_s(e.after)} | {e.detail} |")
    for a in r.acts:
        if not a.steps:
            continue
        lines += ["", f"## Runbook steps ({a.id})", ""]
        if a.runbook_transcript:
            lines += [f"Transcript: `{a.runbook_transcript}`", ""]
        lines += ["| step | action | why | result | seconds (wall) |", "|---|---|---|---|---|"]
        for s in a.steps:
            dur = "—" if s.duration is None else f"{s.duration:.1f}"
            lines.append(f"| {s.step} | {s.action} | {s.reason} | {s.result or '—'} | {dur} |")
    lines += ["", "## Timeline", "", "| time | act | event |", "|---|---|---|"]
    for ev in r.events:
        lines.append(f"| {ev.production:.0f} s | {ev.act} | {ev.kind}: {ev.text} |")
    if r.measurements:
        lines += ["", "## Measurements", ""]
        lines += [f"- {k}: {v:g}" for k, v in sorted(r.measurements.items())]
    if r.plot:
        lines += ["", "## Series", "", f"![series]({r.plot})"]
    return "\n".join(lines) + "\n"
