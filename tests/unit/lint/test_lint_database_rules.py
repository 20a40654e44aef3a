"""The database rules at their edges, on the prod stack: each finding asserted whole (message,
file, line, path), the boundaries where a connection count just fits, the rollout surge of
each strategy, a stack without PgBouncer or its ini, and a second values file.

The prod stack holds 3 server x 3 web workers x 4 threads + 3 worker x 4 threads = 48
connections against a pool of 3 x (20 + 5) = 75 and PostgreSQL's 100 - 3 reserved.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from akops.lint import engine
from akops.lint.documents import SourceText, classify
from akops.lint.index import Index
from akops.lint.rules.authentik import settings_of
from akops.lint.rules.database import Demand, authentik_demand
from tests.unit.lint.test_lint_rules import set_env

if TYPE_CHECKING:
    from conftest import StackFiles  # the fixture's type, from this directory's conftest

CAPACITY = "db.capacity"
PERSISTENT = "db.persistent-connections"
PROD_CALC = "3 server x 3 web workers x 4 threads + 3 worker x 4 threads = 48"


def whole(stack: StackFiles, rule: str) -> list[tuple[str, str, int | None, str | None]]:
    return [(f.message, f.file, f.line, f.path) for f in stack.findings(rule)]


def line_of(stack: StackFiles, name: str, needle: str) -> int:
    """The 1-based line of ``name`` that first holds ``needle`` (server comes before worker)."""
    return next(n for n, text in enumerate(stack.texts[name].splitlines(), 1) if needle in text)


def pool(default: int, reserve: int = 5) -> Any:
    return lambda ini: ini.replace(
        "default_pool_size = 20", f"default_pool_size = {default}"
    ).replace("reserve_pool_size = 5", f"reserve_pool_size = {reserve}")


def pool_problem(stack: StackFiles) -> str:
    """The one db.capacity message about PgBouncer's pool."""
    (message,) = [m for m, *_ in whole(stack, CAPACITY) if "PgBouncer's pool" in m]
    return message


def second_values(stack: StackFiles, change: Any = None) -> None:
    """A second Authentik values file, sorted before prod's (its findings come first)."""
    stack.texts["authentik-values-a.yaml"] = stack.texts["authentik-values.yaml"]
    if change is not None:
        stack.edit_one("authentik-values-a.yaml", change)


# --- db.persistent-connections ----------------------------------------------------------------


@pytest.mark.parametrize(("age", "text"), [("60", "60 s"), ("null", "unlimited (null)")])
def test_persistent_connections_finding_whole(stack: StackFiles, age: str, text: str) -> None:
    stack.ini(lambda ini: ini.replace("pool_mode = session", "pool_mode = transaction"))
    stack.values(lambda v: set_env(v, "server", "AUTHENTIK_POSTGRESQL__CONN_MAX_AGE", age))
    line = line_of(stack, "authentik-values.yaml", "AUTHENTIK_POSTGRESQL__CONN_MAX_AGE")
    assert whole(stack, PERSISTENT) == [
        (
            f"conn_max_age {text} (from AUTHENTIK_POSTGRESQL__CONN_MAX_AGE): PgBouncer pool_mode "
            "is transaction, persistent connections need session",
            "stack/authentik-values.yaml",
            line,
            "server.env[3]",
        )
    ]


def test_persistent_connections_judges_every_values_file(stack: StackFiles) -> None:
    """A values file without persistent connections does not end the check of the next."""

    def no_age(v: dict[str, Any]) -> None:
        for component in ("server", "worker"):
            set_env(v, component, "AUTHENTIK_POSTGRESQL__CONN_MAX_AGE", "0")

    stack.ini(lambda ini: ini.replace("pool_mode = session", "pool_mode = transaction"))
    second_values(stack, no_age)
    assert [f[1] for f in whole(stack, PERSISTENT)] == ["stack/authentik-values.yaml"]


# --- db.capacity against PgBouncer -----------------------------------------------------------


def test_capacity_against_the_pool_whole(stack: StackFiles) -> None:
    stack.ini(pool(10))
    line = line_of(stack, "pgbouncer-configmap.yaml", "default_pool_size")
    (f,) = stack.findings(CAPACITY)
    assert (f.message, f.file, f.line, f.path, f.object) == (
        f"Authentik can hold 48 database connections ({PROD_CALC}) but PgBouncer's pool is "
        "3 x (10 + 5) = 45: lower web workers, threads or replicas, or raise default_pool_size "
        "(PostgreSQL has room for up to 27 a PgBouncer replica)",
        "stack/pgbouncer-configmap.yaml",
        line,
        "data.pgbouncer.ini",
        "ConfigMap/pgbouncer-config",
    )


