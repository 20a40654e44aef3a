"""`invoke lint` on the alert rules: promtool in the loop, alerts <-> runbooks both ways."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from akops.layout import Layout

RULES = Path("templates/alerts/authentik.rules.yml.j2")


def test_promtool_refusal_is_a_finding_at_the_rendered_line(
    repo: Layout, cli: Callable[..., Any]
) -> None:
    template = repo.root / RULES
    text = template.read_text()
    broken = text.replace(
        "pgbouncer_pools_client_waiting_connections{ {{- pools -}} }\n          ) >",
        "pgbouncer_pools_client_waiting_connections{ {{- pools -}} }\n          )) >",
    )
    assert broken != text
    template.write_text(broken)
    assert cli("render", "--env", "prod").returncode == 0
    result = cli("lint", "--env", "prod")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "alerts.promtool" in result.stdout
    assert "PgBouncerClientsWaiting" in result.stdout
    assert "manifests/prod/alerts-rules.yaml" in result.stdout


def test_a_runbook_naming_an_alert_nobody_defines_fails_lint(
    repo: Layout, cli: Callable[..., Any]
) -> None:
    book = repo.runbooks / "node-drain.yaml"
    text = book.read_text()
    book.write_text(
        text.replace(
            "    - AuthentikServerReplicasMismatch\n",
            "    - AuthentikServerReplicasMismatch\n    - AuthentikNodeGone\n",
            1,
        )
    )
    line = book.read_text().splitlines().index("    - AuthentikNodeGone") + 1
    result = cli("lint", "--env", "prod")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "runbooks.alerts" in result.stdout and "AuthentikNodeGone" in result.stdout
    assert f"runbooks/node-drain.yaml:{line}:1: error runbooks.alerts" in result.stdout


def test_without_promtool_lint_says_so_or_refuses_when_required(
    cli: Callable[..., Any], tmp_path: Path, one_line_error: Callable[..., str]
) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    result = cli("lint", "--env", "prod", env={"PATH": str(empty)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "promtool not on PATH" in result.stderr
    required = cli("lint", "--env", "prod", "--require-promtool", env={"PATH": str(empty)})
    one_line_error(required, ["promtool is not on PATH", "apt-get install prometheus"])


def test_a_rule_configmap_the_reloader_does_not_mount_fails_lint(
    repo: Layout, cli: Callable[..., Any]
) -> None:
    """The recipe with the server's mount only: `lint --env` and `lint --path` refuse it."""
    template = repo.root / "templates/alerts/prometheus-values.yaml.j2"
    text = template.read_text()
    one_sided = text.replace("    extraConfigmapMounts:\n{{ mount() | indent(6, true) }}\n", "", 1)
    assert one_sided != text
    template.write_text(one_sided)
    assert cli("render", "--env", "prod").returncode == 0
    for args in (("--env", "prod"), ("--path", "manifests/prod/alerts-prometheus-values.yaml")):
        result = cli("lint", *args)
        assert result.returncode == 1, result.stdout + result.stderr
        assert re.search(
            r"manifests/prod/alerts-prometheus-values\.yaml:[0-9]+:1: error alerts\.reload "
            r"the server mounts ConfigMap authentik-alerts at /etc/config/authentik, the "
            r"config-reloader does not",
            result.stdout,
        ), result.stdout
