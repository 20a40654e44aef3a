"""Rule files in objects and the alerts in them, at their edges: which keys and kinds carry
rules, recording rules and odd items skipped, defaults, line numbers, runbook URLs (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from akops.alerts.rules import (
    Alert,
    RuleFile,
    RunbookAlerts,
    Runbooks,
    alerts_of,
    names,
    rule_files,
    runbook_of,
)
from akops.errors import InputError

RULES = """groups:
- name: pool
  rules:
  - record: pgbouncer:waiting
    expr: sum(x)
  - alert: PoolWaiting
    expr: pgbouncer_pools_client_waiting_connections > 0
    for: 2m
    labels: {severity: critical}
    annotations: {summary: clients wait, runbook_url: https://x/runbooks/pool.yaml}
  - alert: Bare
  - just a string
- name: empty
- name: odd
  rules: {not: a list}
- 7
"""


def line_of(path: tuple[Any, ...]) -> int:
    return {("data", "authentik.rules.yml"): 10, ("data", "b.rules.yml"): 20}.get(path, 1)


def configmap(data: Any, name: Any = "rules") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def test_a_configmap_carries_each_key_ending_in_rules_yml_in_order() -> None:
    obj = configmap({"b.rules.yml": "groups: []", "authentik.rules.yml": RULES, "x.yml": RULES})
    found = rule_files(obj, "m.yaml", line_of)
    assert found == [
        RuleFile(RULES, "m.yaml", 11, "ConfigMap/rules", "data.authentik.rules.yml"),
        RuleFile("groups: []", "m.yaml", 21, "ConfigMap/rules", "data.b.rules.yml"),
    ]


@pytest.mark.parametrize(
    "obj",
    [
        configmap("not a map"),
        configmap({"a.rules.yml": 5}),
        {"kind": "Secret", "data": {"a.rules.yml": RULES}},
        {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule", "spec": "x"},
        {"apiVersion": "v1", "kind": "PrometheusRule", "spec": {"groups": []}},
        {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "spec": {}},
    ],
)
def test_other_objects_carry_no_rule_file(obj: dict[str, Any]) -> None:
    assert rule_files(obj, "m.yaml", line_of) == []


def test_an_unnamed_object_is_named_so() -> None:
    obj = {"kind": "ConfigMap", "metadata": "odd", "data": {"a.rules.yml": RULES}}
    assert [f.object for f in rule_files(obj, "m", line_of)] == ["ConfigMap/(unnamed)"]
    assert [f.object for f in rule_files(configmap({"a.rules.yml": ""}, ""), "m", line_of)] == [
        "ConfigMap/(unnamed)"
    ]


def test_a_prometheus_rule_is_its_spec_dumped_with_long_lines_kept() -> None:
    expr = "sum(rate(" + "x" * 200 + "[5m])) > 0"
    spec = {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": expr}]}]}
    obj = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "p"},
        "spec": spec,
    }
    (found,) = rule_files(obj, "m.yaml", line_of)
    assert (found.source, found.first_line, found.object, found.path) == (
        "m.yaml",
        0,
        "PrometheusRule/p",
        "spec",
    )
    assert found.text.startswith("groups:\n- name: g\n")  # keys in their order, not sorted
    assert f"expr: {expr}\n" in found.text  # one line: not folded at 80 columns
    (alert,) = alerts_of(found)
    assert (alert.name, alert.expr, alert.line) == ("A", expr, 4)


def test_alerts_skip_recording_rules_and_odd_items_and_take_defaults() -> None:
    pool, bare = alerts_of(RuleFile(RULES, "m.yaml", 11, "ConfigMap/rules", "data.a"))
    assert pool == Alert(
        name="PoolWaiting",
        expr="pgbouncer_pools_client_waiting_connections > 0",
        duration="2m",
        labels={"severity": "critical"},
        annotations={"summary": "clients wait", "runbook_url": "https://x/runbooks/pool.yaml"},
        source="m.yaml",
        line=16,  # line 6 of the rule file, which starts on line 11
        object="ConfigMap/rules",
    )
    assert (pool.severity, pool.summary, pool.runbook_url) == (
        "critical",
        "clients wait",
        "https://x/runbooks/pool.yaml",
    )
    assert (bare.expr, bare.duration, dict(bare.labels), dict(bare.annotations)) == (
        "",
        "0s",
        {},
        {},
    )
    assert (bare.severity, bare.summary, bare.runbook_url) == ("", "", "")
    assert bare.line == 21
    assert names([pool, bare]) == frozenset({"PoolWaiting", "Bare"})


def test_labels_are_strings_and_a_malformed_map_is_none() -> None:
    text = "groups:\n- rules:\n  - alert: 1\n    labels: {n: 2}\n    annotations: [a]\n"
    (alert,) = alerts_of(RuleFile(text, "m", 0, "o", "p"))
    assert alert.name == "1" and alert.labels == {"n": "2"} and alert.annotations == {}


@pytest.mark.parametrize("text", ["groups: 3\n", "- a\n", "{}\n"])
def test_a_rule_file_without_a_groups_list_is_bad_input(text: str) -> None:
    with pytest.raises(InputError) as err:
        alerts_of(RuleFile(text, "m.yaml", 4, "ConfigMap/rules", "data.a.rules.yml"))
    assert str(err.value) == (
        "m.yaml (ConfigMap/rules data.a.rules.yml): a rule file needs a 'groups' list"
    )


def test_runbook_urls_by_the_environment_form() -> None:
    template = "https://git.example/runbooks/{runbook}.yaml"
    assert runbook_of("https://git.example/runbooks/db-boot.yaml", template) == "db-boot"
    assert runbook_of("https://git.example/runbooks/db-boot.yaml#x", template) is None
    assert runbook_of("xhttps://git.example/runbooks/db-boot.yaml", template) is None
    assert runbook_of("https://git.example/runbooks/Db.yaml", template) is None
    assert runbook_of("https://git.example/runbooks/-db.yaml", template) is None
    assert runbook_of("https://gitXexample/runbooks/db.yaml", template) is None  # dots literal


def test_runbooks_are_found_by_name_and_url() -> None:
    pool = RunbookAlerts("pool", "runbooks/pool.yaml", (("PoolWaiting", 3),))
    books = Runbooks((RunbookAlerts("other", "o", ()), pool), None)
    assert books.named("pool") is pool
    assert books.named("nope") is None
    assert books.source == "runbooks"
    assert books.runbook_in("https://x/runbooks/pool.yaml") == "pool"
    assert books.runbook_in("https://x/runbooks/pool.yml") == "pool"
    assert books.runbook_in("https://x/runbooks/pool.md") == "pool"
    assert books.runbook_in("https://x/runbooks/pool/") == "pool"
    assert books.runbook_in("https://x/runbooks/pool") == "pool"
    assert books.runbook_in("https://x/runbooks/Pool!") is None
    formed = Runbooks((pool,), "https://x/rb/{runbook}.yaml")
    assert formed.runbook_in("https://x/rb/pool.yaml") == "pool"
    assert formed.runbook_in("https://x/runbooks/pool.yaml") is None
