"""The seed change's own files: lint must catch what went wrong in them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from akops.layout import Layout
from akops.lint import LintReport, lint_paths

SEED = Path(__file__).resolve().parents[2] / "fixtures" / "seed"
CANARY = "seed-canary-7Qx2pW"  # the password pgbouncer.yaml was "rendered" with


@pytest.fixture(scope="module")
def report(layout: Layout) -> LintReport:
    return lint_paths(
        [SEED / "seed-values.yaml", SEED / "seed-pgbouncer.ini", SEED / "pgbouncer.yaml"],
        root=layout.root,
    )


def found(report: LintReport, rule: str) -> dict[str | None, str]:
    return {f.path: f.message for f in report.findings if f.rule == rule}


def test_the_seed_fails(report: LintReport) -> None:
    assert not report.ok
    assert report.files == 3


def test_inert_authentik_block_names_each_setting(report: LintReport) -> None:
    inert = found(report, "values.inert-authentik")
    assert {
        "authentik.log_level",
        "authentik.error_reporting.enabled",
        "authentik.postgresql.host",
        "authentik.postgresql.port",
        "authentik.postgresql.user",
        "authentik.postgresql.conn_max_age",
        "authentik.postgresql.conn_health_checks",
        "authentik.cache.timeout_flows",
        "authentik.cache.timeout_policies",
        "authentik.web.workers",
        "authentik.web.threads",
        "authentik.worker.threads",
    } == set(inert)
    assert "AUTHENTIK_CACHE__TIMEOUT_FLOWS" in inert["authentik.cache.timeout_flows"]


def test_strategy_keys_are_unknown_to_the_chart(report: LintReport) -> None:
    unknown = found(report, "values.unknown-key")
    assert set(unknown) == {"server.strategy", "worker.strategy"}
    assert "did you mean server.deploymentStrategy?" in unknown["server.strategy"]


def test_unpinned_image(report: LintReport) -> None:
    (message,) = found(report, "image.pinned").values()
    assert "edoburu/pgbouncer:latest" in message


def test_pgbouncer_replicas_not_spread_from_each_other(report: LintReport) -> None:
    spread = [f for f in report.findings if f.rule == "spread.nodes"]
    assert [f.object for f in spread] == ["Deployment/pgbouncer"]
    assert "selects other pods" in spread[0].message


def test_password_in_the_configmap_and_the_env(report: LintReport) -> None:
    configmap = [f for f in report.findings if f.rule == "secrets.configmap"]
    assert {(f.file.rsplit("/", 1)[-1], f.object) for f in configmap} == {
        ("pgbouncer.yaml", "ConfigMap/pgbouncer-config"),
        ("seed-pgbouncer.ini", None),
    }
    assert [f.object for f in report.findings if f.rule == "secrets.env"] == [
        "Deployment/pgbouncer"
    ]


def test_incident_rules_fire_on_the_seed(report: LintReport) -> None:
    rules = {f.rule for f in report.findings}
    assert {
        "pgbouncer.idle-transaction-timeout",
        "probes.liveness-budget",
        "pgbouncer.config-rollout",
    } <= rules


def test_the_password_never_reaches_the_output(report: LintReport) -> None:
    assert CANARY in (SEED / "pgbouncer.yaml").read_text()  # the canary is really there
    assert CANARY not in report.to_text()
    assert CANARY not in report.to_json()


def test_seed_findings_as_json(report: LintReport) -> None:
    items = json.loads(report.to_json())
    assert len(items) == len(report.findings)
    image = next(i for i in items if i["rule"] == "image.pinned")
    assert image["file"].endswith("tests/fixtures/seed/pgbouncer.yaml")
    assert image["object"] == "Deployment/pgbouncer"
    assert image["path"] == "spec.template.spec.containers[0].image"
    assert image["severity"] == "error" and image["waived"] is None
