"""The Authentik settings that take effect, read from chart values the way the chart applies them.

Rule: pure. An ``AUTHENTIK_*`` env var in ``server.env`` / ``worker.env`` (or
``global.env``) wins; ``authentik.*`` counts only when no existing secret is set (with
one, the chart renders none of it); otherwise Authentik's default applies. Each
``Setting`` remembers where it came from, for messages and line numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from akops.errors import InputError
from akops.lint.documents import ChartValues
from akops.lint.workloads import SERVER, WORKER, EnvVar, Workload
from akops.yamldoc import PathKey, dotted

# Authentik's defaults when nothing sets them: Gunicorn 2 workers x 4 threads, 2 worker threads.
DEFAULT_WEB_WORKERS = 2
DEFAULT_WEB_THREADS = 4
DEFAULT_WORKER_THREADS = 2
DEFAULT_CONN_MAX_AGE = 0


@dataclass(frozen=True)
class Setting:
    value: int | None  # None: unlimited (only conn_max_age: null)
    source: str  # the env var or key that set it, or "default"
    path: PathKey


@dataclass(frozen=True)
class AuthentikSettings:
    values: ChartValues
    web_workers: Setting
    web_threads: Setting
    worker_threads: Setting
    conn_max_age: Setting


def authentik_config(values: ChartValues) -> dict[str, Any]:
    a = values.data.get("authentik")
    return a if isinstance(a, dict) else {}


def has_existing_secret(values: ChartValues) -> bool:
    existing = authentik_config(values).get("existingSecret")
    return isinstance(existing, dict) and bool(existing.get("secretName"))


def inert_reason(values: ChartValues) -> str | None:
    """Why the chart renders none of ``authentik.*`` (its config Secret), or None when it does."""
    if authentik_config(values).get("enabled", True) is False:
        return "authentik.enabled is false, so the chart creates no configuration Secret"
    if has_existing_secret(values):
        return "authentik.existingSecret.secretName is set, so the chart renders no authentik.* setting"
    return None


def as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


class _Reader:
    def __init__(self, values: ChartValues, workloads: tuple[Workload, ...]) -> None:
        self.values = values
        self.inert = inert_reason(values) is not None
        self.conf = authentik_config(values)
        self.env: dict[str | None, dict[str, EnvVar]] = {
            w.role: {v.name: v for v in w.containers[0].env} for w in workloads
        }

    def _parse(self, raw: Any, path: PathKey, unlimited_ok: bool) -> int | None:
        if unlimited_ok and (raw is None or str(raw).strip().lower() in ("null", "none")):
            return None
        value = as_int(raw)
        if value is None:
            where = f"{self.values.file}:{self.values.line(path)}"
            raise InputError(
                f"{where}: {dotted(path)}: expected an integer, got {type(raw).__name__}"
            )
        return value

    def get(
        self, role: str, var: str, keys: tuple[str, ...], default: int, unlimited_ok: bool = False
    ) -> Setting:
        env = self.env.get(role, {}).get(var)
        if env is not None and not env.from_ref:
            return Setting(self._parse(env.value, env.path, unlimited_ok), var, env.path)
        path: PathKey = ("authentik", *keys)
        node: Any = self.conf
        for k in keys:
            node = node.get(k) if isinstance(node, dict) else None
        if node is not None and not self.inert:
            return Setting(self._parse(node, path, unlimited_ok), dotted(path), path)
        return Setting(default, "default", path)


def _larger(a: Setting, b: Setting) -> Setting:
    if a.value is None or b.value is None:
        return a if a.value is None else b
    return a if a.value >= b.value else b


def authentik_settings(values: ChartValues, workloads: tuple[Workload, ...]) -> AuthentikSettings:
    """The settings of ``values`` that take effect.

    ``workloads``: the Deployments the chart renders from ``values`` (they carry the merged env).
    """
    r = _Reader(values, workloads)
    threads = r.get(
        WORKER, "AUTHENTIK_WORKER__THREADS", ("worker", "threads"), DEFAULT_WORKER_THREADS
    )
    if threads.source == "default":
        # The pre-2025.8 name is still honoured as an alias (env.renamed warns about it).
        threads = r.get(
            WORKER,
            "AUTHENTIK_WORKER__CONCURRENCY",
            ("worker", "concurrency"),
            DEFAULT_WORKER_THREADS,
        )
    age = ("postgresql", "conn_max_age")
    var = "AUTHENTIK_POSTGRESQL__CONN_MAX_AGE"
    return AuthentikSettings(
        values=values,
        web_workers=r.get(
            SERVER, "AUTHENTIK_WEB__WORKERS", ("web", "workers"), DEFAULT_WEB_WORKERS
        ),
        web_threads=r.get(
            SERVER, "AUTHENTIK_WEB__THREADS", ("web", "threads"), DEFAULT_WEB_THREADS
        ),
        worker_threads=threads,
        conn_max_age=_larger(
            r.get(SERVER, var, age, DEFAULT_CONN_MAX_AGE, unlimited_ok=True),
            r.get(WORKER, var, age, DEFAULT_CONN_MAX_AGE, unlimited_ok=True),
        ),
    )
