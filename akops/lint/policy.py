"""Stack policy: the rules that catch this stack's real failures, across files.

Rule: pure. ``evaluate(stack)`` takes everything one lint run was given (manifests,
chart values, outpost patches, pgbouncer.ini, PostgreSQL max_connections) and
returns findings; each rule is one function below, named after its rule ID in
``akops.lint.findings.RULES``. Messages carry the numbers they judged and never a
secret value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from akops.lint.documents import ChartValues, KubeObject, Located, OutpostPatches
from akops.lint.findings import Finding, finding
from akops.lint.pgbouncer import PgBouncerIni
from akops.lint.quantities import MIB, mib, parse_quantity, scaled
from akops.lint.settings import (
    AuthentikSettings,
    as_int,
    authentik_config,
    authentik_settings,
    has_existing_secret,
)
from akops.lint.workloads import (
    PGBOUNCER,
    SERVER,
    WORKER,
    Budget,
    Container,
    Workload,
    anti_affinity_terms,
    from_patches,
    selector_matches,
)
from akops.secrets import PLACEHOLDER_RE
from akops.yamldoc import PathKey, dotted

MIN_REPLICAS = 3
MIN_PDB_AVAILABLE = 2
MIGRATION_SECONDS = 60
WORKER_MIB = 500  # each Gunicorn worker preloads Django at about 500 MiB
BASE_MIB = 256  # the Go router and the Gunicorn master besides the workers
SUPERUSER_RESERVED = 3  # PostgreSQL's superuser_reserved_connections default
HOSTNAME = "kubernetes.io/hostname"


RENAMED = {"AUTHENTIK_WORKER__CONCURRENCY": "AUTHENTIK_WORKER__THREADS"}

_SECRET_ASSIGN = re.compile(
    r"(?i)\b(password|passwd|pwd|secret|secret_key|token|api[_-]?key|private[_-]?key)\s*[=:]\s*(?!\s*$)(\S+)"
)
_SECRET_NAME = re.compile(r"(?i)(password|passwd|secret|token|api_?key|private_?key|credential)")


@dataclass(frozen=True)
class Stack:
    """Everything one lint run was given, in the shapes the rules read."""

    objects: tuple[KubeObject, ...]
    workloads: tuple[Workload, ...]
    values: tuple[ChartValues, ...]
    patches: tuple[OutpostPatches, ...]
    inis: tuple[PgBouncerIni, ...]
    max_connections: int | None = None

    def budget_for(self, w: Workload) -> Budget | None:
        if w.budget is not None:
            return w.budget
        for obj in self.objects:
            if obj.kind != "PodDisruptionBudget":
                continue
            spec = obj.data.get("spec") if isinstance(obj.data.get("spec"), dict) else {}
            if selector_matches(spec.get("selector"), w.labels):
                return Budget(
                    spec.get("minAvailable"), spec.get("maxUnavailable"), obj, ("spec",), obj.ref
                )
        return None

    def pgbouncer(self) -> Workload | None:
        return next(
            (w for w in self.workloads if w.role == PGBOUNCER and w.replicas is not None), None
        )

    def ini(self) -> PgBouncerIni | None:
        # A ConfigMap's ini is what runs; a standalone file is the fallback.
        return next((i for i in self.inis if i.object), self.inis[0] if self.inis else None)


def at(w: Workload, rule: str, path: PathKey, message: str) -> Finding:
    return finding(
        rule, message, file=w.file, line=w.line(path), object=w.ref, path=dotted(path) or None
    )


def _located(
    src: Located, rule: str, path: PathKey, message: str, obj: str | None = None
) -> Finding:
    return finding(
        rule, message, file=src.file, line=src.line(path), object=obj, path=dotted(path) or None
    )


# --- replicas, budgets, rollouts, spread --------------------------------------------


def replicas_minimum(stack: Stack) -> Iterator[Finding]:
    for w in stack.workloads:
        if w.critical and w.long_running and w.replicas is not None and w.replicas < MIN_REPLICAS:
            yield at(
                w,
                "replicas.minimum",
                w.replicas_path,
                f"{w.ref} runs {w.replicas} replica(s); critical-path workloads run at least {MIN_REPLICAS}",
            )


def pdb_missing(stack: Stack) -> Iterator[Finding]:
    for w in stack.workloads:
        if w.critical and w.long_running and w.replicas is not None and stack.budget_for(w) is None:
            where = (
                ("server" if w.role == SERVER else "worker", "pdb")
                if w.from_values
                else w.replicas_path
            )
            yield at(w, "pdb.missing", where, f"no PodDisruptionBudget selects the pods of {w.ref}")


def pdb_budget(stack: Stack) -> Iterator[Finding]:
    for w in stack.workloads:
        budget = stack.budget_for(w)
        if not (w.critical and w.replicas is not None and budget is not None):
            continue
        replicas = w.replicas
        problem = None
        if budget.max_unavailable is None and budget.min_available is None:
            field = "minAvailable"
            problem = "sets neither minAvailable nor maxUnavailable"
        elif budget.max_unavailable is not None:
            field = "maxUnavailable"
            allowed = scaled(budget.max_unavailable, replicas, round_up=True)
            if allowed is None:
                problem = "maxUnavailable is not an integer or percentage"
            elif allowed < 1:
                problem = f"maxUnavailable {allowed} blocks every node drain"
            elif allowed >= replicas:
                problem = f"maxUnavailable {allowed} lets all {replicas} pods go at once"
        else:
            field = "minAvailable"
            floor = scaled(budget.min_available, replicas, round_up=True)
            if floor is None:
                problem = "minAvailable is not an integer or percentage"
            elif floor < MIN_PDB_AVAILABLE:
                problem = (
                    f"minAvailable {floor} with {replicas} replicas keeps fewer than "
                    f"{MIN_PDB_AVAILABLE} pods serving during a drain"
                )
            elif floor >= replicas:
                problem = f"minAvailable {floor} with {replicas} replicas blocks every node drain"
        if problem:
            src = budget.source
            path = (*budget.path, field)
            yield finding(
                "pdb.budget",
                f"{budget.ref}: {problem}",
                file=src.file,
                line=src.line(path),
                object=budget.ref,
                path=dotted(path),
            )


def pdb_rollout(stack: Stack) -> Iterator[Finding]:
    for w in stack.workloads:
        if w.strategy is None or w.replicas is None or not w.critical:
            continue
        kind = w.strategy.get("type", "RollingUpdate")
        if kind == "Recreate":
            yield at(
                w,
                "pdb.rollout",
                w.strategy_path,
                f"{w.ref} uses Recreate: every pod stops before the new ones start",
            )
            continue
        given = w.strategy.get("rollingUpdate")
        rolling: dict[str, Any] = given if isinstance(given, dict) else {}
        surge = scaled(rolling.get("maxSurge", "25%"), w.replicas, round_up=True)
        down = scaled(rolling.get("maxUnavailable", "25%"), w.replicas, round_up=False)
        if surge is None or down is None:
            continue  # the schema reports malformed values
        if surge == 0 and down == 0:
            yield at(
                w,
                "pdb.rollout",
                w.strategy_path,
                f"{w.ref}: maxSurge 0 and maxUnavailable 0, the rollout cannot progress",
            )
            continue
        budget = stack.budget_for(w)
        if budget is None:
            continue
        if budget.max_unavailable is not None:
            allowed = scaled(budget.max_unavailable, w.replicas, round_up=True)
            promised = None if allowed is None else w.replicas - allowed
        else:
            promised = scaled(budget.min_available, w.replicas, round_up=True)
        if promised is not None and w.replicas - down < promised:
            yield at(
                w,
                "pdb.rollout",
                w.strategy_path,
                f"{w.ref}: a rollout takes {down} of {w.replicas} pods down at once, leaving "
                f"{w.replicas - down} while {budget.ref} promises {promised}",
            )


def _spreads_itself(w: Workload) -> bool:
    for term in anti_affinity_terms(w.affinity):
        if term.get("topologyKey") == HOSTNAME and selector_matches(
            term.get("labelSelector"), w.labels
        ):
            return True
    return any(
        t.get("topologyKey") == HOSTNAME and selector_matches(t.get("labelSelector"), w.labels)
        for t in w.spread
    )


def spread_nodes(stack: Stack) -> Iterator[Finding]:
    for w in stack.workloads:
        if not (w.critical and w.long_running and (w.replicas or 0) > 1) or _spreads_itself(w):
            continue
        others = list(anti_affinity_terms(w.affinity))
        if others:
            why = "its pod anti-affinity selects other pods, not its own replicas"
            path = w.affinity_path
        else:
            why = "no pod anti-affinity or topology spread on kubernetes.io/hostname selects its own pods"
            path = w.affinity_path if w.affinity else w.replicas_path
        yield at(
            w, "spread.nodes", path, f"{w.ref}: {w.replicas} replicas may share one node: {why}"
        )


# --- containers -----------------------------------------------------------------------


def _containers(stack: Stack) -> Iterator[tuple[Workload, Container]]:
    for w in stack.workloads:
        for c in w.containers:
            yield w, c


def _container_resources(src: Located, ref: str, c: Container) -> Iterator[Finding]:
    missing = [r for r in ("cpu", "memory") if c.request(r) in (None, "")]
    if missing:
        yield _located(
            src,
            "resources.requests",
            c.resources_path,
            f"container {c.name} has no {' or '.join(missing)} request",
            ref,
        )
    if c.limit("memory") in (None, ""):
        yield _located(
            src,
            "resources.memory-limit",
            c.resources_path,
            f"container {c.name} has no memory limit; the tier LimitRange gives it 256Mi",
            ref,
        )


def resources(stack: Stack) -> Iterator[Finding]:
    for w, c in _containers(stack):
        yield from _container_resources(w.source, w.ref, c)
    for p in stack.patches:
        patched = from_patches(p)
        yield from _container_resources(p, p.ref, patched.container)


def probes_missing(stack: Stack) -> Iterator[Finding]:
    for w, c in _containers(stack):
        if not w.long_running:
            continue
        missing = [
            k for k, probe in (("readiness", c.readiness), ("liveness", c.liveness)) if not probe
        ]
        if missing:
            yield at(
                w,
                "probes.missing",
                c.path,
                f"container {c.name} has no {' and no '.join(missing)} probe",
            )


def probes_liveness_budget(stack: Stack) -> Iterator[Finding]:
    for w, c in _containers(stack):
        if w.role != SERVER or not isinstance(c.liveness, dict) or not c.liveness:
            continue
        failures = as_int(c.liveness.get("failureThreshold", 3)) or 3
        period = as_int(c.liveness.get("periodSeconds", 10)) or 10
        if failures * period < MIGRATION_SECONDS:
            yield at(
                w,
                "probes.liveness-budget",
                c.probe_paths.get("liveness", c.path),
                f"{w.ref} liveness gives up after {failures} x {period} s = {failures * period} s; "
                f"a pod waiting on the migration lock needs >= {MIGRATION_SECONDS} s",
            )


def _image_problem(image: str) -> str | None:
    if "@" in image:
        return None  # a digest pins exactly
    name = image.rsplit("/", 1)[-1]
    if ":" not in name:
        return "has no tag (means latest)"
    tag = name.rsplit(":", 1)[1]
    if tag == "latest" or not tag:
        return "uses the tag latest"
    return None


def image_pinned(stack: Stack) -> Iterator[Finding]:
    for w, c in _containers(stack):
        if c.image is None:
            if not w.from_values:
                yield at(w, "image.pinned", c.path, f"container {c.name} names no image")
            continue
        problem = _image_problem(str(c.image))
        if problem:
            yield at(
                w, "image.pinned", c.image_path, f"container {c.name} image {c.image} {problem}"
            )


# --- secrets --------------------------------------------------------------------------


def _secret_in(text: str) -> str | None:
    """What secret-looking thing ``text`` holds (never the value itself)."""
    if PLACEHOLDER_RE.search(text):
        return "a secret placeholder (apply would inject the real value)"
    m = _SECRET_ASSIGN.search(text)
    if m:
        return f"a value for `{m.group(1)}`"
    return None


def secrets_configmap(stack: Stack) -> Iterator[Finding]:
    for obj in stack.objects:
        if obj.kind != "ConfigMap":
            continue
        data = obj.data.get("data")
        for key, value in data.items() if isinstance(data, dict) else []:
            path = ("data", key)
            if _SECRET_NAME.search(str(key)) and value not in (None, ""):
                yield _located(
                    obj,
                    "secrets.configmap",
                    path,
                    f"{obj.ref} key {key} looks like a secret",
                    obj.ref,
                )
                continue
            key_line = obj.line(path)
            lines = str(value).splitlines()
            for i, text in enumerate(lines):
                what = _secret_in(text)
                if what:
                    # A block scalar's content starts on the line after its key.
                    line = key_line + i + 1 if len(lines) > 1 else key_line
                    yield finding(
                        "secrets.configmap",
                        f"{obj.ref} {key} holds {what}",
                        file=obj.file,
                        line=line,
                        object=obj.ref,
                        path=dotted(path),
                    )

    for ini in stack.inis:
        if ini.object is not None:
            continue  # scanned above, as the ConfigMap it lives in
        for line, text in ini.section_lines():
            what = _secret_in(text)
            if what:
                yield finding(
                    "secrets.configmap",
                    f"pgbouncer.ini holds {what}; this file is what the pgbouncer-config ConfigMap carries",
                    file=ini.file,
                    line=line,
                )


def secrets_env(stack: Stack) -> Iterator[Finding]:
    for w, c in _containers(stack):
        for var in c.env:
            if var.from_ref or var.value in (None, ""):
                continue
            text = str(var.value)
            what = _secret_in(text) or (
                "a plain value"
                if _SECRET_NAME.search(var.name) and not var.name.endswith("_FILE")
                else None
            )
            if what:
                yield at(
                    w, "secrets.env", var.path, f"container {c.name} env {var.name} holds {what}"
                )


def secrets_annotation(stack: Stack) -> Iterator[Finding]:
    def scan(src: Located, ref: str, annotations: Any, base: PathKey) -> Iterator[Finding]:
        for key, value in annotations.items() if isinstance(annotations, dict) else []:
            if key == "kubectl.kubernetes.io/last-applied-configuration" and ref.startswith(
                "Secret/"
            ):
                what: str | None = "the whole Secret (last-applied-configuration)"
            else:
                what = _secret_in(str(value)) or (
                    "a secret-named value"
                    if _SECRET_NAME.search(str(key).rsplit("/", 1)[-1])
                    else None
                )
            if what:
                yield _located(
                    src,
                    "secrets.annotation",
                    (*base, key),
                    f"{ref} annotation {key} holds {what}",
                    ref,
                )

    for obj in stack.objects:
        meta = obj.data.get("metadata")
        if isinstance(meta, dict):
            yield from scan(obj, obj.ref, meta.get("annotations"), ("metadata", "annotations"))
    for w in stack.workloads:
        yield from scan(w.source, w.ref, w.annotations, w.annotations_path)


# --- Authentik settings ---------------------------------------------------------------------


def _settings(stack: Stack) -> Iterator[AuthentikSettings]:
    for values in stack.values:
        yield authentik_settings(values, stack.workloads)


def _leaves(node: Any, path: PathKey) -> Iterator[tuple[PathKey, Any]]:
    if isinstance(node, dict) and node:
        for k, v in node.items():
            yield from _leaves(v, (*path, str(k)))
    else:
        yield path, node


def values_inert_authentik(stack: Stack) -> Iterator[Finding]:
    for values in stack.values:
        if not has_existing_secret(values):
            continue
        for path, value in _leaves(authentik_config(values), ("authentik",)):
            if path[1] in ("existingSecret", "enabled") or value in (None, "", {}, []):
                continue
            var = "AUTHENTIK_" + "__".join(str(p).upper() for p in path[1:])
            yield _located(
                values,
                "values.inert-authentik",
                path,
                f"{dotted(path)} is ignored: authentik.existingSecret.secretName is set, so the chart "
                f"renders no authentik.* setting; set {var} in server.env and worker.env",
            )


def env_renamed(stack: Stack) -> Iterator[Finding]:
    for w, c in _containers(stack):
        for var in c.env:
            if var.name in RENAMED:
                yield at(
                    w,
                    "env.renamed",
                    var.path,
                    f"{var.name} was renamed {RENAMED[var.name]} (Authentik 2025.8)",
                )
    for values in stack.values:
        worker = authentik_config(values).get("worker")
        if isinstance(worker, dict) and "concurrency" in worker:
            path = ("authentik", "worker", "concurrency")
            yield _located(
                values,
                "env.renamed",
                path,
                f"{dotted(path)} was renamed authentik.worker.threads (2025.8)",
            )


# --- database connections -------------------------------------------------------------------


def db_persistent_connections(stack: Stack) -> Iterator[Finding]:
    ini = stack.ini()
    if ini is None:
        return
    for s in _settings(stack):
        age = s.conn_max_age
        if age.value == 0:
            continue
        age_text = "unlimited (null)" if age.value is None else f"{age.value} s"
        problems = []
        mode = ini.get("pool_mode")
        if mode != "session":
            problems.append(f"PgBouncer pool_mode is {mode}, persistent connections need session")
        idle = ini.integer("server_idle_timeout")
        if age.value is None or (idle > 0 and age.value >= idle):
            problems.append(
                f"it is not below PgBouncer server_idle_timeout = {idle} s ({ini.file})"
            )
        if problems:
            yield _located(
                s.values,
                "db.persistent-connections",
                age.path,
                f"conn_max_age {age_text} (from {age.source}): " + "; ".join(problems),
            )


def _surge(w: Workload | None) -> int:
    if w is None or w.replicas is None or not w.strategy or w.strategy.get("type") == "Recreate":
        return 0
    rolling = w.strategy.get("rollingUpdate")
    raw = rolling.get("maxSurge", "25%") if isinstance(rolling, dict) else "25%"
    return scaled(raw, w.replicas, round_up=True) or 0


@dataclass(frozen=True)
class Demand:
    """Database connections the Authentik pods of one values file can hold at once."""

    steady: int
    peak: int  # during a rollout, surge pods included
    calc: str  # the arithmetic, for messages


def authentik_demand(s: AuthentikSettings, workloads: tuple[Workload, ...]) -> Demand:
    mine = {w.role: w for w in workloads if w.from_values and w.source is s.values}
    server, worker = mine.get(SERVER), mine.get(WORKER)
    workers, threads = s.web_workers.value or 0, s.web_threads.value or 0
    worker_threads = s.worker_threads.value or 0
    sr = (server.replicas or 0) if server else 0
    wr = (worker.replicas or 0) if worker else 0
    steady = sr * workers * threads + wr * worker_threads
    ss, ws = _surge(server), _surge(worker)
    peak = steady + ss * workers * threads + ws * worker_threads
    calc = (
        f"{sr} server x {workers} web workers x {threads} threads + "
        f"{wr} worker x {worker_threads} threads = {steady}"
    )
    if peak != steady:
        calc += f", {peak} during a rollout (+{ss} server, +{ws} worker surge pods)"
    return Demand(steady, peak, calc)


def db_capacity(stack: Stack) -> Iterator[Finding]:
    ini, pgb = stack.ini(), stack.pgbouncer()
    limit = None if stack.max_connections is None else stack.max_connections - SUPERUSER_RESERVED
    for s in _settings(stack):
        need = authentik_demand(s, stack.workloads)
        if ini is None or pgb is None or not pgb.replicas:
            if limit is not None and need.peak > limit:
                yield _located(
                    s.values,
                    "db.capacity",
                    ("server", "replicas"),
                    f"Authentik can hold {need.peak} database connections ({need.calc}) but "
                    f"PostgreSQL max_connections is {stack.max_connections}",
                )
            continue
        default, reserve = ini.integer("default_pool_size"), ini.integer("reserve_pool_size")
        pool = pgb.replicas * (default + reserve)
        pool_calc = f"{pgb.replicas} x ({default} + {reserve}) = {pool}"
        max_clients = ini.integer("max_client_conn")
        problems = []
        if need.peak > pool:
            problems.append(
                f"Authentik can hold {need.peak} database connections ({need.calc}) "
                f"but PgBouncer's pool is {pool_calc}"
            )
        if need.peak > pgb.replicas * max_clients:
            problems.append(
                f"Authentik can open {need.peak} client connections ({need.calc}) but PgBouncer "
                f"accepts {pgb.replicas} x max_client_conn {max_clients} = {pgb.replicas * max_clients}"
            )
        if limit is not None and pool > limit:
            problems.append(
                f"PgBouncer can open {pool_calc} server connections but PostgreSQL "
                f"max_connections is {stack.max_connections} ({SUPERUSER_RESERVED} reserved for superusers)"
            )
        line = ini.line_of("pgbouncer", "default_pool_size")
        for message in problems:
            yield finding(
                "db.capacity", message, file=ini.file, line=line, object=ini.object, path=ini.path
            )


def gunicorn_memory(stack: Stack) -> Iterator[Finding]:
    for s in _settings(stack):
        for w in stack.workloads:
            if w.role != SERVER or w.source is not s.values or not s.web_workers.value:
                continue
            c = w.containers[0]
            limit = parse_quantity(c.limit("memory"))
            if limit is None:
                continue  # resources.memory-limit reports it
            need = (s.web_workers.value * WORKER_MIB + BASE_MIB) * MIB
            if need > limit:
                yield at(
                    w,
                    "gunicorn.memory",
                    (*c.resources_path, "limits", "memory"),
                    f"{w.ref}: {s.web_workers.value} web workers x {WORKER_MIB}Mi + {BASE_MIB}Mi base = "
                    f"{mib(need)} do not fit under the memory limit {c.limit('memory')}",
                )


# --- outpost ---------------------------------------------------------------------------------


def _shm_problem(volumes: list[dict[str, Any]], c: Container) -> str | None:
    mount = next((m for m in c.mounts if m.get("mountPath") == "/dev/shm"), None)
    if mount is None:
        return "nothing is mounted at /dev/shm (the 64 MB default fills with session files)"
    volume = next((v for v in volumes if v.get("name") == mount.get("name")), None)
    empty = volume.get("emptyDir") if volume else None
    if not isinstance(empty, dict) or empty.get("medium") != "Memory":
        return f"volume {mount.get('name')} at /dev/shm is not an emptyDir with medium Memory"
    size = parse_quantity(empty.get("sizeLimit"))
    if size is None:
        return f"emptyDir {mount.get('name')} at /dev/shm has no sizeLimit"
    limit = parse_quantity(c.limit("memory"))
    if limit is None or limit <= size:
        shown = c.limit("memory") or "none (the tier default 256Mi)"
        return (
            f"memory limit {shown} does not exceed the /dev/shm sizeLimit {empty.get('sizeLimit')}"
        )
    return None


def outpost_shm(stack: Stack) -> Iterator[Finding]:
    for p in stack.patches:
        patched = from_patches(p)
        problem = _shm_problem([v for v, _ in patched.volumes], patched.container)
        if problem:
            yield _located(
                p, "outpost.shm", ("kubernetes_json_patches",), f"{p.ref}: {problem}", p.ref
            )
    for w in stack.workloads:
        if w.role != "outpost" or not w.containers:
            continue
        problem = _shm_problem(list(w.volumes), w.containers[0])
        if problem:
            yield at(w, "outpost.shm", w.volumes_path, f"{w.ref}: {problem}")


# --- PgBouncer ---------------------------------------------------------------------------


def pgbouncer_idle_transaction_timeout(stack: Stack) -> Iterator[Finding]:
    for ini in stack.inis:
        value = ini.integer("idle_transaction_timeout")
        if value <= 0:
            set_ = "idle_transaction_timeout" in ini.settings
            yield finding(
                "pgbouncer.idle-transaction-timeout",
                "idle_transaction_timeout is "
                + ("0 (disabled)" if set_ else "not set (disabled)")
                + ": a client killed mid-transaction keeps its locks",
                file=ini.file,
                line=ini.line_of("pgbouncer", "idle_transaction_timeout")
                if set_
                else _section_line(ini),
                object=ini.object,
                path=ini.path,
            )


def _section_line(ini: PgBouncerIni) -> int:
    for line, text in ini.section_lines():
        if text.strip().lower() == "[pgbouncer]":
            return line
    return ini.first_line


def pgbouncer_config_rollout(stack: Stack) -> Iterator[Finding]:
    for w in stack.workloads:
        if w.role != PGBOUNCER or w.from_values:
            continue
        uses_configmap = any(isinstance(v.get("configMap"), dict) for v in w.volumes)
        if uses_configmap and not any(str(k).startswith("checksum/") for k in w.annotations):
            yield at(
                w,
                "pgbouncer.config-rollout",
                w.annotations_path if w.annotations else w.annotations_path[:-1],
                f"{w.ref} mounts its config from a ConfigMap but its pod template has no checksum/ annotation",
            )


RULE_FUNCTIONS: tuple[Callable[[Stack], Iterator[Finding]], ...] = (
    replicas_minimum,
    pdb_missing,
    pdb_budget,
    pdb_rollout,
    spread_nodes,
    resources,
    probes_missing,
    probes_liveness_budget,
    image_pinned,
    secrets_configmap,
    secrets_env,
    secrets_annotation,
    values_inert_authentik,
    env_renamed,
    db_persistent_connections,
    db_capacity,
    gunicorn_memory,
    outpost_shm,
    pgbouncer_idle_transaction_timeout,
    pgbouncer_config_rollout,
)


def evaluate(stack: Stack) -> list[Finding]:
    """Every policy finding for ``stack``."""
    out: list[Finding] = []
    for rule in RULE_FUNCTIONS:
        out.extend(rule(stack))
    return out
