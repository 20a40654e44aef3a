"""The security baseline rules (akops.lint.rules.security), failing and passing.

The prod stack (with prod's waivers) is the passing fixture. Each test breaks one field
of PgBouncer's Deployment, the chart values (Authentik's server/worker, through the
chart model) or the outpost's JSON patches, checks the finding and where it points,
then restores a passing value. The seed's PgBouncer fails every PSS rule.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from akops.lint import lint_paths
from akops.lint.findings import Finding
from akops.lint.registry import catalogue, checks

if TYPE_CHECKING:
    from conftest import StackFiles  # the fixture's type, from this directory's conftest

SEED = Path(__file__).resolve().parents[2] / "fixtures" / "seed"
PGB = "Deployment/pgbouncer"
SERVER = "Deployment/goauthentik-server"
WORKER = "Deployment/goauthentik-worker"
OUTPOST = "Deployment/ak-outpost-authentik-embedded-outpost"
RULES = (
    "security.non-root",
    "security.privilege-escalation",
    "security.capabilities",
    "security.seccomp",
    "security.host",
    "security.read-only-root",
    "security.sa-token",
    "security.network-policy",
)


def live(stack: StackFiles, rule: str) -> list[Finding]:
    """The unwaived findings of ``rule``."""
    return [f for f in stack.findings(rule) if f.waived is None]


def objects(findings: list[Finding]) -> set[str | None]:
    return {f.object for f in findings}


def pod(d: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = d["spec"]["template"]["spec"]
    return spec


def ctx(d: dict[str, Any]) -> dict[str, Any]:
    sc: dict[str, Any] = pod(d)["containers"][0]["securityContext"]
    return sc


def in_every_container(d: dict[str, Any], key: str, value: Any) -> None:
    """Set a securityContext field on PgBouncer and on its exporter sidecar alike."""
    for c in pod(d)["containers"]:
        c["securityContext"][key] = value


def patch(p: dict[str, Any], path: str) -> dict[str, Any]:
    for op in p["kubernetes_json_patches"]["deployment"]:
        if op["path"] == path:
            return op  # type: ignore[no-any-return]
    raise AssertionError(path)


def drop_patch(p: dict[str, Any], path: str) -> None:
    ops = p["kubernetes_json_patches"]["deployment"]
    ops[:] = [op for op in ops if op["path"] != path]


POD_SC = "/spec/template/spec/securityContext"
CONTAINER_SC = "/spec/template/spec/containers/0/securityContext"
AUTOMOUNT = "/spec/template/spec/automountServiceAccountToken"


def test_every_baseline_rule_is_catalogued_with_hint_and_motivation() -> None:
    cat = catalogue()
    for rule in RULES:
        r = cat[rule]
        assert r.hint and r.motivation and r.title
    assert cat["security.read-only-root"].severity == "warning"
    assert {c.rule.id for c in checks("stack")} >= {"security.sa-token", "security.network-policy"}


def test_prod_passes_every_baseline_rule_with_reasons_for_its_waivers(stack: StackFiles) -> None:
    report = stack.lint()
    assert report.ok
    for f in report.findings:
        assert f.rule in RULES and f.waived and len(f.waived) > 20
    # PgBouncer itself needs no waiver at all.
    assert PGB not in {f.object for f in report.findings}


def test_the_seed_pgbouncer_fails_the_baseline() -> None:
    report = lint_paths([SEED / "pgbouncer.yaml"], root=SEED)
    rules = {f.rule for f in report.findings if f.object == PGB}
    assert set(RULES) - {"security.host"} <= rules


# --- non-root ---------------------------------------------------------------------


def test_non_root_on_pgbouncer(stack: StackFiles) -> None:
    stack.deployment(lambda d: pod(d)["securityContext"].pop("runAsNonRoot"))
    found = live(stack, "security.non-root")
    assert len(found) == 2  # PgBouncer and its exporter sidecar, each
    f = found[0]
    assert f.object == PGB and f.path == "spec.template.spec.securityContext"
    assert "runAsNonRoot" in f.message
    stack.deployment(lambda d: in_every_container(d, "runAsNonRoot", True))  # container level
    assert live(stack, "security.non-root") == []
    stack.deployment(lambda d: ctx(d).__setitem__("runAsUser", 0))
    (f,) = live(stack, "security.non-root")
    assert "UID 0" in f.message and f.path.endswith("securityContext.runAsUser")


def test_non_root_on_the_chart_and_the_outpost(stack: StackFiles) -> None:
    stack.values(lambda v: v["global"]["securityContext"].pop("runAsNonRoot"))
    assert objects(live(stack, "security.non-root")) == {SERVER, WORKER}
    stack.values(lambda v: v["server"].__setitem__("securityContext", {"runAsNonRoot": True}))
    (f,) = live(stack, "security.non-root")  # the chart merges server over global
    assert f.object == WORKER and f.path == "global.securityContext"
    stack.edit_one("outpost-patches.yaml", lambda p: drop_patch(p, POD_SC))
    assert OUTPOST in objects(live(stack, "security.non-root"))


def shm_exporter(p: dict[str, Any]) -> dict[str, Any]:
    """The /dev/shm sidecar the outpost patches add beside the proxy container."""
    (op,) = [
        op
        for op in p["kubernetes_json_patches"]["deployment"]
        if op["path"] == "/spec/template/spec/containers/-"
    ]
    value: dict[str, Any] = op["value"]
    assert value["name"] == "shm-exporter"
    return value


@pytest.mark.parametrize(
    ("rule", "key", "value"),
    [
        ("security.privilege-escalation", "allowPrivilegeEscalation", True),
        ("security.capabilities", "capabilities", {"drop": ["NET_RAW"]}),
        ("security.read-only-root", "readOnlyRootFilesystem", False),
        ("security.non-root", "runAsUser", 0),
    ],
)
def test_the_outposts_shm_sidecar_is_held_to_the_baseline(
    stack: StackFiles, rule: str, key: str, value: Any
) -> None:
    """The patches add a container beside Authentik's; the restricted baseline covers it.
    (Prod waives a writable root for the outpost, for the proxy container; the finding on the
    sidecar is still made, and shown under that waiver.)"""

    def sidecar_findings() -> list[Finding]:
        return [f for f in stack.findings(rule) if "container shm-exporter" in f.message]

    assert sidecar_findings() == []
    stack.edit_one(
        "outpost-patches.yaml", lambda p: shm_exporter(p)["securityContext"].__setitem__(key, value)
    )
    (f,) = sidecar_findings()
    assert f.object == OUTPOST
    assert f.path is not None and f.path.startswith("kubernetes_json_patches.deployment[")


# --- privilege escalation, capabilities, seccomp ----------------------------------


def test_privilege_escalation(stack: StackFiles) -> None:
    stack.deployment(lambda d: ctx(d).pop("allowPrivilegeEscalation"))
    stack.values(lambda v: v["worker"]["containerSecurityContext"].pop("allowPrivilegeEscalation"))
    stack.edit_one(
        "outpost-patches.yaml",
        lambda p: patch(p, CONTAINER_SC)["value"].__setitem__("allowPrivilegeEscalation", True),
    )
    found = live(stack, "security.privilege-escalation")
    assert objects(found) == {PGB, WORKER, OUTPOST}
    assert any(f.path == "worker.containerSecurityContext" for f in found)


def test_capabilities(stack: StackFiles) -> None:
    stack.deployment(lambda d: ctx(d).__setitem__("capabilities", {"drop": ["NET_RAW"]}))
    (f,) = live(stack, "security.capabilities")
    assert "does not drop ALL" in f.message
    stack.deployment(
        lambda d: ctx(d).__setitem__("capabilities", {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]})
    )
    assert live(stack, "security.capabilities") == []  # the one capability restricted allows
    stack.values(
        lambda v: v["server"]["containerSecurityContext"]["capabilities"].__setitem__(
            "add", ["NET_ADMIN"]
        )
    )
    (f,) = live(stack, "security.capabilities")
    assert f.object == SERVER and "adds NET_ADMIN" in f.message


def test_seccomp(stack: StackFiles) -> None:
    stack.deployment(lambda d: pod(d)["securityContext"].pop("seccompProfile"))
    found = live(stack, "security.seccomp")
    assert len(found) == 2  # PgBouncer and its exporter sidecar, each
    f = found[0]
    assert f.object == PGB and "seccomp profile is none" in f.message
    stack.deployment(lambda d: in_every_container(d, "seccompProfile", {"type": "Localhost"}))
    assert live(stack, "security.seccomp") == []
    stack.values(
        lambda v: v["server"].__setitem__(
            "securityContext", {"seccompProfile": {"type": "Unconfined"}}
        )
    )
    (f,) = live(stack, "security.seccomp")
    assert f.object == SERVER and "Unconfined" in f.message


# --- host ---------------------------------------------------------------------------


def test_host_namespaces_paths_ports_and_privileged(stack: StackFiles) -> None:
    stack.deployment(lambda d: pod(d).__setitem__("hostNetwork", True))
    stack.deployment(lambda d: pod(d)["volumes"].append({"name": "h", "hostPath": {"path": "/"}}))
    stack.deployment(lambda d: pod(d)["containers"][0]["ports"][0].__setitem__("hostPort", 6432))
    stack.deployment(lambda d: ctx(d).__setitem__("privileged", True))
    messages = sorted(f.message for f in live(stack, "security.host"))
    assert len(messages) == 4
    assert any("hostNetwork is true" in m for m in messages)
    assert any("hostPath" in m for m in messages)
    assert any("hostPort 6432" in m for m in messages)
    assert any("privileged" in m for m in messages)
    stack.values(lambda v: v["server"].__setitem__("hostNetwork", True))
    assert SERVER in objects(live(stack, "security.host"))


# --- read-only root -----------------------------------------------------------------


def test_read_only_root_is_a_warning(stack: StackFiles) -> None:
    assert live(stack, "security.read-only-root") == []
    stack.deployment(lambda d: ctx(d).__setitem__("readOnlyRootFilesystem", False))
    (f,) = live(stack, "security.read-only-root")
    assert f.severity == "warning" and f.object == PGB
    assert stack.lint().ok  # a warning never fails the run
    # The chart's and the outpost's are waived in prod, with the reason shown.
    waived = [f for f in stack.findings("security.read-only-root") if f.waived]
    assert objects(waived) == {SERVER, WORKER, OUTPOST}


# --- service-account tokens ---------------------------------------------------------


def test_sa_token_on_pgbouncer(stack: StackFiles) -> None:
    stack.deployment(lambda d: pod(d).pop("automountServiceAccountToken"))
    (f,) = live(stack, "security.sa-token")
    assert f.object == PGB and "ServiceAccount default" in f.message
    stack.deployment(lambda d: pod(d).__setitem__("automountServiceAccountToken", True))
    (f,) = live(stack, "security.sa-token")
    assert f.path == "spec.template.spec.automountServiceAccountToken"


def test_sa_token_on_the_server_follows_its_service_account(stack: StackFiles) -> None:
    stack.edit_one(
        "authentik-serviceaccount.yaml", lambda sa: sa.pop("automountServiceAccountToken")
    )
    (f,) = live(stack, "security.sa-token")
    assert f.object == SERVER and "its ServiceAccount goauthentik-server mounts" in f.message
    stack.edit_one(
        "authentik-serviceaccount.yaml",
        lambda sa: sa.__setitem__("automountServiceAccountToken", False),
    )
    stack.values(lambda v: v["server"].pop("serviceAccountName"))
    (f,) = live(stack, "security.sa-token")
    assert f.object == SERVER and "ServiceAccount default" in f.message


def test_the_worker_keeps_its_token(stack: StackFiles) -> None:
    # It manages the outpost through the Kubernetes API: no finding, whatever it mounts.
    stack.values(lambda v: v["worker"].__setitem__("automountServiceAccountToken", True))
    assert WORKER not in objects(stack.findings("security.sa-token"))


def test_sa_token_on_the_outpost(stack: StackFiles) -> None:
    stack.edit_one("outpost-patches.yaml", lambda p: drop_patch(p, AUTOMOUNT))
    (f,) = live(stack, "security.sa-token")
    assert f.object == OUTPOST
    stack.edit_one(
        "outpost-patches.yaml",
        lambda p: p["kubernetes_json_patches"]["deployment"].append(
            {"op": "add", "path": AUTOMOUNT, "value": False}
        ),
    )
    assert live(stack, "security.sa-token") == []


# --- NetworkPolicy ------------------------------------------------------------------


def test_pgbouncer_without_a_policy_is_reachable_by_any_pod(stack: StackFiles) -> None:
    del stack.texts["pgbouncer-networkpolicy.yaml"]
    (f,) = live(stack, "security.network-policy")
    assert f.object == PGB and "any pod in the cluster can connect" in f.message
    assert f.severity == "error" and not stack.lint().ok


def test_a_policy_that_admits_any_source(stack: StackFiles) -> None:
    stack.edit_one("pgbouncer-networkpolicy.yaml", lambda np: np["spec"]["ingress"][0].pop("from"))
    (f,) = live(stack, "security.network-policy")
    assert f.object == "NetworkPolicy/pgbouncer" and "admits any pod" in f.message
    assert f.path == "spec.ingress[0]"


@pytest.mark.parametrize(
    ("change", "selected"),
    [
        (lambda s: s.__setitem__("podSelector", {}), True),  # empty: every pod
        (lambda s: s.__setitem__("podSelector", {"matchLabels": {"app": "other"}}), False),
        (lambda s: s.__setitem__("policyTypes", ["Egress"]), False),  # guards no ingress
        (lambda s: s.pop("policyTypes"), True),  # Ingress is implied
        (
            lambda s: s.__setitem__(
                "podSelector",
                {"matchExpressions": [{"key": "app", "operator": "In", "values": ["pgbouncer"]}]},
            ),
            True,
        ),
    ],
    ids=["empty-selector", "other-pods", "egress-only", "implied-ingress", "expressions"],
)
def test_which_policies_select_pgbouncer(stack: StackFiles, change: Any, selected: bool) -> None:
    stack.edit_one("pgbouncer-networkpolicy.yaml", lambda np: change(np["spec"]))
    assert (PGB not in objects(live(stack, "security.network-policy"))) is selected


def test_a_policy_in_another_namespace_does_not_count(stack: StackFiles) -> None:
    stack.edit_one(
        "pgbouncer-networkpolicy.yaml", lambda np: np["metadata"].__setitem__("namespace", "other")
    )
    assert objects(live(stack, "security.network-policy")) == {PGB}


def test_critical_chart_workloads_need_policies_too(stack: StackFiles) -> None:
    # Prod waives them (docs/guides/security.md: their clients are Traefik's, not named yet); without the
    # waivers they are errors.
    stack.accepted = tuple(w for w in stack.accepted if w.rule != "security.network-policy")
    assert objects(live(stack, "security.network-policy")) == {SERVER, WORKER, OUTPOST}
