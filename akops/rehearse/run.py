"""One rehearsal from start to report: start the data path, run the acts, judge, write.

Rule: I/O orchestration. Everything started is entered into one ``ExitStack`` (processes
through the process helper, threads that stop on an event, the tmpfs), so the rehearsal
leaves nothing behind on success, failure or interrupt; the caller wraps it in
``process.signal_guard``. Errors that mean "could not run" are ``AkopsError`` (exit 2);
expectations that did not hold make the report's exit code 1.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import yaml
from rich.console import Console

from akops.environment import Environment, load_environment
from akops.errors import InputError
from akops.layout import Layout
from akops.rehearse import inject, judge, plot, read, respond, start, topology
from akops.rehearse.drive import Credentials, Endpoints, Fleet
from akops.rehearse.observe import Observer, Targets
from akops.rehearse.report import (
    ActOut,
    EventOut,
    ExpectationOut,
    Report,
    StepOut,
    TopologyOut,
    markdown,
)
from akops.rehearse.scenario import Act, Scenario
from akops.rehearse.timeline import ActRecord, Event, EventKind, Timeline
from akops.requests import RehearseRequest
from akops.yamldoc import read_text

#: Wall seconds an act keeps watching after all its expectations held (so "recovered"
#: means "stayed recovered", not "passed once").
HOLD = 1.5
#: Wall seconds between two requests of one load thread.
THINK = 0.5
#: Wall seconds the first migration after a storm takes.
MIGRATION = 0.5


@dataclass(frozen=True)
class Options:
    scenario: str
    env: str
    out: Path | None = None
    pgbouncer_ini: Path | None = None
    shm_size: str | None = None
    max_connections: int | None = None
    pgbouncer_replicas: int | None = None
    #: the rehearsal's database password (default: a new random one; tests give a canary)
    password: str | None = field(default=None, repr=False)
    #: run only these acts (all when empty)
    acts: tuple[str, ...] = ()
    seed: int = 0

    @classmethod
    def of(cls, req: RehearseRequest) -> Options:
        """The options of ``invoke rehearse``'s request (paths relative to where it ran)."""
        return cls(
            scenario=req.scenario,
            env=req.env,
            out=Path(req.out).resolve() if req.out else None,
            pgbouncer_ini=Path(req.pgbouncer_ini).resolve() if req.pgbouncer_ini else None,
            shm_size=req.shm_size or None,
            max_connections=req.max_connections,
            pgbouncer_replicas=req.pgbouncer_replicas,
            acts=req.act,
        )


@dataclass
class _Config:
    ini: str
    userlist: str
    label: str
    notes: list[str] = field(default_factory=list)
    patches: dict[str, object] | None = None


def _config(layout: Layout, env: Environment, opts: Options) -> _Config:
    from akops.render import render_env

    _, stack = render_env(layout, env.name)
    files = stack.by_name()
    ini = yaml.safe_load(files["pgbouncer-configmap.yaml"])["data"]["pgbouncer.ini"]
    userlist = yaml.safe_load(files["pgbouncer-secret.yaml"])["stringData"]["userlist.txt"]
    patches = (
        yaml.safe_load(files["outpost-patches.yaml"]) if "outpost-patches.yaml" in files else None
    )
    label = f"the rendered pgbouncer.ini of {env.name}"
    if opts.pgbouncer_ini is not None:
        ini = read_text(opts.pgbouncer_ini, flag="--pgbouncer-ini")
        if "[pgbouncer]" not in ini or "[databases]" not in ini:
            raise InputError(
                f"{opts.pgbouncer_ini}: not a pgbouncer.ini ([databases] and [pgbouncer] needed)"
            )
        label = f"{opts.pgbouncer_ini}"
    return _Config(ini, userlist, label, patches=patches)