@pytest.mark.parametrize(("default", "fails"), [(11, False), (10, True)])
def test_capacity_pool_boundary(stack: StackFiles, default: int, fails: bool) -> None:
    stack.ini(pool(default))  # 3 x (11 + 5) = 48: exactly the demand fits
    assert bool(stack.findings(CAPACITY)) == fails


def test_capacity_pool_without_room_in_postgres(stack: StackFiles) -> None:
    """97 → 47 usable: the pool of 45 fits, but room for 47 // 3 - 5 = 10 is no more than
    default_pool_size 10 already is, so a bigger pool is no fix."""
    stack.ini(pool(10))
    stack.max_connections = 50
    assert whole(stack, CAPACITY) == [
        (
            f"Authentik can hold 48 database connections ({PROD_CALC}) but PgBouncer's pool is "
            "3 x (10 + 5) = 45: lower web workers, threads or Authentik replicas (PostgreSQL has "
            "no room for a bigger pool)",
            "stack/pgbouncer-configmap.yaml",
            line_of(stack, "pgbouncer-configmap.yaml", "default_pool_size"),
            "data.pgbouncer.ini",
        )
    ]
    stack.max_connections = 53  # 50 usable: room for 11
    assert "(PostgreSQL has room for up to 11 a PgBouncer replica)" in pool_problem(stack)


def test_capacity_pool_without_a_known_postgres(stack: StackFiles) -> None:
    stack.ini(pool(10))
    stack.max_connections = None
    assert [m for m, *_ in whole(stack, CAPACITY)] == [
        f"Authentik can hold 48 database connections ({PROD_CALC}) but PgBouncer's pool is "
        "3 x (10 + 5) = 45: lower web workers, threads or replicas, or raise default_pool_size"
    ]


def test_capacity_a_sound_stack_without_a_known_postgres(stack: StackFiles) -> None:
    stack.max_connections = None
    assert stack.findings(CAPACITY) == []


@pytest.mark.parametrize(("max_clients", "fails"), [(16, False), (15, True)])
def test_capacity_against_max_client_conn(stack: StackFiles, max_clients: int, fails: bool) -> None:
    stack.ini(lambda ini: ini.replace("max_client_conn = 200", f"max_client_conn = {max_clients}"))
    found = whole(stack, CAPACITY)
    if not fails:  # 3 x 16 = 48: exactly the demand
        assert found == []
        return
    assert found == [
        (
            f"Authentik can open 48 client connections ({PROD_CALC}) but PgBouncer accepts "
            "3 x max_client_conn 15 = 45: raise max_client_conn",
            "stack/pgbouncer-configmap.yaml",
            line_of(stack, "pgbouncer-configmap.yaml", "default_pool_size"),
            "data.pgbouncer.ini",
        )
    ]


def test_capacity_pool_over_postgres_whole(stack: StackFiles) -> None:
    stack.max_connections = 40
    assert whole(stack, CAPACITY) == [
        (
            "PgBouncer can open 3 x (20 + 5) = 75 server connections but PostgreSQL "
            "max_connections is 40 (3 reserved for superusers): lower default_pool_size, "
            "reserve_pool_size or PgBouncer replicas, or raise max_connections",
            "stack/pgbouncer-configmap.yaml",
            line_of(stack, "pgbouncer-configmap.yaml", "default_pool_size"),
            "data.pgbouncer.ini",
        )
    ]


@pytest.mark.parametrize("key", ["default_pool_size", "reserve_pool_size", "max_client_conn"])
def test_capacity_leaves_an_unreadable_pool_to_pgbouncer_invalid(
    stack: StackFiles, key: str
) -> None:
    stack.ini(lambda ini: ini.replace(f"{key} = ", f"{key} = many;"))
    stack.max_connections = 10
    assert stack.findings(CAPACITY) == []
    assert any(key in f.message for f in stack.findings("pgbouncer.invalid"))


# --- db.capacity without PgBouncer: Authentik against PostgreSQL ------------------------------


def _no_pgbouncer(stack: StackFiles, how: str) -> None:
    if how == "no Deployment":
        del stack.texts["pgbouncer-deployment.yaml"]
    elif how == "no ini":
        del stack.texts["pgbouncer-configmap.yaml"]
    else:
        stack.deployment(lambda d: d["spec"].update(replicas=0))


@pytest.mark.parametrize("how", ["no Deployment", "no ini", "no replicas"])
@pytest.mark.parametrize(("max_connections", "fails"), [(51, False), (50, True)])
def test_capacity_without_pgbouncer_against_postgres(
    stack: StackFiles, how: str, max_connections: int, fails: bool
) -> None:
    _no_pgbouncer(stack, how)
    stack.max_connections = max_connections  # 51 - 3 = 48: exactly the demand fits
    expected = [
        (
            f"Authentik can hold 48 database connections ({PROD_CALC}) but PostgreSQL "
            f"max_connections is {max_connections}: lower web workers, threads or replicas, or "
            "raise max_connections",
            "stack/authentik-values.yaml",
            line_of(stack, "authentik-values.yaml", "replicas: 3"),
            "server.replicas",
        )
    ]
    assert whole(stack, CAPACITY) == (expected if fails else [])


