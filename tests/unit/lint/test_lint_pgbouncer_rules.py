"""PgBouncer's rules at their edges, on small stacks: idle_transaction_timeout unset, 0
or set (and where the finding points), and pods that do not roll with their config."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.lint.small import container, deployment, lint

RULE = "pgbouncer.idle-transaction-timeout"


def ini_map(ini: str) -> str:
    body = "".join(f"    {line}\n" for line in ini.splitlines())
    return (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: pgbouncer-config\ndata:\n"
        f"  pgbouncer.ini: |\n{body}"
    )


BASE = "[databases]\n* = host=db port=5432\n[pgbouncer]\nlisten_port = 6432\n"


@pytest.mark.parametrize(
    ("extra", "message", "line"),
    [
        (
            "",
            "idle_transaction_timeout is not set (disabled): a client killed mid-transaction keeps its locks",
            9,
        ),
        (
            "idle_transaction_timeout = 0\n",
            "idle_transaction_timeout is 0 (disabled): a client killed mid-transaction keeps its locks",
            11,
        ),
        ("idle_transaction_timeout = 300\n", None, 0),
        ("idle_transaction_timeout = 1\n", None, 0),
    ],
)
def test_idle_transaction_timeout(extra: str, message: str | None, line: int) -> None:
    found = lint(ini_map(BASE + extra))
    if message is None:
        assert found.findings(RULE) == []
        return
    f = found.one(RULE)
    assert (f.message, f.line, f.object) == (message, line, "ConfigMap/pgbouncer-config")


def test_idle_transaction_timeout_points_at_the_file_when_there_is_no_section() -> None:
    f = lint(ini_map("[databases]\n* = host=db\n")).one(RULE)
    assert f.message.startswith("idle_transaction_timeout is not set (disabled)")
    assert f.line == 7  # the rule file's first line: no [pgbouncer] section to point at


def pgbouncer(annotations: dict[str, str] | None, volumes: list[dict[str, Any]]) -> dict[str, Any]:
    d = deployment("pgbouncer", containers=[container("pgbouncer")], volumes=volumes)
    if annotations is not None:
        d["spec"]["template"]["metadata"]["annotations"] = annotations
    return d


CONFIG = [{"name": "config", "configMap": {"name": "pgbouncer-config"}}]


@pytest.mark.parametrize(
    ("annotations", "volumes", "path"),
    [
        (None, CONFIG, "spec.template.metadata"),
        ({"team": "db"}, CONFIG, "spec.template.metadata.annotations"),
        ({"checksum/config": "abc"}, CONFIG, None),
        ({"checksum/other": "abc"}, CONFIG, None),
        (None, [{"name": "x", "emptyDir": {}}], None),
        (None, [{"name": "x", "configMap": "odd"}], None),
    ],
)
def test_config_rollout(
    annotations: dict[str, str] | None, volumes: list[dict[str, Any]], path: str | None
) -> None:
    found = lint(pgbouncer(annotations, volumes))
    if path is None:
        assert found.findings("pgbouncer.config-rollout") == []
        return
    f = found.one("pgbouncer.config-rollout")
    assert f.message == (
        "Deployment/pgbouncer mounts its config from a ConfigMap but its pod template has "
        "no checksum/ annotation"
    )
    assert f.path == path


def test_config_rollout_is_pgbouncers_only() -> None:
    other = deployment("web", volumes=CONFIG)
    assert lint(other).findings("pgbouncer.config-rollout") == []
