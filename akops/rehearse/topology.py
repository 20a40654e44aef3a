"""What a rehearsal runs, derived from the environment and the rendered stack, scaled in time.

Rule: pure. The rehearsal's PgBouncer config is the rendered ``pgbouncer.ini`` (or one given
instead, e.g. the seed's) with only the listen address, ports and paths changed, the
upstream pointed at the rehearsal's PostgreSQL, and its time settings divided by the
scenario's time factor. The load has the environment's shape: server pods × web workers ×
threads plus worker pods × threads, each thread one persistent connection.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from akops.environment import Environment
from akops.quantities import parse_quantity

#: PgBouncer settings that are durations in seconds: divided by the time factor.
TIME_SETTINGS: tuple[str, ...] = (
    "idle_transaction_timeout",
    "server_idle_timeout",
    "reserve_pool_timeout",
    "query_timeout",
    "query_wait_timeout",
    "client_idle_timeout",
    "server_lifetime",
    "server_connect_timeout",
    "server_login_retry",
    "client_login_timeout",
)
#: The default /dev/shm of a container (what the outpost had before the sizeLimit patch).
DEFAULT_SHM = "64Mi"
#: Page size of tmpfs: every file takes whole pages.
PAGE = 4096


@dataclass(frozen=True)
class Scale:
    """Production seconds per rehearsal second."""

    factor: float

    def wall(self, production_seconds: float) -> float:
        return production_seconds / self.factor

    def production(self, wall_seconds: float) -> float:
        return wall_seconds * self.factor


@dataclass(frozen=True)
class PodShape:
    """One Authentik pod of the load: its role, name and how many threads hold a connection."""

    role: Literal["server", "worker"]
    name: str
    threads: int


@dataclass(frozen=True)
class LoadShape:
    pods: tuple[PodShape, ...]
    #: CONN_MAX_AGE in rehearsal seconds (0: a connection per request).
    conn_max_age: float
    health_checks: bool

    @property
    def threads(self) -> int:
        return sum(p.threads for p in self.pods)


def load_shape(env: Environment, scale: Scale, surge: int = 0) -> LoadShape:
    """The environment's Authentik pods (plus ``surge`` extra pods of each Deployment)."""
    a = env.authentik
    server_threads = a.server.web_workers * a.server.web_threads
    pods: list[PodShape] = []
    for i in range(a.server.replicas + (surge if a.server.replicas else 0)):
        pods.append(PodShape("server", f"server-{i}", server_threads))
    for i in range(a.worker.replicas + (surge if a.worker.replicas else 0)):
        pods.append(PodShape("worker", f"worker-{i}", a.worker.threads))
    return LoadShape(tuple(pods), scale.wall(a.conn_max_age), a.conn_health_checks)


def surge_pods(env: Environment, surge: int) -> tuple[PodShape, ...]:
    """The extra pods a rollout adds: ``surge`` per Deployment (server and worker)."""
    a = env.authentik
    pods: list[PodShape] = []
    if a.server.replicas:
        t = a.server.web_workers * a.server.web_threads
        pods += [PodShape("server", f"server-surge-{i}", t) for i in range(surge)]
    if a.worker.replicas:
        pods += [PodShape("worker", f"worker-surge-{i}", a.worker.threads) for i in range(surge)]
    return tuple(pods)


def pool_capacity(ini: Mapping[str, str], replicas: int) -> int:
    """Server connections the PgBouncers can open: replicas × (default + reserve pool)."""
    default = int(ini.get("default_pool_size", "20"))
    reserve = int(ini.get("reserve_pool_size", "0"))
    return replicas * (default + reserve)


# --- pgbouncer.ini ----------------------------------------------------------------------


def settings_of(ini: str) -> dict[str, str]:
    """The ``key = value`` lines of the [pgbouncer] section."""
    out: dict[str, str] = {}
    section = ""
    for line in ini.splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            section = stripped.strip("[]").strip()
        elif section == "pgbouncer" and "=" in stripped and not stripped.startswith((";", "#")):
            key, _, value = stripped.partition("=")
            out[key.strip()] = value.strip()
    return out


