"""The rule ConfigMap's reload recipe (``alerts-prometheus-values.yaml``) and ``alerts.reload``.

The rendered recipe mounts the ConfigMap ``alerts-rules.yaml`` renders for both the
prometheus-community chart's server and its config-reloader, has the reloader watch that
directory and lists the rule file in ``rule_files``; lint passes it. Each side taken away
(and the other ways a change never reaches Prometheus) is a finding.
"""

from __future__ import annotations

import copy
import fnmatch
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from akops.environment import load_environment
from akops.layout import Layout
from akops.lint.documents import (
    ChartValues,
    Classifier,
    PrometheusValues,
    SourceText,
    classify,
)
from akops.lint.findings import Finding
from akops.lint.rules.alerts import check_reload
from akops.render import render_env
from akops.stack import render_stack

RECIPE = "alerts-prometheus-values.yaml"
CHART_RULE_FILES = [
    "/etc/config/recording_rules.yml",
    "/etc/config/alerting_rules.yml",
    "/etc/config/rules",
    "/etc/config/alerts",
]


def rendered(layout: Layout, env: str = "prod") -> dict[str, str]:
    return render_env(layout, env)[1].by_name()


def findings(data: dict[str, Any]) -> list[Finding]:
    text = yaml.safe_dump(data, sort_keys=False)
    (v,) = classify([SourceText("values.yaml", text, True)]).prometheus
    return list(check_reload(v))


@pytest.fixture(scope="module")
def recipe(layout: Layout) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(rendered(layout)[RECIPE])
    return data


@pytest.mark.parametrize("env", ["prod", "lab"])
def test_the_recipe_mounts_the_rendered_rule_configmap_on_both_sides(
    layout: Layout, env: str
) -> None:
    files = rendered(layout, env)
    monitoring = load_environment(env, layout.environments).monitoring
    assert monitoring is not None
    configmap = yaml.safe_load(files["alerts-rules.yaml"])
    name, keys = configmap["metadata"]["name"], list(configmap["data"])
    data = yaml.safe_load(files[RECIPE])
    mount = {
        "name": name,
        "configMap": name,
        "mountPath": monitoring.rules_dir,
        "readOnly": True,
    }
    assert data["server"]["extraConfigmapMounts"] == [mount]
    reloader = data["configmapReload"]["prometheus"]
    assert reloader["extraConfigmapMounts"] == [mount]
    assert reloader["extraVolumeDirs"] == [monitoring.rules_dir]
    rule_files = data["serverFiles"]["prometheus.yml"]["rule_files"]
    # The chart's own four stay (a values list replaces the default list whole).
    assert rule_files[:4] == CHART_RULE_FILES
    for key in keys:
        assert any(fnmatch.fnmatch(f"{monitoring.rules_dir}/{key}", g) for g in rule_files)
    assert findings(data) == []


def test_the_recipe_is_prometheus_chart_values_and_passes_lint(layout: Layout) -> None:
    texts = [SourceText(n, t, True) for n, t in rendered(layout).items()]
    sources = classify(texts)
    (v,) = sources.prometheus
    assert isinstance(v, PrometheusValues) and v.file == RECIPE
    assert all(not isinstance(x, PrometheusValues) for x in sources.values)
    assert list(check_reload(v)) == []


def test_only_a_configmap_delivery_has_a_recipe(layout: Layout) -> None:
    env = load_environment("prod", layout.environments)
    assert env.monitoring is not None
    operator = env.model_copy(
        update={"monitoring": env.monitoring.model_copy(update={"rules": "prometheusrule"})}
    )
    assert RECIPE not in render_stack(operator, layout.templates).by_name()


