"""What a check is: a ``Check`` value, the ``Probe``s it plans, and the values they observe.

Rule: pure values. A check is data plus functions: how it builds its probes from a
``Subject`` (the environment, the target, the resolved addresses and pods), and how it
observes one probe, declared: an ``Observation`` names what to read (one of the readers of
``akops.verify.observe``, the I/O half, given the run's ``Sources``: API client,
credentials, timeout) and holds the pure verdict on what was read. Exec checks give a
``Shell`` instead: the command and the verdict apart, so the runner can batch every exec
check of one pod into one ``kubectl exec``. The checks themselves live in
``akops.verify.checks.<family>``, one module per ID prefix, and are gathered by
``akops.verify.registry``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlencode, urljoin, urlsplit

from akops.verify.commands import ExecResult
from akops.verify.results import Outcome, failed

if TYPE_CHECKING:
    from akops.environment import Environment
    from akops.verify.query import Credentials

Scope = Literal["cluster", "any"]
TargetKind = Literal["cluster", "local"]
#: exec: a command in a pod (or here); http: one GET; api: Kubernetes API reads;
#: db: a query through PgBouncer; skip: not applicable here; absent: no pod to look at.
Kind = Literal["exec", "http", "api", "db", "skip", "absent"]

LOCAL = "local://"


@dataclass(frozen=True)
class Role:
    """A kind of pod the checks exec into, found by its label selector."""

    name: str
    selector: str
    container: str


@dataclass(frozen=True)
class Pod:
    """A running pod to exec into."""

    name: str
    namespace: str
    container: str
    node: str | None = None

    def spec(self, context: str | None = None) -> str:
        """The testinfra host spec: ``kubectl://POD?namespace=…&container=…[&context=…]``."""
        query = {"namespace": self.namespace, "container": self.container}
        if context:
            query["context"] = context
        return f"kubectl://{self.name}?{urlencode(query)}"


@dataclass(frozen=True)
class Options:
    """Operator overrides. For the local target these are the addresses of the services."""

    url: str | None = None
    outpost_url: str | None = None
    pgbouncer: str | None = None
    shm: str | None = None
    protected: tuple[str, ...] | None = None
    timeout: float | None = None
    deadline: float | None = None
    prometheus: str | None = None


@dataclass(frozen=True)
class Probe:
    """One row of the final table: a check on one target, with what observing it needs."""

    check: str
    target: str
    kind: Kind
    host: str | None = None
    args: Mapping[str, Any] = field(default_factory=dict)
    #: API reads per attempt (an API probe's timeout is this many times the API timeout)
    calls: int = 1


def skip(check: str, target: str, why: str) -> Probe:
    return Probe(check, target, "skip", args={"why": why})


@dataclass(frozen=True)
class Subject:
    """What the probes of a run are built from: the environment and the resolved targets."""

    env: Environment
    target: TargetKind
    base: str  # Authentik base URL, no trailing slash
    outpost: str  # outpost base URL; "" on the cluster target: through the API proxy
    protected: tuple[str, ...]
    pgbouncer: str  # HOST:PORT reachable from here, or ""
    shm: str
    roles: Mapping[str, Role]
    pods: Mapping[str, Sequence[Pod]] = field(default_factory=dict)
    context: str | None = None
    #: why the database checks cannot run (no credentials), if so
    no_credentials: str | None = None
    #: the Prometheus whose alerts verify reads (base URL), or "" when none is named
    prometheus: str = ""
    #: why no check can reach a container of the stack (its pods run on kwok's fake nodes)
    no_containers: str | None = None

    @property
    def namespace(self) -> str:
        return self.env.kube.namespace

    @property
    def auth_host(self) -> str:
        return urlsplit(self.base).hostname or ""

    @property
    def pgbouncer_host(self) -> str:
        return self.pgbouncer.rpartition(":")[0]

    @property
    def pgbouncer_port(self) -> int:
        return int(self.pgbouncer.rpartition(":")[2]) if self.pgbouncer else 0

    def exec_probes(
        self,
        check: str,
        roles: Iterable[str],
        target: Callable[[str], str],
        args: Mapping[str, Any],
    ) -> list[Probe]:
        """One exec probe per pod of ``roles`` (``target(pod name)`` is its row); on the local
        target one probe on this machine; a role without pods gives one failing row."""
        if self.target == "local":
            return [Probe(check, target("local"), "exec", LOCAL, args)]
        out: list[Probe] = []
        for role in roles:
            pods = self.pods.get(role, ())
            out.extend(
                Probe(check, target(p.name), "exec", p.spec(self.context), args) for p in pods
            )
            if not pods:
                why = f"no ready {role} pod matches {self.roles[role].selector}"
                out.append(Probe(check, target(f"({role} pods)"), "absent", args={"why": why}))
        return out


