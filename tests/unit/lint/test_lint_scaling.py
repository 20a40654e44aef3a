"""Cross-document rules cost linear work: counted index visits, never timed.

Apps are distinct (own names, pod labels, selectors and PDBs) and all critical, so
every workload looks its PDB up; every PDB and pod also carries a shared label
(``team: platform``) so that an index keyed on any label pair would degrade.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import yaml

from akops.lint.documents import KubeObject, SourceText, classify
from akops.lint.index import Index
from akops.lint.registry import checks


def app_docs(i: int) -> Iterator[dict[str, object]]:
    labels = {"app": f"app-{i}", "app.kubernetes.io/name": "pgbouncer", "team": "platform"}
    yield {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": f"app-{i}"},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": f"app-{i}"}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "automountServiceAccountToken": False,
                    "containers": [{"name": "app", "image": "example/app:1.0"}],
                },
            },
        },
    }
    yield {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": f"app-{i}"},
        "spec": {
            "podSelector": {"matchLabels": {"team": "platform", "app": f"app-{i}"}},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "client"}}}]}],
            "egress": [{"to": [{"podSelector": {"matchLabels": {"app": "db"}}}]}],
        },
    }
    yield {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": f"app-{i}"},
        "spec": {
            "minAvailable": 2,
            "selector": {"matchLabels": {"team": "platform", "app": f"app-{i}"}},
        },
    }


def objects(n: int) -> tuple[KubeObject, ...]:
    text = yaml.safe_dump_all([d for i in range(n) for d in app_docs(i)])
    return classify([SourceText("apps.yaml", text, True)]).objects


def visits(n: int) -> tuple[int, int]:
    """(visits, findings) of every stack rule over ``n`` apps."""
    ix = Index(objects(n))
    found = 0
    for check in checks("stack"):
        found += len(list(check.function(ix)))
    return ix.visits, found


def test_every_workload_finds_its_own_pdb() -> None:
    ix = Index(objects(50))
    for w in ix.workloads:
        budget = ix.budget_for(w)
        assert budget is not None and budget.ref == f"PodDisruptionBudget/{w.name}"


@pytest.mark.parametrize("small", [100])
def test_pdb_lookups_grow_linearly(small: int) -> None:
    v_small, f_small = visits(small)
    v_large, f_large = visits(10 * small)
    assert f_small == f_large == 0  # every app is well-formed: nothing to report
    assert v_small > 0
    # Three PDB rules and the NetworkPolicy rule, one lookup each per workload, one
    # candidate per lookup. A scan of every PDB or policy per workload would make this
    # 100x, not 10x.
    assert v_large <= 10 * v_small
    assert v_large <= 4 * 10 * small


def test_a_selector_without_labels_is_still_found() -> None:
    docs = list(app_docs(0))
    docs[1]["spec"] = {  # type: ignore[index]
        "minAvailable": 2,
        "selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["app-0"]}]},
    }
    ix = Index(classify([SourceText("a.yaml", yaml.safe_dump_all(docs), True)]).objects)
    (w,) = ix.workloads
    budget = ix.budget_for(w)
    assert budget is not None and budget.ref == "PodDisruptionBudget/app-0"


def test_only_what_the_stack_rules_need_is_kept_across_files() -> None:
    """A tree's ordinary ConfigMaps are dropped with their file; the one carrying alert
    rules is kept for the stack rules (the memory a run holds grows with PDBs and rule
    files, not with every ConfigMap)."""
    from akops.lint.engine import Settings, lint_file

    plain = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "app-config"},
        "data": {"app.conf": "x = 1\n"},
    }
    rules = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "alerts"},
        "data": {"authentik.rules.yml": "groups: []\n"},
    }
    text = yaml.safe_dump_all([plain, rules])
    result = lint_file(SourceText("cm.yaml", text, True), Settings(), None)
    assert [o.name for o in result.objects] == ["alerts"]