class Rehearsal:
    def __init__(self, layout: Layout, opts: Options, console: Console) -> None:
        self.layout = layout
        self.opts = opts
        self.console = console
        self.scenario: Scenario = read.find(layout.rehearsals, opts.scenario)
        self.env = load_environment(opts.env, layout.environments)
        respond.password_variable(self.env)  # fail before starting anything
        self.scale = topology.Scale(self.scenario.time_factor)
        #: db.idle-in-transaction's threshold, scaled (whole seconds: the check takes an int)
        self.idle_seconds = max(
            1, round(self.scale.wall(self.env.verify.idle_in_transaction_max_seconds))
        )
        known = [a.id for a in self.scenario.acts]
        for wanted in opts.acts:
            if wanted not in known:
                raise InputError(
                    f"--act {wanted}: no such act in {opts.scenario} (acts: {', '.join(known)})"
                )
        self.acts = [a for a in self.scenario.acts if not opts.acts or a.id in opts.acts]
        self.config = _config(layout, self.env, opts)
        self.timeline = Timeline()
        self.t0 = time.monotonic()
        self.started = datetime.now(UTC).replace(microsecond=0)
        stamp = self.started.strftime("%Y%m%dT%H%M%SZ")
        self.out = (
            opts.out or layout.root / "runs" / "rehearsals" / f"{stamp}-{opts.scenario}-{opts.env}"
        )
        self.password = opts.password or secrets.token_urlsafe(18)
        self.creds = Credentials(self.env.upstream.user, self.env.upstream.database, self.password)
        self.acts_out: list[ActOut] = []
        self.verdicts: list[judge.Verdict] = []
        self.measurements: dict[str, float] = {}

    # -- clock and events ---------------------------------------------------------------

    def clock(self) -> float:
        return time.monotonic() - self.t0

    def event(self, act: str, kind: EventKind, text: str, t: float | None = None) -> None:
        ev = Event(self.clock() if t is None else t, act, kind, text)
        self.timeline.events.append(ev)
        self.console.print(
            f"[{ev.t * self.scale.factor:7.0f} s] {act}: {kind}: {text}",
            markup=False,
            highlight=False,
        )

    # -- the whole run ------------------------------------------------------------------

    def run(self) -> Report:
        s = self.scenario
        self.console.print(
            f"Rehearsal {s.name} on {self.env.name}: {s.title} (time ×{s.time_factor:g})",
            style="bold",
            highlight=False,
        )
        self.out.mkdir(parents=True, exist_ok=True)
        with contextlib.ExitStack() as stack:
            work = stack.enter_context(start.workdir())
            self._start(stack, work)
            for act in self.acts:
                self._act(stack, work, act)
        return self._report()

    def _start(self, stack: contextlib.ExitStack, work: Path) -> None:
        s, env = self.scenario, self.env
        self.pg: start.Postgres | None = None
        self.bouncers: list[start.Bouncer] = []
        self.adjust: Callable[[str, dict[str, str]], str] | None = None
        #: the PgBouncer the runbook's checks look at (a port-forward reaches one pod)
        self.focus: start.Bouncer | None = None
        #: clients of the load still on a killed PgBouncer (pgbouncer-kill)
        self.lost: Callable[[], int] | None = None
        self.fleet: Fleet | None = None
        settings = topology.settings_of(self.config.ini)
        self.replicas = self.opts.pgbouncer_replicas or env.pgbouncer.replicas
        self.pool = topology.pool_capacity(settings, self.replicas)
        if s.topology.postgres:
            max_conn = self.opts.max_connections or env.upstream.max_connections
            try:
                self.pg = start.start_postgres(
                    stack, work, env.upstream.user, env.upstream.database, max_conn, self.password
                )
            except start.StartError as e:
                if self.opts.max_connections is None:
                    raise
                # In range, yet more than this machine gives PostgreSQL: the flag is the why.
                raise start.StartError(
                    f"--max-connections {self.opts.max_connections}: PostgreSQL did not start "
                    f"with it ({e})"
                ) from e
        if s.topology.pgbouncer:
            assert self.pg is not None
            extra: dict[str, str] = {}
            if "stats_users" not in settings and "admin_users" not in settings:
                extra["stats_users"] = env.upstream.user
                self.config.notes.append(
                    f"stats_users = {env.upstream.user} added so the rehearsal can read SHOW POOLS"
                )
            times = topology.scaled_times(self.config.ini, self.scale)
            if times:
                self.config.notes.append(
                    "time settings divided by the time factor: "
                    + ", ".join(f"{k} {settings[k]} → {v}" for k, v in sorted(times.items()))
                )
            db_extra = (
                {"password": self.password}
                if "password" in topology.database_placeholders(self.config.ini)
                else None
            )
            pg = self.pg

            def adjust(text: str, local: dict[str, str]) -> str:
                return topology.adjust_ini(
                    text, {**local, **times, **extra}, (pg.host, pg.port), db_extra
                )

            self.adjust = adjust
            for i in range(self.replicas):
                self.bouncers.append(
                    start.start_pgbouncer(
                        stack, work, i, self.config.ini, self.config.userlist, self.password, adjust
                    )
                )
        self.endpoints = Endpoints([b.address for b in self.bouncers], seed=self.opts.seed)
        self.shape = topology.load_shape(env, self.scale)
        if s.topology.load and self.bouncers:
            self.fleet = Fleet(
                self.shape,
                self.endpoints,
                self.creds,
                think=THINK,
                migration_seconds=MIGRATION,
                seed=self.opts.seed,
            )
            self.fleet.start()
            stack.callback(self.fleet.stop)
        wanted = sorted(
            {e.check for a in self.acts for e in a.expect if e.check}
            | {c for a in self.acts for e in a.expect for c in (e.recovered or [])}
        )
        self.shm_path = work / "dev-shm" if s.topology.shm else None
        self.outpost: inject.OutpostPod | None = None
        self.shm_bytes: int | None = None
        self.shm_source: str | None = None
        if self.shm_path is not None:
            self.shm_path.mkdir()
        # The checks read their thresholds from the environment: the time-based ones, scaled.
        verify = env.verify.model_copy(
            update={
                "idle_in_transaction_max_seconds": self.idle_seconds,
            }
        )
        targets = Targets(
            env=env.model_copy(update={"verify": verify}),
            postgres=self.pg,
            bouncers=[b.address for b in self.bouncers],
            creds=self.creds if self.bouncers else None,
            stats=self.fleet.stats if self.fleet else None,
            lost=lambda: self.lost() if self.lost is not None else 0,
            shm=self.shm_path,
            checks=wanted,
        )
        self.observer = stack.enter_context(
            Observer(targets, self.timeline, self.clock, endpoints=self.endpoints)
        )

    # -- one act ------------------------------------------------------------------------

    def _act(self, stack: contextlib.ExitStack, work: Path, act: Act) -> None:
        rec = ActRecord(act.id, self.clock())
        self.timeline.acts.append(rec)
        self.event(act.id, "act-start", act.title)
        if self.fleet is not None and not self.fleet.rolled_out():
            self._wait(self.fleet.rolled_out, 30)
        time.sleep(self.scale.wall(act.settle))
        injected: inject.Injected | None = None
        if act.fault is not None:
            injected = self._inject(stack, work, act)
            rec.fault = self.clock()
            self.event(act.id, "fault", injected.description)
        ref = rec.fault if rec.fault is not None else rec.start
        limit = ref + self.scale.wall(act.duration)
        steps_out: list[StepOut] = []
        transcript: str | None = None
        if act.run_runbook:
            detect = [e for e in act.expect if e.check is not None and e.is_ == "fail"]

            def detected() -> bool:
                rec.end = self.clock()
                return all(
                    judge.judge(e, act, rec, self.timeline, self.env, self.scale).held
                    for e in detect
                )

            self._wait(detected, max(0.0, limit - self.clock()))
            rec.end = None
            self.event(act.id, "detected", ", ".join(e.check or "" for e in detect) + " failing")
            rec.runbook_start = self.clock()
            self.event(act.id, "runbook-start", f"runbook {self.scenario.runbook}")
            response = self._respond(work, act, injected)
            rec.runbook_end = self.clock()
            rec.runbook_status = response.status
            self.event(act.id, "runbook-end", f"runbook {response.status}")
            ran = {step: (result, dur) for step, result, dur in response.results}
            rec.runbook_steps = {step: result for step, (result, _) in ran.items()}
            transcript = self.layout.rel(response.transcript)
            for p in response.plan:
                result, dur = ran.get(p.step, (None, None))
                steps_out.append(
                    StepOut(
                        step=p.step, action=p.action, reason=p.reason, result=result, duration=dur
                    )
                )

        def settled() -> bool:
            rec.end = self.clock()
            return all(
                v.held for v in judge.judge_act(act, rec, self.timeline, self.env, self.scale)
            )

        if act.run_to_end:
            time.sleep(max(0.0, limit - self.clock()))
        elif self._wait(settled, max(0.0, limit - self.clock())):
            time.sleep(HOLD)
        rec.end = self.clock()
        if injected is not None:
            inject.stop_all(injected)
            self.outpost = None
            self.focus = None
            self.lost = None
        verdicts = judge.judge_act(act, rec, self.timeline, self.env, self.scale)
        self.verdicts.extend(verdicts)
        recovered = [
            v for v in verdicts if v.held and any(e.id == v.id and e.recovered for e in act.expect)
        ]
        detection = judge.first_detection(rec, self.timeline, self.scale)
        recovery = None
        if recovered and rec.fault is not None and detection is not None:
            # From the fault, or from the runbook's end when it ran: the runbook runs in real
            # time, so its duration is reported apart (runbook_seconds), never scaled.
            e = next(x for x in act.expect if x.id == recovered[0].id)
            after_runbook = e.after == "runbook" and rec.runbook_end is not None
            base = rec.runbook_end if after_runbook and rec.runbook_end is not None else rec.fault
            recovery = recovered[0].after or 0.0
            self.event(
                act.id,
                "recovered",
                f"{', '.join(e.recovered or [])} pass again",
                base + recovery / self.scale.factor,
            )
        runbook_seconds = (
            round(rec.runbook_end - rec.runbook_start, 1)
            if rec.runbook_end is not None and rec.runbook_start is not None
            else None
        )
        for v in verdicts:
            self.console.print(
                f"  {'held' if v.held else 'DID NOT HOLD'}: {v.id}: {v.detail}",
                style="green" if v.held else "bold red",
                markup=False,
                highlight=False,
            )
        self.event(act.id, "act-end", "")
        self.acts_out.append(
            ActOut(
                id=act.id,
                title=act.title,
                fault=act.fault.kind if act.fault else None,
                detection=detection,
                runbook_seconds=runbook_seconds,
                recovery=recovery,
                runbook_status=rec.runbook_status,
                runbook_transcript=transcript,
                steps=steps_out,
            )
        )

    def _wait(self, condition: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return True
            time.sleep(0.1)
        return condition()

    def _inject(self, stack: contextlib.ExitStack, work: Path, act: Act) -> inject.Injected:
        fault = act.fault
        assert fault is not None
        if fault.kind == "boot-storm":
            assert self.fleet is not None
            return inject.boot_storm(
                stack,
                self.fleet,
                self.endpoints,
                self.creds,
                work,
                freeze=fault.freeze_holder,
                act=act.id,
            )
        if fault.kind == "surge":
            assert self.fleet is not None
            extra = topology.surge_pods(self.env, fault.surge_pods)
            self.fleet.add(extra)
            threads = sum(p.threads for p in extra)
            return inject.Injected(
                f"a rollout adds {len(extra)} surge pods ({threads} threads): "
                f"{self.shape.threads + threads} persistent connections against a pool of "
                f"{self.pool} and max_connections {self.pg.max_connections if self.pg else '-'}"
            )
        if fault.kind == "pgbouncer-kill":
            if fault.replica >= len(self.bouncers):
                raise InputError(
                    f"fault pgbouncer-kill: replica {fault.replica}, but {self.env.name} has "
                    f"{len(self.bouncers)} PgBouncer(s)"
                )
            victim = self.bouncers[fault.replica]
            probe = self.env.pgbouncer.readiness
            injected, _ = inject.pgbouncer_kill(
                stack,
                victim,
                self.endpoints,
                lambda st: self._restart_bouncer(st, work, victim),
                readiness=self.scale.wall(probe.period * probe.failures),
                workdir=work / f"pgbouncer-{act.id}",
            )
            self.focus = victim
            self.lost = lambda: self.fleet.clients_on(victim.address) if self.fleet else 0
            return injected
        if fault.kind == "shm-fill":
            assert self.shm_path is not None
            size, source = self._shm_size(fault.shm)
            self.shm_bytes, self.shm_source = size, source
            f = self.scale.factor
            injected, self.outpost = inject.shm_fill(
                stack,
                self.shm_path,
                size,
                rate=fault.sessions_per_minute / 60 * f / self.scenario.size_factor,
                session_bytes=fault.session_bytes,
                max_age=self.scale.wall(fault.session_max_age),
                workdir=work / f"outpost-{act.id}",
                source=source,
            )
            return injected
        raise InputError(f"fault {fault.kind!r} is not implemented yet")

    def _restart_bouncer(
        self, stack: contextlib.ExitStack, work: Path, old: start.Bouncer
    ) -> start.Bouncer:
        """The same PgBouncer again: same config, same port (its Service endpoint)."""
        assert self.adjust is not None
        return start.start_pgbouncer(
            stack,
            work,
            old.index,
            self.config.ini,
            self.config.userlist,
            self.password,
            self.adjust,
            port=old.port,
        )

    def _shm_size(self, wanted: str) -> tuple[int, str]:
        """The tmpfs size (bytes, scaled) and where it comes from."""
        s = self.scenario
        if wanted == "patched":
            if self.opts.shm_size:
                quantity, source = self.opts.shm_size, f"--shm-size {self.opts.shm_size}"
            else:
                patched = topology.patched_shm_size(self.config.patches)
                quantity = patched or topology.DEFAULT_SHM
                source = (
                    f"the rendered outpost patch's sizeLimit {patched}"
                    if patched
                    else f"no /dev/shm patch rendered: the {topology.DEFAULT_SHM} default"
                )
        else:
            quantity, source = wanted, f"{wanted}, the pod before the fix"
        try:
            size = topology.tmpfs_bytes(quantity, s.size_factor)
        except ValueError as e:
            raise InputError(f"/dev/shm size: {e}") from e
        return size, f"{source}, divided by {s.size_factor:g}"

    def _respond(self, work: Path, act: Act, injected: inject.Injected | None) -> respond.Response:
        assert self.scenario.runbook is not None
        inputs: dict[str, str] = {}
        verify_args = ["--target", "local"]
        if self.pg is not None:
            inputs |= {"db_host": self.pg.host, "db_port": str(self.pg.port)}
            inputs["idle_seconds"] = str(self.idle_seconds)
        if self.bouncers:
            first = self.focus or self.bouncers[0]
            inputs["pgbouncer_port"] = str(first.port)
            verify_args += ["--pgbouncer", first.address]
        if self.shm_path is not None:
            verify_args += ["--shm", str(self.shm_path)]
        stand_ins = self.outpost.stand_ins() if self.outpost is not None else {}
        if injected is not None:
            stand_ins = {**injected.stand_ins, **stand_ins}
        return respond.respond(
            self.layout,
            self.env,
            self.scenario.runbook,
            inputs=inputs,
            verify_args=verify_args,
            stand_ins=stand_ins,
            shm=self.shm_path is not None,
            password=self.password,
            runs_dir=self.out / "runbook",
            console=self.console,
        )

    # -- the report ---------------------------------------------------------------------

    def _report(self) -> Report:
        s, env = self.scenario, self.env
        f = self.scale.factor
        plot_path = plot.write(self.timeline, f, self.out / "series.png", f"{s.title} ({env.name})")
        settings = topology.settings_of(self.config.ini)
        per = (
            int(settings.get("default_pool_size", "20"))
            + int(settings.get("reserve_pool_size", "0"))
            if self.bouncers
            else None
        )
        if self.fleet is not None:
            acquired = self.fleet.stats.all_acquire
            from akops.rehearse.drive import percentile

            surge = sum(p.shape.threads for p in self.fleet.pods) - self.shape.threads
            # lint's db.capacity figures, for holding the measurements against them
            self.measurements |= {
                "capacity_threads_steady": float(self.shape.threads),
                "capacity_threads_with_surge": float(self.shape.threads + max(0, surge)),
                "capacity_pool_total": float(self.pool),
                "acquire_p50_ms": round(percentile(acquired, 50), 2),
                "acquire_p99_ms": round(percentile(acquired, 99), 2),
                "acquire_max_ms": round(max(acquired, default=0.0), 2),
            }
        series = {k for x in self.timeline.samples for k in x.values}
        seen_free = [x.values["pg_free"] for x in self.timeline.samples if "pg_free" in x.values]
        if seen_free:
            self.measurements["min_pg_free"] = min(seen_free)
        for key in sorted(
            {"cl_waiting", "server_connections", "pg_connections", "lock_waiters", "shm_used_pct"}
            | {k for k in series if k.startswith("server_connections_")}
        ):
            seen = [x.values[key] for x in self.timeline.samples if key in x.values]
            if seen:
                self.measurements[f"max_{key}"] = max(seen)
        return Report(
            scenario=s.name,
            title=s.title,
            incident=s.incident,
            env=env.name,
            runbook=s.runbook,
            defence=s.defence,
            time_factor=f,
            size_factor=s.size_factor,
            started=self.started.isoformat(),
            wall_seconds=round(self.clock(), 1),
            topology=TopologyOut(
                postgres_max_connections=self.pg.max_connections if self.pg else None,
                pgbouncers=len(self.bouncers),
                pool_per_pgbouncer=per,
                pool_total=per * len(self.bouncers) if per is not None else None,
                pgbouncer_config=self.config.label,
                config_notes=self.config.notes,
                pods=len(self.shape.pods) if self.fleet else 0,
                threads=self.shape.threads if self.fleet else 0,
                conn_max_age_wall=round(self.shape.conn_max_age, 3),
                shm_bytes=self.shm_bytes,
                shm_source=self.shm_source,
            ),
            acts=self.acts_out,
            expectations=[
                ExpectationOut(
                    id=v.id, act=v.act, title=v.title, held=v.held, after=v.after, detail=v.detail
                )
                for v in self.verdicts
            ],
            events=[
                EventOut(
                    wall=round(e.t, 2),
                    production=round(e.t * f, 1),
                    act=e.act,
                    kind=e.kind,
                    text=e.text,
                )
                for e in self.timeline.events
            ],
            plot=plot_path.name if plot_path else None,
            measurements=self.measurements,
        )


def rehearse(layout: Layout, opts: Options, console: Console) -> tuple[Report, Path]:
    """Run one rehearsal; the report and the directory it was written to."""
    r = Rehearsal(layout, opts, console)
    report = r.run()
    (r.out / "report.md").write_text(markdown(report), encoding="utf-8")
    (r.out / "report.json").write_text(report.model_dump_json(indent=2), encoding="utf-8")
    return report, r.out
