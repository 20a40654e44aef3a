"""Scenario files (``rehearsals/<name>.yaml``): the typed schema and its parser.

Rule: pure (text in, frozen models out). Every error is one line naming the file, the line
and the field path, as for runbooks and environments. Durations are in *production*
seconds; a rehearsal divides them by the scenario's ``time_factor``.

A scenario is a list of acts. Each act may inject one fault, may run the scenario's runbook
once the fault is detected, and lists what must be observed. An expectation is one of:

- ``check: ID`` with ``is: fail|pass``: a verify check reaches that result;
- ``metric: NAME`` with ``above:`` or ``at_most:``: a sampled series crosses a bound (with
  ``throughout: true``: keeps it in every sample until the deadline);
- ``runbook: succeeded``: the runbook's run ended with every step it ran passing;
- ``step: ID``: that runbook step ran and passed (the mitigation itself, not a skip);
- ``recovered: [ID, ...]``: every listed check passes again (and stays so for the act's end).

``within`` is a deadline in production seconds, or ``{setting: dotted.path, plus: N}`` read
from the environment (e.g. PgBouncer's ``idle_transaction_timeout``), counted from the
fault (``after: fault``, the default) or from the end of the runbook (``after: runbook``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    model_validator,
)

from akops.errors import ScenarioError
from akops.yamldoc import Document, Slug, named_mapping, validated

Text = Annotated[str, Field(min_length=1)]

FaultKind = Literal["boot-storm", "shm-fill", "surge", "pgbouncer-kill"]
Metric = Literal[
    "cl_waiting",
    "cl_active",
    "server_connections",
    "pg_connections",
    "pg_free",
    "lock_waiters",
    "ghosts",
    "shm_used_pct",
    "acquire_p99_ms",
    "errors",
    "requests",
    "lost_clients",
]
#: Check families a rehearsal can evaluate against its own services (the others need a
#: cluster or an Authentik HTTP server).
FAMILIES: frozenset[str] = frozenset({"db", "pgbouncer", "shm"})


def _rehearsable(check: str) -> str:
    from akops.verify import registry

    if check not in registry.BY_ID:
        raise ValueError(f"no such check {check!r} (known: {', '.join(registry.IDS)})")
    if check.split(".", 1)[0] not in FAMILIES or registry.BY_ID[check].scope == "cluster":
        raise ValueError(
            f"{check} cannot run against a rehearsal (families it can: {', '.join(sorted(FAMILIES))})"
        )
    return check


CheckId = Annotated[str, AfterValidator(_rehearsable)]


class Model(BaseModel):
    # strict: a YAML `true` is no replica count, `"3"` no port; lax coercion hid both.
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class Setting(Model):
    """A deadline taken from the environment: ``setting`` (dotted path) plus ``plus`` seconds."""

    setting: Annotated[str, Field(pattern=r"^[a-z_]+(\.[a-z_]+)+$")]
    plus: float = Field(default=0, ge=0)


Deadline = Annotated[float, Field(gt=0)] | Setting


KINDS = ("check", "metric", "runbook", "step", "recovered")


class Expectation(Model):
    id: Slug
    title: Text
    check: CheckId | None = None
    is_: Literal["fail", "pass"] | None = Field(default=None, alias="is")
    metric: Metric | None = None
    above: float | None = None
    at_most: float | None = None
    runbook: Literal["succeeded"] | None = None
    step: Slug | None = None
    recovered: list[CheckId] | None = Field(default=None, min_length=1)
    within: Deadline | None = None
    after: Literal["fault", "runbook"] = "fault"
    #: metric: every sample from the reference point to the deadline keeps the bound
    #: (instead of "reaches it once")
    throughout: bool = False

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, strict=True)

    @property
    def kind(self) -> str:
        for kind in KINDS:
            if getattr(self, kind) is not None:
                return kind
        raise AssertionError("validated expectations have a kind")

    @model_validator(mode="after")
    def _one_kind(self) -> Expectation:
        kinds = [k for k in KINDS if getattr(self, k)]
        if len(kinds) != 1:
            found = ", ".join(kinds) or "none"
            raise ValueError(
                f"an expectation is exactly one of {', '.join(KINDS)} (found: {found})"
            )
        kind = kinds[0]
        if (kind == "check") != (self.is_ is not None):
            raise ValueError("'is: fail|pass' goes with 'check' and only with it")
        if kind == "metric" and (self.above is None) == (self.at_most is None):
            raise ValueError("a metric expectation needs exactly one of 'above' or 'at_most'")
        if kind != "metric" and (self.above is not None or self.at_most is not None):
            raise ValueError("'above' and 'at_most' go with 'metric'")
        if self.throughout and kind != "metric":
            raise ValueError("'throughout' goes with 'metric'")
        if kind in ("check", "metric", "recovered") and self.within is None:
            raise ValueError(f"a {kind} expectation needs a deadline ('within')")
        return self


class Fault(Model):
    kind: FaultKind
    #: boot-storm: the migration's lock holder is frozen (SIGSTOP) mid-transaction.
    freeze_holder: bool = True
    #: shm-fill: sessions written per production minute, their size and their maximum age.
    sessions_per_minute: float = Field(default=18, gt=0)
    session_bytes: int = Field(default=1536, ge=1)
    session_max_age: float = Field(default=7 * 86400, gt=0, description="production seconds")
    #: shm-fill: the tmpfs size; "patched" is the size the rendered outpost patch sets,
    #: anything else a Kubernetes quantity (64Mi: a container's default /dev/shm).
    shm: str = "patched"
    #: surge: extra pods of each Deployment during a rollout (the rendered maxSurge).
    surge_pods: int = Field(default=1, ge=0)
    #: pgbouncer-kill: which replica (0-based) is killed.
    replica: int = Field(default=0, ge=0)


class Act(Model):
    id: Slug
    title: Text
    #: Production seconds the act runs before its fault (steady state) and at most in all.
    settle: float = Field(default=0, ge=0)
    duration: float = Field(gt=0, description="production seconds the act observes at most")
    fault: Fault | None = None
    #: Run the scenario's runbook once every expectation of kind ``check: …, is: fail`` held.
    run_runbook: bool = False
    #: Observe for the whole ``duration`` even when every expectation already holds (for
    #: "stays so" expectations: a defence must hold over the whole window).
    run_to_end: bool = False
    expect: list[Expectation] = Field(min_length=1)

    @model_validator(mode="after")
    def _runbook_after(self) -> Act:
        if not self.run_runbook and any(
            e.runbook is not None or e.step is not None or e.after == "runbook" for e in self.expect
        ):
            raise ValueError("expectations about the runbook need 'run_runbook: true'")
        return self


class Topology(Model):
    """What a rehearsal starts; counts come from the environment."""

    postgres: bool = True
    pgbouncer: bool = True
    load: bool = True
    shm: bool = False


class Scenario(Model):
    name: Slug
    title: Text
    summary: Text
    incident: str | None = Field(default=None, description="date of the incident it replays")
    runbook: Slug | None = None
    #: Production seconds per rehearsal second: timeouts and durations are divided by it.
    time_factor: float = Field(gt=0, le=100000)
    #: Size scale of the tmpfs (shm scenarios): sizes are divided by it, fill rates too.
    size_factor: float = Field(default=1, ge=1)
    defence: Text = Field(description="what in the configuration prevents this incident")
    topology: Topology = Topology()
    acts: list[Act] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        ids = [a.id for a in self.acts]
        if len(set(ids)) != len(ids):
            raise ValueError("act ids must be unique")
        exp = [e.id for a in self.acts for e in a.expect]
        if len(set(exp)) != len(exp):
            raise ValueError("expectation ids must be unique across the scenario")
        if any(a.run_runbook for a in self.acts) and self.runbook is None:
            raise ValueError("an act runs the runbook, but the scenario names none ('runbook')")
        if any(a.fault and a.fault.kind == "shm-fill" for a in self.acts) and not self.topology.shm:
            raise ValueError("an shm-fill fault needs 'topology: {shm: true}'")
        return self


def parse(text: str, source: str, name: str) -> tuple[Scenario, Document]:
    """Parse and validate one scenario; ``name`` is its file's stem."""
    doc = named_mapping(text, source, name, ScenarioError)
    # pydantic names union members in locations (``float``, ``Setting``); the file does not.
    scenario = validated(
        Scenario, {**doc.data, "name": name}, doc, ScenarioError, frozenset({"Setting", "float"})
    )
    return scenario, doc
