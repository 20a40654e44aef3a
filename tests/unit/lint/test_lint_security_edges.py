"""The security baseline at its edges, on a small stack: a PgBouncer pod that passes every
rule, broken one field at a time (pod or container level), the token rule by
ServiceAccount, and NetworkPolicy selection by labels, expressions, namespace and type."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from tests.unit.lint.small import container, deployment, lint

SECURE_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}
SECURE_POD = {"runAsNonRoot": True, "runAsUser": 70, "seccompProfile": {"type": "RuntimeDefault"}}
POLICY = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "pgbouncer", "namespace": "authentik"},
    "spec": {
        "podSelector": {"matchLabels": {"app": "pgbouncer"}},
        "policyTypes": ["Ingress"],
        "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "authentik"}}}]}],
    },
}
C0 = "spec.template.spec.containers[0]"
POD = "spec.template.spec"
SECURITY = (
    "security.non-root",
    "security.privilege-escalation",
    "security.capabilities",
    "security.seccomp",
    "security.host",
    "security.read-only-root",
    "security.sa-token",
    "security.network-policy",
)


def pgbouncer(change: Callable[[dict[str, Any]], object] | None = None) -> dict[str, Any]:
    c = container("pgbouncer", securityContext=copy.deepcopy(SECURE_CONTAINER))
    d = deployment(
        "pgbouncer",
        containers=[c],
        securityContext=copy.deepcopy(SECURE_POD),
        automountServiceAccountToken=False,
    )
    if change is not None:
        change(d["spec"]["template"]["spec"])
    return d


def findings(*docs: dict[str, Any]) -> dict[str, list[tuple[str, str]]]:
    found = lint(*docs)
    return {r: [(f.message, f.path) for f in found.findings(r)] for r in SECURITY}


def only(rule: str, *docs: dict[str, Any]) -> list[tuple[str, str]]:
    got = findings(*docs)
    others = {r: v for r, v in got.items() if v and r != rule}
    assert others == {}, others
    return got[rule]


def test_a_secure_pod_passes_every_rule() -> None:
    assert all(v == [] for v in findings(pgbouncer(), POLICY).values())


def c0(spec: dict[str, Any]) -> dict[str, Any]:
    ctx: dict[str, Any] = spec["containers"][0]["securityContext"]
    return ctx


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda s: s["securityContext"].update(runAsUser=0),
            [
                (
                    "Deployment/pgbouncer: container pgbouncer runs as UID 0",
                    f"{POD}.securityContext.runAsUser",
                )
            ],
        ),
        (
            lambda s: c0(s).update(runAsUser=0),
            [
                (
                    "Deployment/pgbouncer: container pgbouncer runs as UID 0",
                    f"{C0}.securityContext.runAsUser",
                )
            ],
        ),
        (
            lambda s: s["securityContext"].pop("runAsNonRoot"),
            [
                (
                    "Deployment/pgbouncer: container pgbouncer does not set runAsNonRoot: true",
                    f"{POD}.securityContext",
                )
            ],
        ),
        (
            lambda s: s["securityContext"].update(runAsNonRoot="true"),
            [
                (
                    "Deployment/pgbouncer: container pgbouncer does not set runAsNonRoot: true",
                    f"{POD}.securityContext",
                )
            ],
        ),
        (lambda s: (s["securityContext"].pop("runAsNonRoot"), c0(s).update(runAsNonRoot=True)), []),
        (
            lambda s: c0(s).update(runAsNonRoot=False),
            [
                (
                    "Deployment/pgbouncer: container pgbouncer does not set runAsNonRoot: true",
                    f"{POD}.securityContext",
                )
            ],
        ),
    ],
)
def test_non_root(
    change: Callable[[dict[str, Any]], object], expected: list[tuple[str, str]]
) -> None:
    assert only("security.non-root", pgbouncer(change), POLICY) == expected


@pytest.mark.parametrize(
    ("change", "rule", "expected"),
    [
        (
            lambda s: c0(s).pop("allowPrivilegeEscalation"),
            "security.privilege-escalation",
            [
                (
                    "Deployment/pgbouncer: container pgbouncer does not set allowPrivilegeEscalation: false",
                    f"{C0}.securityContext",
                )
            ],
        ),
        (
            lambda s: c0(s).update(allowPrivilegeEscalation="false"),
            "security.privilege-escalation",
            [
                (
                    "Deployment/pgbouncer: container pgbouncer does not set allowPrivilegeEscalation: false",
                    f"{C0}.securityContext.allowPrivilegeEscalation",
                )
            ],
        ),
        (
            lambda s: c0(s).update(readOnlyRootFilesystem=False),
            "security.read-only-root",
            [
                (
                    "Deployment/pgbouncer: container pgbouncer root filesystem is writable",
                    f"{C0}.securityContext.readOnlyRootFilesystem",
                )
            ],
        ),
        (
            lambda s: c0(s).pop("capabilities"),
            "security.capabilities",
            [
                (
                    "Deployment/pgbouncer: container pgbouncer does not drop ALL",
                    f"{C0}.securityContext",
                )
            ],
        ),
        (
            lambda s: c0(s).update(capabilities={"drop": "ALL"}),
            "security.capabilities",
            [
                (
                    "Deployment/pgbouncer: container pgbouncer does not drop ALL",
                    f"{C0}.securityContext.capabilities",
                )
            ],
        ),
        (
            lambda s: c0(s).update(capabilities={"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}),
            "security.capabilities",
            [],
        ),
        (
            lambda s: c0(s).update(
                capabilities={"drop": ["ALL"], "add": ["SYS_ADMIN", "NET_RAW", "NET_BIND_SERVICE"]}
            ),
            "security.capabilities",
            [
                (
                    "Deployment/pgbouncer: container pgbouncer adds NET_RAW, SYS_ADMIN",
                    f"{C0}.securityContext.capabilities",
                )
            ],
        ),
        (
            lambda s: c0(s).update(capabilities={"drop": ["ALL"], "add": "SYS_ADMIN"}),
            "security.capabilities",
            [],
        ),
        (
            lambda s: s["securityContext"].pop("seccompProfile"),
            "security.seccomp",
            [
                (
                    "Deployment/pgbouncer: container pgbouncer seccomp profile is none (RuntimeDefault or Localhost)",
                    f"{POD}.securityContext",
                )
            ],
        ),
        (
            lambda s: s["securityContext"].update(seccompProfile={"type": "Unconfined"}),
            "security.seccomp",
            [
                (
                    "Deployment/pgbouncer: container pgbouncer seccomp profile is Unconfined (RuntimeDefault or Localhost)",
                    f"{POD}.securityContext",
                )
            ],
        ),
        (
            lambda s: c0(s).update(seccompProfile={"type": "Unconfined"}),
            "security.seccomp",
            [
                (
                    "Deployment/pgbouncer: container pgbouncer seccomp profile is Unconfined (RuntimeDefault or Localhost)",
                    f"{C0}.securityContext.seccompProfile",
                )
            ],
        ),
        (lambda s: c0(s).update(seccompProfile={"type": "Localhost"}), "security.seccomp", []),
        (
            lambda s: s["securityContext"].update(seccompProfile="RuntimeDefault"),
            "security.seccomp",
            [
                (
                    "Deployment/pgbouncer: container pgbouncer seccomp profile is none (RuntimeDefault or Localhost)",
                    f"{POD}.securityContext",
                )
            ],
        ),
    ],
)
def test_container_settings(
    change: Callable[[dict[str, Any]], object], rule: str, expected: list[tuple[str, str]]
) -> None:
    assert only(rule, pgbouncer(change), POLICY) == expected


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda s: s.update(hostNetwork=True),
            [("Deployment/pgbouncer: hostNetwork is true", f"{POD}.hostNetwork")],
        ),
        (
            lambda s: s.update(hostPID=True, hostIPC=True),
            [
                ("Deployment/pgbouncer: hostIPC is true", f"{POD}.hostIPC"),  # by line
                ("Deployment/pgbouncer: hostPID is true", f"{POD}.hostPID"),
            ],
        ),
        (lambda s: s.update(hostNetwork=False), []),
        (
            lambda s: s.update(
                volumes=[{"name": "e", "emptyDir": {}}, {"name": "h", "hostPath": {"path": "/"}}]
            ),
            [("Deployment/pgbouncer: volume h is a hostPath", f"{POD}.volumes[1]")],
        ),
        (
            lambda s: c0(s).update(privileged=True),
            [
                (
                    "Deployment/pgbouncer: container pgbouncer is privileged",
                    f"{C0}.securityContext.privileged",
                )
            ],
        ),
        (
            lambda s: s["containers"][0].update(
                ports=[
                    {"containerPort": 1},
                    {"containerPort": 2, "hostPort": 0},
                    {"containerPort": 3, "hostPort": 6432},
                ]
            ),
            [
                (
                    "Deployment/pgbouncer: container pgbouncer binds hostPort 6432",
                    C0,
                )
            ],
        ),
    ],
)
def test_host(change: Callable[[dict[str, Any]], object], expected: list[tuple[str, str]]) -> None:
    assert only("security.host", pgbouncer(change), POLICY) == expected


def account(name: str, automount: Any = None) -> dict[str, Any]:
    sa: dict[str, Any] = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}}
    if automount is not None:
        sa["automountServiceAccountToken"] = automount
    return sa


@pytest.mark.parametrize(
    ("pod", "docs", "expected"),
    [
        (
            {"automountServiceAccountToken": True},
            [],
            [
                (
                    "Deployment/pgbouncer: automountServiceAccountToken is not false",
                    f"{POD}.automountServiceAccountToken",
                )
            ],
        ),
        (
            {},
            [],
            [
                (
                    "Deployment/pgbouncer: it runs as ServiceAccount default, which mounts the token unless told not to",
                    POD,
                )
            ],
        ),
        ({"serviceAccountName": "pgb"}, [account("pgb", False)], []),
        (
            {"serviceAccountName": "pgb"},
            [account("pgb")],
            [("Deployment/pgbouncer: its ServiceAccount pgb mounts the token", POD)],
        ),
        (
            {"serviceAccountName": "pgb"},
            [account("pgb", "false")],
            [("Deployment/pgbouncer: its ServiceAccount pgb mounts the token", POD)],
        ),
        ({}, [account("default", False)], []),
    ],
)
def test_sa_token(
    pod: dict[str, Any], docs: list[dict[str, Any]], expected: list[tuple[str, str]]
) -> None:
    def change(s: dict[str, Any]) -> None:
        s.pop("automountServiceAccountToken")
        s.update(pod)

    assert only("security.sa-token", pgbouncer(change), POLICY, *docs) == expected


def test_the_worker_may_mount_its_token() -> None:
    labels = {"app.kubernetes.io/name": "authentik", "app.kubernetes.io/component": "worker"}
    worker = deployment(
        "authentik-worker",
        containers=[container("worker", securityContext=SECURE_CONTAINER)],
        labels=labels,
        securityContext=SECURE_POD,
    )
    assert lint(worker).findings("security.sa-token") == []


def policy(**spec: Any) -> dict[str, Any]:
    p = copy.deepcopy(POLICY)
    p["spec"].update(spec)
    return p


NO_POLICY = [
    (
        "Deployment/pgbouncer: no NetworkPolicy selects its pods: any pod in the cluster can connect",
        "metadata.name",
    )
]


@pytest.mark.parametrize(
    ("docs", "expected"),
    [
        ([], NO_POLICY),
        ([policy(podSelector={"matchLabels": {"app": "other"}})], NO_POLICY),
        ([policy(podSelector={})], []),
        (
            [
                policy(
                    podSelector={
                        "matchExpressions": [
                            {"key": "app", "operator": "In", "values": ["pgbouncer"]}
                        ]
                    }
                )
            ],
            [],
        ),
        (
            [
                policy(
                    podSelector={
                        "matchExpressions": [{"key": "app", "operator": "In", "values": ["x"]}]
                    }
                )
            ],
            NO_POLICY,
        ),
        (
            [
                policy(
                    podSelector={
                        "matchExpressions": [
                            {"key": "app", "operator": "NotIn", "values": ["pgbouncer"]}
                        ]
                    }
                )
            ],
            NO_POLICY,
        ),
        (
            [
                policy(
                    podSelector={
                        "matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["x"]}]
                    }
                )
            ],
            [],
        ),
        ([policy(podSelector={"matchExpressions": [{"key": "app", "operator": "Exists"}]})], []),
        (
            [policy(podSelector={"matchExpressions": [{"key": "tier", "operator": "Exists"}]})],
            NO_POLICY,
        ),
        (
            [
                policy(
                    podSelector={"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}
                )
            ],
            NO_POLICY,
        ),
        (
            [
                policy(
                    podSelector={
                        "matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}, "odd"]
                    }
                )
            ],
            [],
        ),
        ([policy(policyTypes=["Egress"])], NO_POLICY),
        ([policy(policyTypes="odd")], []),
        (
            [policy(metadata=None) | {"metadata": {"name": "np", "namespace": "elsewhere"}}],
            NO_POLICY,
        ),
        ([policy() | {"metadata": {"name": "np"}}], []),
        (
            [policy(ingress=[{"from": [{"podSelector": {}}]}, {"ports": [{"port": 6432}]}, "odd"])],
            [
                (
                    "Deployment/pgbouncer: NetworkPolicy/pgbouncer ingress rule 2 has no 'from': it admits any pod",
                    "spec.ingress[1]",
                ),
                (
                    "Deployment/pgbouncer: NetworkPolicy/pgbouncer ingress rule 3 has no 'from': it admits any pod",
                    "spec.ingress[2]",
                ),
            ],
        ),
        ([policy(ingress="odd")], []),
    ],
)
def test_network_policy(docs: list[dict[str, Any]], expected: list[tuple[str, str]]) -> None:
    assert only("security.network-policy", pgbouncer(), *docs) == expected