def _seconds(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def scaled_times(ini: str, scale: Scale) -> dict[str, str]:
    """Each time setting present in ``ini`` and non-zero, divided by the time factor."""
    out: dict[str, str] = {}
    for key, value in settings_of(ini).items():
        seconds = _seconds(value)
        if key in TIME_SETTINGS and seconds:
            out[key] = f"{max(scale.wall(seconds), 0.05):.3f}"
    return out


def adjust_ini(
    ini: str,
    settings: Mapping[str, str],
    upstream: tuple[str, int],
    database_extra: Mapping[str, str] | None = None,
) -> str:
    """Rewrite ``key = value`` lines of [pgbouncer] (adding missing ones) and the upstream
    host/port of every [databases] entry; ``database_extra`` replaces ``key=value`` words of
    those entries (the seed's ``password=${password}``)."""
    extra = dict(database_extra or {})
    out: list[str] = []
    section = ""
    seen: set[str] = set()

    def flush() -> None:
        if section == "pgbouncer":
            out.extend(f"{k} = {v}" for k, v in settings.items() if k not in seen)
            seen.update(settings)

    for line in ini.splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            flush()
            section = stripped.strip("[]").strip()
        elif section == "databases" and "=" in line and not stripped.startswith((";", "#")):
            name, _, conn = line.partition("=")
            words = []
            for w in conn.split():
                key = w.split("=", 1)[0]
                if key == "host":
                    w = f"host={upstream[0]}"
                elif key == "port":
                    w = f"port={upstream[1]}"
                elif key in extra:
                    w = f"{key}={extra[key]}"
                words.append(w)
            line = f"{name.strip()} = {' '.join(words)}"
        elif section == "pgbouncer" and "=" in line and not stripped.startswith((";", "#")):
            key = line.split("=", 1)[0].strip()
            if key in settings:
                line = f"{key} = {settings[key]}"
                seen.add(key)
        out.append(line)
    flush()
    return "\n".join(out) + "\n"


def database_placeholders(ini: str) -> set[str]:
    """``key`` of every ``key=${...}`` word in [databases] (values the seed took from env vars)."""
    found: set[str] = set()
    section = ""
    for line in ini.splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            section = stripped.strip("[]").strip()
        elif section == "databases" and "=" in stripped:
            found.update(m.group(1) for m in re.finditer(r"(\w+)=\$\{\w+\}", stripped))
    return found


# --- outpost /dev/shm -------------------------------------------------------------------


def patched_shm_size(patches: Mapping[str, Any] | None) -> str | None:
    """The sizeLimit of the emptyDir the outpost patches mount at /dev/shm, if any."""
    if not patches:
        return None
    ops = (patches.get("kubernetes_json_patches") or {}).get("deployment") or []
    volumes: dict[str, Any] = {}
    mounted: set[str] = set()
    for op in ops:
        if not isinstance(op, dict):
            continue
        value = op.get("value")
        path = str(op.get("path", ""))
        items: Sequence[Any] = value if isinstance(value, list) else [value]
        if path.endswith("/volumes") or "/volumes/" in path:
            for v in items:
                if isinstance(v, dict) and "name" in v:
                    volumes[v["name"]] = v
        if path.endswith("/volumeMounts") or "/volumeMounts/" in path:
            for m in items:
                if isinstance(m, dict) and m.get("mountPath") == "/dev/shm":
                    mounted.add(str(m.get("name")))
    for name in sorted(mounted):
        empty = (volumes.get(name) or {}).get("emptyDir") or {}
        if empty.get("medium") == "Memory" and empty.get("sizeLimit"):
            return str(empty["sizeLimit"])
    return None


def tmpfs_bytes(quantity: str, size_factor: float) -> int:
    """A Kubernetes quantity divided by the size factor, in whole pages (at least 16)."""
    value = parse_quantity(quantity)
    if value is None or value <= 0:
        raise ValueError(f"not a size: {quantity!r}")
    pages = max(16, int(value / size_factor) // PAGE)
    return pages * PAGE