@dataclass(frozen=True)
class Sources:
    """What observing needs at run time, opened by the runner."""

    timeout: float
    api: Any = None  # kubernetes.client.ApiClient on the cluster target
    credentials: Credentials | None = None


@dataclass(frozen=True)
class Shell:
    """An exec check: the shell command for a probe (given a timeout for inner waits) and the
    verdict on its result, apart so that the runner can batch them."""

    command: Callable[[Mapping[str, Any], float], str]
    judge: Callable[[ExecResult, Mapping[str, Any]], Outcome]


#: What a non-exec check reads, each by one reader of ``akops.verify.observe`` (the I/O):
#: answer: an HTTP answer (a GET of ``url``; an "api" probe's through the API server's
#: service proxy); deployment, pdb: one object by ``namespace`` and ``name`` (None: not
#: found); pods: the pods of ``namespace`` matching ``selector`` (or each of ``selectors``);
#: idle-transactions, pools: a query through PgBouncer; alerts: Prometheus's active alerts.
Read = Literal["answer", "deployment", "pdb", "pods", "idle-transactions", "pools", "alerts"]


@dataclass(frozen=True)
class Observation:
    """How a non-exec check observes a probe, declared: what to read, and the pure verdict on
    what was read (given the probe). A reader that cannot read gives the failure itself."""

    read: Read
    judge: Callable[[Any, Probe], Outcome]
    #: seconds a failing verdict may take to clear: read again until then, and only a verdict
    #: that persists stands (0: the first verdict stands)
    settle: float = 0.0


@dataclass(frozen=True)
class Check:
    """One check of the registry: its stable ID and everything that makes it run."""

    id: str
    description: str
    #: "cluster" checks need the Kubernetes API and never run on the local target
    scope: Scope
    #: the probes of a run (pure), given the check's own ID and the subject
    probes: Callable[[str, Subject], Sequence[Probe]]
    #: how a non-exec probe is observed and judged; exec checks give ``shell`` instead
    observe: Observation | None = None
    shell: Shell | None = None
    #: retried until the environment's deadline while failing: after a deploy the cluster moves
    converges: bool = False
    #: ``invoke verify`` flags without which the cluster target skips this check (it cannot
    #: reach the service from here); a runbook step of this check must pass them
    needs: tuple[str, ...] = ()
    #: pod roles it execs into on the cluster target (resolved by label before planning)
    roles: tuple[str, ...] = ()
    #: whether, on the cluster target, it reads the API even though its scope is "any"
    uses_api: Callable[[Options], bool] | None = None
    #: answered by a process in the stack's own pods (Authentik's HTTP, the outpost's ping)
    served: bool = False

    def __post_init__(self) -> None:
        if (self.observe is None) == (self.shell is None):
            raise ValueError(f"check {self.id}: give exactly one of observe and shell")

    def plan(self, subject: Subject) -> Sequence[Probe]:
        """This check's probes for a run."""
        return self.probes(self.id, subject)

    @property
    def needs_container(self) -> bool:
        """Whether it needs a running container of the stack: an exec, or an answer from one."""
        return self.served or self.shell is not None

    def needs_api(self, options: Options) -> bool:
        if self.scope == "cluster" or self.roles:
            return True
        return self.uses_api is not None and self.uses_api(options)


# --- observations shared by several families ----------------------------------------------


@dataclass(frozen=True)
class Answer:
    """An HTTP answer (never following redirects), or why there was none."""

    url: str
    status: int | None = None
    reason: str = ""
    location: str | None = None
    body: str = ""
    error: str | None = None

    def describe(self) -> str:
        if self.status is None:
            return self.error or "no answer"
        text = f"{self.status} {self.reason}".strip()
        if self.location:
            text += f" -> {self.location}"
        return text

    @property
    def location_host(self) -> str:
        """The host ``Location`` sends to, resolved against the URL asked ("" when none)."""
        if not self.location:
            return ""
        return urlsplit(urljoin(self.url, self.location)).hostname or ""

    def unanswered(self) -> Outcome | None:
        """The failure when there was no answer at all, else ``None``."""
        return failed(self.error or "no answer") if self.status is None else None


@dataclass(frozen=True)
class PodState:
    name: str
    node: str | None
    ready: bool
    terminating: bool = False


def pod_state(pod: Mapping[str, Any]) -> PodState:
    """The parts of a Pod (as the API returns it) that spread and targeting need."""
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    conditions = status.get("conditions") or []
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    return PodState(
        name=str(meta.get("name")),
        node=(pod.get("spec") or {}).get("nodeName"),
        ready=ready and status.get("phase") == "Running",
        terminating=meta.get("deletionTimestamp") is not None,
    )


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""
