"""The security baseline's lookups: which pods are judged and where their findings point on
the prod stack, NetworkPolicy selection by every matchLabels pair and expression, odd
shapes that must not crash a rule, and the policy index's cost (counted visits, no timing)."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import yaml

from akops.lint.documents import SourceText, classify
from akops.lint.index import Index
from akops.lint.rules.security import network_policy
from tests.unit.lint.small import container, deployment, lint
from tests.unit.lint.test_lint_security_edges import (
    NO_POLICY,
    POLICY,
    account,
    findings,
    only,
    pgbouncer,
    policy,
)

if TYPE_CHECKING:
    from conftest import StackFiles  # the fixture's type, from this directory's conftest

NETPOL = "security.network-policy"


# --- which pods, and where their findings point -------------------------------------------------


def test_each_critical_pod_is_named_where_its_owner_edits_it(stack: StackFiles) -> None:
    """Without PgBouncer's policy: the chart's pods at their values key, the outpost at its
    patches' `outpost`, PgBouncer at its name."""
    del stack.texts["pgbouncer-networkpolicy.yaml"]
    found = {(f.object, f.file, f.path) for f in stack.findings(NETPOL)}
    assert found == {
        ("Deployment/pgbouncer", "stack/pgbouncer-deployment.yaml", "metadata.name"),
        ("Deployment/goauthentik-server", "stack/authentik-values.yaml", "server"),
        ("Deployment/goauthentik-worker", "stack/authentik-values.yaml", "worker"),
        (
            "Deployment/ak-outpost-authentik-embedded-outpost",
            "stack/outpost-patches.yaml",
            "outpost",
        ),
    }


def test_the_outpost_is_selected_by_its_outpost_label(stack: StackFiles) -> None:
    outpost = "Deployment/ak-outpost-authentik-embedded-outpost"
    assert outpost in {f.object for f in stack.findings(NETPOL)}
    guard = copy.deepcopy(POLICY)
    guard["metadata"]["name"] = "outpost"
    guard["spec"]["podSelector"] = {
        "matchLabels": {"goauthentik.io/outpost-name": "authentik-embedded-outpost"}
    }
    stack.texts["outpost-policy.yaml"] = yaml.safe_dump(guard)
    assert outpost not in {f.object for f in stack.findings(NETPOL)}


def test_a_non_critical_workload_is_not_held_to_the_baseline() -> None:
    web = deployment("web", containers=[container("web")])
    found = findings(web, pgbouncer(), POLICY)
    assert all(v == [] for v in found.values()), found


def test_every_pod_of_a_no_api_role_is_judged_for_its_token() -> None:
    """A pod whose ServiceAccount keeps the token away does not end the check of the next."""
    quiet = pgbouncer(lambda spec: spec.update(serviceAccountName="quiet"))
    quiet["spec"]["template"]["spec"].pop("automountServiceAccountToken")
    outpost = pgbouncer(lambda spec: spec.pop("automountServiceAccountToken"))
    outpost["metadata"]["name"] = "ak-outpost-x"
    got = lint(quiet, account("quiet", automount=False), outpost).findings("security.sa-token")
    assert [(f.object, f.message) for f in got] == [
        (
            "Deployment/ak-outpost-x",
            "Deployment/ak-outpost-x: it runs as ServiceAccount default, which mounts the "
            "token unless told not to",
        )
    ]


def test_a_seccomp_type_of_the_wrong_shape_is_no_profile() -> None:
    def odd(spec: dict[str, Any]) -> None:
        spec["securityContext"]["seccompProfile"] = {"type": {"RuntimeDefault": True}}

    assert only("security.seccomp", pgbouncer(odd), POLICY) == [
        (
            "Deployment/pgbouncer: container pgbouncer seccomp profile is none "
            "(RuntimeDefault or Localhost)",
            "spec.template.spec.securityContext",
        )
    ]


# --- NetworkPolicy selection --------------------------------------------------------------------


def test_every_matchlabels_pair_must_match() -> None:
    # Filed under (app, pgbouncer), the pod finds it; its second pair does not match.
    two = policy(podSelector={"matchLabels": {"app": "pgbouncer", "tier": "db"}})
    assert only(NETPOL, pgbouncer(), two) == NO_POLICY


def test_an_expression_of_the_wrong_shape_is_skipped_not_the_rest() -> None:
    exprs = ["junk", {"key": "tier", "operator": "In", "values": ["db"]}]
    odd = policy(podSelector={"matchLabels": {"app": "pgbouncer"}, "matchExpressions": exprs})
    assert only(NETPOL, pgbouncer(), odd) == NO_POLICY


def test_a_null_selector_or_metadata_selects_every_pod() -> None:
    """`podSelector: null` is the empty selector; a policy without metadata has no namespace
    (it applies where it is applied)."""
    every = policy(podSelector=None)
    every["metadata"] = None
    assert findings(pgbouncer(), every)[NETPOL] == []


def test_a_policy_with_a_null_spec_denies_every_pod_all_ingress() -> None:
    """As `spec: {}`: the empty podSelector selects every pod, Ingress is the default type,
    and with no rules nothing is admitted."""
    bare = copy.deepcopy(POLICY)
    bare["spec"] = None
    assert findings(pgbouncer(), bare)[NETPOL] == []


# --- the policy index: each pod visits only the policies filed under its own labels ------------


def _apps(n: int) -> list[dict[str, Any]]:
    """``n`` critical pods (outposts by name), each with its own policy; every pod and policy
    also carries a shared pair that sorts first (an index keyed on it would degrade)."""
    docs: list[dict[str, Any]] = []
    for i in range(n):
        labels = {"a-team": "platform", "app": f"app-{i}"}
        d = pgbouncer()
        d["metadata"]["name"] = f"ak-outpost-{i}"
        d["spec"]["selector"]["matchLabels"] = labels
        d["spec"]["template"]["metadata"]["labels"] = labels
        p = policy(podSelector={"matchLabels": dict(labels)})
        p["metadata"]["name"] = f"app-{i}"
        docs += [d, p]
    return docs


def test_each_pod_visits_only_its_own_policy() -> None:
    n = 20
    text = yaml.safe_dump_all(_apps(n))
    ix = Index(classify([SourceText("apps.yaml", text, True)]).objects)
    assert list(network_policy(ix)) == []
    assert ix.visits == n  # one candidate per pod: not n x n
