"""One home for the names that select objects and pods: the rendered stack, prune and verify agree."""

from __future__ import annotations

import pytest
import yaml

from akops import names
from akops.cluster.objects import labels_match, manifests
from akops.render import render_env
from akops.verify.probes import roles


def matches(labels: dict[str, str], selector: str) -> bool:
    return labels_match({"metadata": {"labels": labels}}, selector)


@pytest.mark.parametrize("env_name", ["prod", "lab"])
def test_rendered_objects_carry_the_names_prune_and_verify_select_on(layout, env_name) -> None:
    env, stack = render_env(layout, env_name)
    objects = manifests(stack, env.kube.namespace, env.other_namespaces)
    # prune and plan find every object of ours by the one selector
    assert objects and all(labels_match(m.body) for m in objects)
    deployment = next(m.body for m in objects if m.ref.kind == "Deployment")
    assert deployment["metadata"]["name"] == names.PGBOUNCER
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    pgbouncer = roles(env)["pgbouncer"]
    # verify execs into the pods the Deployment makes, in the container it names
    assert matches(pod_labels, pgbouncer.selector)
    assert pgbouncer.container in [
        c["name"] for c in deployment["spec"]["template"]["spec"]["containers"]
    ]
    assert deployment["spec"]["selector"]["matchLabels"] == {names.APP_LABEL: names.PGBOUNCER}
    for kind in ("Service", "PodDisruptionBudget"):
        body = next(m.body for m in objects if m.ref.kind == kind)
        selected = body["spec"]["selector"]
        assert selected.get("matchLabels", selected) == {names.APP_LABEL: names.PGBOUNCER}


def test_the_chart_pods_verify_looks_for_are_the_ones_the_values_spread(layout) -> None:
    env, stack = render_env(layout, "prod")
    values = yaml.safe_load(stack.by_name()["authentik-values.yaml"])
    for component in (names.SERVER, names.WORKER):
        [constraint] = values[component]["topologySpreadConstraints"]
        spread = constraint["labelSelector"]["matchLabels"]
        assert matches(spread, roles(env)[component].selector)