def test_capacity_without_pgbouncer_or_a_known_postgres(stack: StackFiles) -> None:
    del stack.texts["pgbouncer-deployment.yaml"]
    stack.max_connections = None
    assert stack.findings(CAPACITY) == []


def test_capacity_without_pgbouncer_judges_every_values_file(stack: StackFiles) -> None:
    del stack.texts["pgbouncer-deployment.yaml"]
    stack.max_connections = 40
    second_values(stack)
    assert [f[1] for f in whole(stack, CAPACITY)] == [
        "stack/authentik-values-a.yaml",
        "stack/authentik-values.yaml",
    ]


# --- the demand: replicas, workers, threads and the rollout surge -----------------------------


def _strategy(component: str, strategy: dict[str, Any]) -> Any:
    return lambda v: v[component].__setitem__("deploymentStrategy", strategy)


@pytest.mark.parametrize(
    ("component", "strategy", "peak", "rollout"),
    [
        ("server", {"type": "Recreate"}, 48, ""),
        # The chart's RollingUpdate without rollingUpdate: Kubernetes' 25 % surge, rounded up.
        ("server", {"type": "RollingUpdate"}, 60, ", 60 during a rollout (+1 server, +0 worker"),
        (
            "server",
            {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            60,
            ", 60 during a rollout (+1 server, +0 worker",
        ),
        (
            "server",
            {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "50%"}},
            72,
            ", 72 during a rollout (+2 server, +0 worker",
        ),
        (
            "worker",
            {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
            52,
            ", 52 during a rollout (+0 server, +1 worker",
        ),
        ("worker", {"type": "Recreate"}, 48, ""),
    ],
)
def test_capacity_counts_the_surge_of_each_strategy(
    stack: StackFiles, component: str, strategy: dict[str, Any], peak: int, rollout: str
) -> None:
    stack.ini(pool(1, 1))  # a pool of 6: the demand always shows
    stack.values(_strategy(component, strategy))
    calc = PROD_CALC + (f"{rollout} surge pods)" if rollout else "")
    assert pool_problem(stack).startswith(
        f"Authentik can hold {peak} database connections ({calc}) but PgBouncer's pool"
    )


@pytest.mark.parametrize(
    ("change", "calc"),
    [
        (
            lambda v: v["worker"].update(enabled=False),
            "3 server x 3 web workers x 4 threads + 0 worker x 2 threads = 36",
        ),
        (
            lambda v: v["server"].update(enabled=False),
            "0 server x 2 web workers x 4 threads + 3 worker x 4 threads = 12",
        ),
        (
            lambda v: v["server"].update(replicas=0),
            "0 server x 3 web workers x 4 threads + 3 worker x 4 threads = 12",
        ),
        (
            lambda v: v["worker"].update(replicas=0),
            "3 server x 3 web workers x 4 threads + 0 worker x 4 threads = 36",
        ),
        (
            lambda v: set_env(v, "server", "AUTHENTIK_WEB__WORKERS", "0"),
            "3 server x 0 web workers x 4 threads + 3 worker x 4 threads = 12",
        ),
        (
            lambda v: set_env(v, "server", "AUTHENTIK_WEB__THREADS", "0"),
            "3 server x 3 web workers x 0 threads + 3 worker x 4 threads = 12",
        ),
        (
            lambda v: set_env(v, "worker", "AUTHENTIK_WORKER__THREADS", "0"),
            "3 server x 3 web workers x 4 threads + 3 worker x 0 threads = 36",
        ),
    ],
    ids=[
        "no worker",
        "no server",
        "0 server",
        "0 worker",
        "0 web workers",
        "0 web threads",
        "0 worker threads",
    ],
)
def test_capacity_counts_zero_where_a_side_holds_none(
    stack: StackFiles, change: Any, calc: str
) -> None:
    stack.ini(pool(1, 1))
    stack.values(change)
    assert f"database connections ({calc}) but PgBouncer's pool" in pool_problem(stack)


def test_authentik_demand_whole(stack: StackFiles) -> None:
    stack.values(_strategy("worker", {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 2}}))
    settings = engine.Settings(chart_version_given=True)
    sources = classify(
        [SourceText(n, t, not n.endswith(".ini")) for n, t in stack.texts.items()],
        engine.classifier(settings),
    )
    ix = Index(sources.objects, sources.values, sources.patches, sources.inis, settings)
    (s,) = settings_of(ix)
    assert authentik_demand(s, ix.workloads_of(s.values)) == Demand(
        48, 56, f"{PROD_CALC}, 56 during a rollout (+0 server, +2 worker surge pods)"
    )
