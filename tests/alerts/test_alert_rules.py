"""The rendered alert rules under ``promtool test rules``: every alert fires on the series of
its incident at the right time and stays silent on a healthy stack and on the near miss.

Each ``*.promtool.yml`` here is a promtool rule-test file written against the prod
environment's rendered rules (``manifests/prod/alerts-rules.yaml``): its series use the label
formats kube-state-metrics, cAdvisor, Traefik and the PgBouncer exporter sidecar really
export, so a selector that cannot match them fails here. The harness points ``rule_files``
at the rendered rule file and copies each expected alert's static annotations
(``description``, ``runbook_url``) from the rule; every ``summary`` (with its numbers) is
written in the test file and compared as Prometheus renders it.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from akops import process
from akops.alerts.rules import Alert, alerts_of, rule_files
from akops.layout import Layout
from akops.render import render_env
from akops.yamldoc import parse_one

HERE = Path(__file__).parent
TEST_FILES = sorted(HERE.glob("*.promtool.yml"))
PROMTOOL_TIMEOUT = 120.0


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool not found: apt-get install prometheus (it ships promtool)")
    return found


def rendered_rules(layout: Layout, env: str = "prod") -> str:
    """The rule file text of the rendered ConfigMap, as the Prometheus server reads it."""
    _, stack = render_env(layout, env)
    doc = parse_one(stack.by_name()["alerts-rules.yaml"], "alerts-rules.yaml")
    (rf,) = rule_files(doc.data, "alerts-rules.yaml", doc.line_of)
    return rf.text


@pytest.fixture(scope="module")
def rules_text(layout: Layout) -> str:
    return rendered_rules(layout)


@pytest.fixture(scope="module")
def alerts(layout: Layout) -> dict[str, Alert]:
    _, stack = render_env(layout, "prod")
    doc = parse_one(stack.by_name()["alerts-rules.yaml"], "alerts-rules.yaml")
    (rf,) = rule_files(doc.data, "alerts-rules.yaml", doc.line_of)
    return {a.name: a for a in alerts_of(rf)}


def prepared(test_file: Path, rules: Path, alerts: dict[str, Alert]) -> dict[str, Any]:
    """The test file pointed at ``rules``, static annotations filled in from the rules."""
    data = yaml.safe_load(test_file.read_text())
    data["rule_files"] = [str(rules)]
    for group in data["tests"]:
        for case in group.get("alert_rule_test", []):
            rule = alerts[case["alertname"]]
            for exp in case.get("exp_alerts") or []:
                notes = exp.setdefault("exp_annotations", {})
                assert "summary" in notes, f"{test_file.name}: write the summary out"
                for key in ("description", "runbook_url"):
                    notes.setdefault(key, rule.annotations[key])
    return data


def run_promtool(test_file: Path, rules_text: str, alerts: dict[str, Alert], tmp: Path) -> Any:
    rules = tmp / "authentik.rules.yml"
    rules.write_text(rules_text)
    case = tmp / test_file.name
    case.write_text(yaml.safe_dump(prepared(test_file, rules, alerts), sort_keys=False))
    return process.run([promtool(), "test", "rules", str(case)], timeout=PROMTOOL_TIMEOUT)


@pytest.mark.parametrize("test_file", TEST_FILES, ids=[p.name for p in TEST_FILES])
def test_promtool_rule_tests_pass(
    test_file: Path, rules_text: str, alerts: dict[str, Alert], tmp_path: Path
) -> None:
    done = run_promtool(test_file, rules_text, alerts, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


def cases() -> Iterator[tuple[str, bool]]:
    for test_file in TEST_FILES:
        for group in yaml.safe_load(test_file.read_text())["tests"]:
            for case in group.get("alert_rule_test", []):
                yield case["alertname"], bool(case.get("exp_alerts"))


def test_every_alert_is_tested_firing_and_silent(alerts: dict[str, Alert]) -> None:
    fired = {name for name, firing in cases() if firing}
    silent = {name for name, firing in cases() if not firing}
    assert set(alerts) - fired == set(), "alerts never shown to fire"
    assert set(alerts) - silent == set(), "alerts never shown to stay silent"
    assert (fired | silent) - set(alerts) == set(), "tests of alerts that do not exist"


def test_a_selector_that_cannot_match_fails_the_tests(
    rules_text: str, alerts: dict[str, Alert], tmp_path: Path
) -> None:
    """The defence works: the regex that matched nothing for weeks fails the edge tests."""
    right = 'service="authentik-ak-outpost-authentik-embedded-outpost-9000@kubernetes"'
    assert right in rules_text
    wrong = rules_text.replace(right, 'service=~"authentik-authentik-outpost.*"')
    done = run_promtool(HERE / "edge.promtool.yml", wrong, alerts, tmp_path)
    assert done.returncode != 0
    assert "alertname: AuthentikOutpostForwardAuth400Spike" in done.stdout + done.stderr