def reloader(d: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = d["configmapReload"]["prometheus"]
    return found


BREAKS: dict[str, tuple[Callable[[dict[str, Any]], object], str, str]] = {
    "reloader does not mount it": (
        lambda d: reloader(d).pop("extraConfigmapMounts"),
        "server.extraConfigmapMounts[0]",
        "the config-reloader does not",
    ),
    "reloader does not watch it": (
        lambda d: reloader(d).pop("extraVolumeDirs"),
        "configmapReload.prometheus.extraConfigmapMounts[0].mountPath",
        "does not watch that directory",
    ),
    "reloader watches another directory": (
        lambda d: reloader(d).__setitem__("extraVolumeDirs", ["/etc/config/other"]),
        "configmapReload.prometheus.extraConfigmapMounts[0].mountPath",
        "does not watch that directory",
    ),
    "server does not mount it": (
        lambda d: d.pop("server"),
        "configmapReload.prometheus.extraConfigmapMounts[0]",
        "Prometheus never reads its rules",
    ),
    "reloader disabled": (
        lambda d: reloader(d).__setitem__("enabled", False),
        "configmapReload.prometheus.enabled",
        "the config-reloader is disabled",
    ),
    "subPath mount": (
        lambda d: d["server"]["extraConfigmapMounts"][0].__setitem__("subPath", "x.rules.yml"),
        "server.extraConfigmapMounts[0].subPath",
        "never updates a subPath mount",
    ),
}


@pytest.mark.parametrize("case", sorted(BREAKS))
def test_a_recipe_that_cannot_reload_is_refused(recipe: dict[str, Any], case: str) -> None:
    change, path, words = BREAKS[case]
    data = copy.deepcopy(recipe)
    change(data)
    (f,) = findings(data)
    assert f.rule == "alerts.reload" and f.severity == "error"
    assert f.path == path and words in f.message and "authentik-alerts" in f.message
    assert f.line is not None and f.line > 0


def test_a_trailing_slash_is_the_same_directory(recipe: dict[str, Any]) -> None:
    data = copy.deepcopy(recipe)
    reloader(data)["extraVolumeDirs"] = [reloader(data)["extraVolumeDirs"][0] + "/"]
    assert findings(data) == []


def test_prometheus_values_are_told_from_authentik_values() -> None:
    text = "server:\n  replicas: 1\nserverFiles:\n  prometheus.yml: {}\n"
    sources = classify([SourceText("prom.yaml", text, True)])
    assert len(sources.prometheus) == 1 and sources.values == ()
    # A file the operator names with --values is Authentik's, whatever its keys.
    named = classify(
        [SourceText("prom.yaml", text, True)], Classifier(values_files=frozenset({"prom.yaml"}))
    )
    assert named.prometheus == () and isinstance(named.values[0], ChartValues)


WHOLE = {
    "reloader disabled": "the config-reloader is disabled: a change to ConfigMap "
    "authentik-alerts (mounted at /etc/config/authentik) loads only when Prometheus restarts",
    "reloader does not mount it": "the server mounts ConfigMap authentik-alerts at "
    "/etc/config/authentik, the config-reloader does not "
    "(configmapReload.prometheus.extraConfigmapMounts): a rule change loads only when "
    "Prometheus restarts",
    "reloader does not watch it": "the config-reloader mounts ConfigMap authentik-alerts at "
    "/etc/config/authentik but does not watch that directory "
    "(configmapReload.prometheus.extraVolumeDirs): a rule change loads only when Prometheus "
    "restarts",
    "server does not mount it": "the config-reloader mounts ConfigMap authentik-alerts, the "
    "server does not (server.extraConfigmapMounts): Prometheus never reads its rules",
    "subPath mount": "the server mounts ConfigMap authentik-alerts with subPath "
    "'x.rules.yml': the kubelet never updates a subPath mount, so a rule change loads only "
    "with a new pod",
}


@pytest.mark.parametrize("case", sorted(WHOLE))
def test_each_refusal_says_what_breaks_and_where_whole(recipe: dict[str, Any], case: str) -> None:
    data = copy.deepcopy(recipe)
    BREAKS[case][0](data)
    (f,) = findings(data)
    assert (f.message, f.object) == (WHOLE[case], "prometheus chart values")
