"""The custom resources the stack renders are schema-checked, strictly, from akops's own
schemas (``akops/data/crds/``): prometheus-operator's PrometheusRule and ServiceMonitor."""

from __future__ import annotations

import pytest

from akops.environment import Environment, load_environment
from akops.layout import Layout
from akops.lint import schema
from akops.lint.documents import SourceText, classify
from akops.lint.findings import Finding
from akops.stack import render_stack


def check(text: str) -> list[Finding]:
    objects = classify([SourceText("x.yaml", text, True)]).objects
    return [f for obj in objects for f in schema.check(obj, "1.33")]


@pytest.fixture(scope="module")
def operator_env(layout: Layout) -> Environment:
    """prod, delivering its rules and scrape config the prometheus-operator way."""
    env = load_environment("prod", layout.environments)
    assert env.monitoring is not None
    monitoring = env.monitoring.model_copy(
        update={"rules": "prometheusrule", "scrape": "servicemonitor"}
    )
    return env.model_copy(update={"monitoring": monitoring})


@pytest.fixture(scope="module")
def operator_files(operator_env: Environment, layout: Layout) -> dict[str, str]:
    return render_stack(operator_env, layout.templates).by_name()


def test_the_stacks_own_custom_resources_are_checked_and_valid(
    operator_files: dict[str, str],
) -> None:
    kinds: set[str] = set()
    for name, text in operator_files.items():
        if not name.endswith(".yaml"):
            continue
        for obj in classify([SourceText(name, text, True)]).objects:
            kinds.add(obj.kind)
            assert schema.check(obj, "1.33") == [], name
    assert {"PrometheusRule", "ServiceMonitor"} <= kinds


SERVICE_MONITOR = """\
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: pgbouncer, namespace: authentik}
spec:
  selector: {matchLabels: {akops.io/scrape: pgbouncer}}
  endpoints:
    - {port: metrics, path: /metrics, interval: 30s}
"""
RULE = """\
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata: {name: authentik, namespace: monitoring}
spec:
  groups:
    - name: authentik
      rules:
        - {alert: PgBouncerDown, expr: up == 0, for: 5m, labels: {severity: critical}}
        - {record: "job:up:sum", expr: sum(up)}
"""


@pytest.mark.parametrize(
    ("text", "edit", "path", "message"),
    [
        (
            SERVICE_MONITOR,
            ("interval: 30s", "intervall: 30s"),
            "spec.endpoints[0].intervall",
            "unknown field 'intervall' (did you mean 'interval'?)",
        ),
        (SERVICE_MONITOR, ("selector:", "selectr:"), "spec.selectr", "unknown field 'selectr'"),
        (
            SERVICE_MONITOR,
            ("interval: 30s", "interval: 30 seconds"),
            "spec.endpoints[0].interval",
            "fails pattern",
        ),
        (
            SERVICE_MONITOR,
            ("metadata: {", "metadata: {labelz: {a: b}, "),
            "metadata.labelz",
            "unknown field 'labelz'",
        ),
        (RULE, ("for: 5m", "for: 5mins"), "spec.groups[0].rules[0].for", "fails pattern"),
        (
            RULE,
            ('{record: "job:up:sum", ', "{"),
            "spec.groups[0].rules[1]",
            "a rule sets exactly one of alert and record",
        ),
        (
            RULE,
            ("- name: authentik", "- nme: authentik"),
            "spec.groups[0].nme",
            "unknown field 'nme'",
        ),
    ],
)
def test_a_mistake_in_a_custom_resource_is_named(
    text: str, edit: tuple[str, str], path: str, message: str
) -> None:
    assert check(text) == []
    found = check(text.replace(*edit))
    assert found, edit
    assert any(
        f.rule == "schema.invalid" and path in f.message and message in f.message for f in found
    ), [f.message for f in found]


def test_other_custom_resources_stay_unchecked() -> None:
    text = "apiVersion: monitoring.coreos.com/v1\nkind: PodMonitor\nmetadata: {name: x}\nspec: {}\n"
    (only,) = check(text)
    assert only.rule == "schema.unchecked"
