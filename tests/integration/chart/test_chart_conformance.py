"""The project's chart model (akops/lint/workloads.py) held against the real chart.

``helm template`` (the real helm) of the real Authentik chart 2026.2.2 with every
environment's rendered values, with the seed's original values, and with a values file
of edge cases; the Deployments and PDBs it renders must equal, field by field, what
``workloads.from_values`` believes the chart renders. Any divergence fails and names
the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from akops import chart as charts
from akops.environment import known_environments
from akops.layout import Layout
from akops.lint import lint_paths
from akops.lint.documents import ChartValues, Classifier, KubeObject, SourceText, classify
from akops.lint.settings import authentik_config
from akops.lint.workloads import Workload, from_object, from_values, selector_matches
from akops.render import render_env

SEED_VALUES = Path(__file__).resolve().parents[2] / "fixtures" / "seed" / "seed-values.yaml"
EDGE_VALUES = Path(__file__).with_name("edge-values.yaml")
ENVS = known_environments(Layout(Path(__file__).resolve().parents[3]).environments)


@dataclass(frozen=True)
class Rendered:
    values: ChartValues
    objects: tuple[KubeObject, ...]
    release: str

    def kind(self, kind: str) -> dict[str, KubeObject]:
        return {o.name: o for o in self.objects if o.kind == kind}


def template(helm: Path, chart: Path, values_text: str, label: str, release: str) -> Rendered:
    out = charts.template(
        str(helm), chart, release=release, namespace="authentik", values_text=values_text
    )
    sources = classify(
        [SourceText("out.yaml", out, True), SourceText(label, values_text, True)],
        Classifier(values_files=frozenset({label})),
    )
    (values,) = sources.values
    return Rendered(values, sources.objects, release)


def _probe(p: dict[str, Any] | None) -> dict[str, Any] | None:
    return p or None


def facts(w: Workload) -> dict[str, Any]:
    """Every field of a workload the lint rules read, as plain data."""
    return {
        "name": w.name,
        "replicas": w.replicas,
        "strategy": w.strategy,
        "labels": w.labels,
        # The chart adds a checksum of its own Secret; the model cannot know that hash.
        "annotations": {k: v for k, v in w.annotations.items() if k != "checksum/secret"},
        "affinity": w.affinity,
        "spread": list(w.spread),
        "volumes": list(w.volumes),
        "containers": [
            {
                "name": c.name,
                "image": c.image,
                "resources": c.resources,
                "readiness": _probe(c.readiness),
                "liveness": _probe(c.liveness),
                "startup": _probe(c.startup),
                "env": [(e.name, e.value, e.from_ref) for e in c.env],
                "mounts": list(c.mounts),
            }
            # The model knows the Authentik container only (no geoip sidecar).
            for c in w.containers[:1]
        ],
        "security": None
        if w.security is None
        else {
            "pod": w.security.context,
            "spec": w.security.spec,
            "containers": [(c.name, c.context) for c in w.security.containers[:1]],
        },
    }


def budget_facts(rendered: Rendered, w: Workload) -> tuple[str, Any, Any] | None:
    for pdb in rendered.kind("PodDisruptionBudget").values():
        spec = pdb.data["spec"]
        if selector_matches(spec.get("selector"), w.labels):
            return pdb.name, spec.get("minAvailable"), spec.get("maxUnavailable")
    return None


def assert_conforms(rendered: Rendered) -> dict[str, Workload]:
    model = {w.name: w for w in from_values(rendered.values, rendered.release)}
    real = {
        o.name: w for o in rendered.kind("Deployment").values() if (w := from_object(o)) is not None
    }
    assert sorted(model) == sorted(real), "Deployment names"
    for name, m in model.items():
        want, got = facts(m), facts(real[name])
        for field in got:
            assert want[field] == got[field], f"{name}: {field}"
        b = m.budget
        assert (
            None if b is None else (b.ref.split("/", 1)[1], b.min_available, b.max_unavailable)
        ) == budget_facts(rendered, real[name]), f"{name}: PodDisruptionBudget"
    budgets = {m.budget.ref.split("/", 1)[1] for m in model.values() if m.budget}
    assert set(rendered.kind("PodDisruptionBudget")) == budgets, "PodDisruptionBudget names"
    return real


@pytest.mark.parametrize("env_name", ENVS)
def test_every_environment_renders_as_the_model_says(
    real_helm: Path, pinned_chart: Path, layout: Layout, env_name: str
) -> None:
    env, stack = render_env(layout, env_name)
    text = stack.by_name()["authentik-values.yaml"]
    rendered = template(
        real_helm, pinned_chart, text, "authentik-values.yaml", env.authentik.chart.release
    )
    real = assert_conforms(rendered)

    # The environment's settings reach the containers as the AUTHENTIK_* it meant.
    a = env.authentik
    server = {e.name: e.value for e in real[a.chart.server].containers[0].env}
    worker = {e.name: e.value for e in real[a.chart.worker].containers[0].env}
    assert server["AUTHENTIK_WEB__WORKERS"] == str(a.server.web_workers)
    assert server["AUTHENTIK_WEB__THREADS"] == str(a.server.web_threads)
    assert worker["AUTHENTIK_WORKER__THREADS"] == str(a.worker.threads)
    for env_vars in (server, worker):
        assert env_vars["AUTHENTIK_POSTGRESQL__CONN_MAX_AGE"] == str(a.conn_max_age)
        assert env_vars["AUTHENTIK_CACHE__TIMEOUT_FLOWS"] == str(a.cache_timeout_flows)
        assert env_vars["AUTHENTIK_CACHE__TIMEOUT_POLICIES"] == str(a.cache_timeout_policies)
    # With an existing secret the chart renders no Secret of its own: nothing inert.
    assert not rendered.kind("Secret")
    assert real[a.chart.server].replicas == a.server.replicas


def _leaves(node: Any, path: tuple[str, ...]) -> list[tuple[str, ...]]:
    if isinstance(node, dict) and node:
        return [leaf for k, v in node.items() for leaf in _leaves(v, (*path, str(k)))]
    return [path] if node not in (None, "", {}, []) else []


def _env_names(rendered: Rendered) -> set[str]:
    names = set()
    for o in rendered.kind("Deployment").values():
        w = from_object(o)
        assert w is not None
        names |= {e.name for c in w.containers for e in c.env}
    for secret in rendered.kind("Secret").values():
        names |= set((secret.data.get("data") or {}).keys())
    return names


def test_the_seed_values_render_as_the_model_says_and_prove_authentik_settings_inert(
    real_helm: Path, pinned_chart: Path
) -> None:
    text = SEED_VALUES.read_text(encoding="utf-8")
    rendered = template(real_helm, pinned_chart, text, "seed-values.yaml", "goauthentik")
    real = assert_conforms(rendered)

    inert = [
        p
        for p in _leaves(authentik_config(rendered.values), ("authentik",))
        if p[1] != "existingSecret"
    ]
    variables = {"AUTHENTIK_" + "__".join(p.upper() for p in path[1:]) for path in inert}
    assert "AUTHENTIK_POSTGRESQL__CONN_MAX_AGE" in variables  # the seed's intended tuning
    assert not rendered.kind("Secret")
    assert not variables & _env_names(rendered), "an authentik.* value reached a container"
    # The seed's `strategy:` key is not the chart's: the Deployments get Kubernetes' default.
    for o in rendered.kind("Deployment").values():
        assert "strategy" not in o.data["spec"]
    assert {w.containers[0].env[-1].name for w in real.values()} == {"AUTHENTIK_LISTEN__METRICS"}

    # Lint's values.inert-authentik names exactly the settings the chart proved inert.
    report = lint_paths([SEED_VALUES], root=SEED_VALUES.parent)
    flagged = {f.path for f in report.findings if f.rule == "values.inert-authentik"}
    assert flagged == {".".join(p) for p in inert}

    # The control: without the existing secret the same values do reach the pods (as a
    # Secret the chart renders and mounts), so the assertion above can fail.
    data = yaml.safe_load(text)
    del data["authentik"]["existingSecret"]
    live = template(
        real_helm, pinned_chart, yaml.safe_dump(data), "seed-values.yaml", "goauthentik"
    )
    assert "AUTHENTIK_POSTGRESQL__CONN_MAX_AGE" in _env_names(live)


def test_chart_edge_cases_render_as_the_model_says(real_helm: Path, pinned_chart: Path) -> None:
    """Helm's value merging, the chart's helpers and a release not named *authentik*."""
    text = EDGE_VALUES.read_text(encoding="utf-8")
    rendered = template(real_helm, pinned_chart, text, "edge-values.yaml", "ak")
    real = assert_conforms(rendered)
    assert sorted(real) == ["ak-authentik-server", "ak-authentik-worker"]
    from akops.environment import Chart

    chart = Chart(version="2026.2.2", release="ak")
    assert {chart.server, chart.worker} == set(real)


def test_a_wrong_model_is_caught(real_helm: Path, pinned_chart: Path, layout: Layout) -> None:
    """The defence shown to fail: a model that forgets a chart default diverges."""
    _, stack = render_env(layout, "prod")
    rendered = template(
        real_helm, pinned_chart, stack.by_name()["authentik-values.yaml"], "v.yaml", "goauthentik"
    )
    from akops.lint import workloads

    saved = workloads._LISTEN["server"]
    workloads._LISTEN["server"] = saved[:1]
    try:
        with pytest.raises(AssertionError, match="goauthentik-server: containers"):
            assert_conforms(rendered)
    finally:
        workloads._LISTEN["server"] = saved
