"""The security baseline: Pod Security Standards "restricted", tokens, NetworkPolicies.

Rule: pure. The rules hold the stack's critical workloads (PgBouncer, Authentik's
server and worker, the outpost) to the baseline. Every rule reads the same view of a
pod (``PodSecurity``) whether it comes
from a manifest (PgBouncer), from the Authentik chart (its model of the values, or the
real chart's objects when pulled) or from the outpost's JSON patches, so one check
covers all three and each finding points at the line the operator edits.

The PSS checks are file rules (one pod at a time). The token and NetworkPolicy rules
are stack rules: the ServiceAccount a pod runs as and the policies selecting it may sit
in any file.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from akops.lint.documents import KubeObject, Located
from akops.lint.findings import Finding
from akops.lint.index import Index, located
from akops.lint.registry import rule
from akops.lint.workloads import (
    OUTPOST,
    PGBOUNCER,
    SERVER,
    ContainerSecurity,
    PodSecurity,
    from_patches,
)
from akops.names import OUTPOST_LABEL
from akops.yamldoc import PathKey

_ISSUE = "issue 12: the stack ran with no security context; a scanner found 14 failed checks"
_FRONT_DOOR = (
    "Authentik is the front door of ~43 services and PgBouncer holds its database password"
)

#: Workloads known not to call the Kubernetes API (the worker does: it manages the outpost).
NO_API_ROLES = frozenset({PGBOUNCER, SERVER, OUTPOST})
ALLOWED_CAPABILITIES = frozenset({"NET_BIND_SERVICE"})
ALLOWED_SECCOMP = frozenset({"RuntimeDefault", "Localhost"})


@dataclass(frozen=True)
class Pod:
    """One pod to judge: a workload of a manifest or the chart, or the patched outpost."""

    source: Located
    ref: str
    role: str | None
    security: PodSecurity
    labels: dict[str, str]
    namespace: str | None
    where: PathKey  # where "this workload" findings point


def _namespace(src: Located) -> str | None:
    meta = src.data.get("metadata") if isinstance(src.data, dict) else None
    ns = meta.get("namespace") if isinstance(meta, dict) else None
    return str(ns) if ns else None


def pods(ix: Index) -> Iterator[Pod]:
    """The stack's critical pods: PgBouncer, Authentik's server and worker, the outpost."""
    for w in ix.workloads:
        if w.security is not None and w.critical:
            where = w.replicas_path[:1] if w.from_values else ("metadata", "name")
            ns = None if w.from_values else _namespace(w.source)
            yield Pod(w.source, w.ref, w.role, w.security, w.labels, ns, where)
    for p in ix.patches:
        labels = {OUTPOST_LABEL: str(p.data.get("outpost", ""))}
        yield Pod(p, p.ref, OUTPOST, from_patches(p).security, labels, None, ("outpost",))


def _at(pod: Pod, rule_id: str, path: PathKey, message: str) -> Finding:
    return located(pod.source, rule_id, path, f"{pod.ref}: {message}", pod.ref)


def _effective(pod: Pod, c: ContainerSecurity, key: str) -> Any:
    """A container's setting, falling back to the pod's (as the kubelet resolves it)."""
    return c.context[key] if key in c.context else pod.security.context.get(key)


def _container_path(c: ContainerSecurity, key: str) -> PathKey:
    return (*c.path, key) if key in c.context else c.path


# --- Pod Security Standards "restricted" ---------------------------------------------------


@rule(
    "security.non-root",
    "error",
    "container may run as root",
    hint="set runAsNonRoot: true and the image's non-root runAsUser (a number) in the pod "
    "securityContext",
    why=_ISSUE + "; root in a container is one kernel bug away from root on the node",
)
def non_root(ix: Index) -> Iterator[Finding]:
    for pod in pods(ix):
        for c in pod.security.containers:
            user = _effective(pod, c, "runAsUser")
            if user == 0:
                path = (
                    _container_path(c, "runAsUser")
                    if "runAsUser" in c.context
                    else (*pod.security.context_path, "runAsUser")
                )
                yield _at(pod, "security.non-root", path, f"container {c.name} runs as UID 0")
            elif _effective(pod, c, "runAsNonRoot") is not True:
                yield _at(
                    pod,
                    "security.non-root",
                    pod.security.context_path,
                    f"container {c.name} does not set runAsNonRoot: true",
                )


def _containers_unless(
    ix: Index, rule_id: str, key: str, wanted: bool, what: str
) -> Iterator[Finding]:
    """A finding for each container whose own securityContext does not set ``key: wanted``."""
    for pod in pods(ix):
        for c in pod.security.containers:
            if c.context.get(key) is not wanted:
                yield _at(pod, rule_id, _container_path(c, key), f"container {c.name} {what}")


@rule(
    "security.privilege-escalation",
    "error",
    "container allows privilege escalation",
    hint="set allowPrivilegeEscalation: false in every container's securityContext",
    why=_ISSUE + "; setuid binaries in the image can regain what was dropped",
)
def privilege_escalation(ix: Index) -> Iterator[Finding]:
    yield from _containers_unless(
        ix,
        "security.privilege-escalation",
        "allowPrivilegeEscalation",
        False,
        "does not set allowPrivilegeEscalation: false",
    )


@rule(
    "security.capabilities",
    "error",
    "container keeps Linux capabilities",
    hint="capabilities: {drop: [ALL]}; add back at most NET_BIND_SERVICE",
    why=_ISSUE + "; the runtime's default set includes NET_RAW, CHOWN, SETUID and more",
)
def capabilities(ix: Index) -> Iterator[Finding]:
    for pod in pods(ix):
        for c in pod.security.containers:
            raw = c.context.get("capabilities")
            caps: dict[str, Any] = raw if isinstance(raw, dict) else {}
            drop: list[Any] = caps["drop"] if isinstance(caps.get("drop"), list) else []
            add: list[Any] = caps["add"] if isinstance(caps.get("add"), list) else []
            path = _container_path(c, "capabilities")
            if "ALL" not in [str(d) for d in drop]:
                yield _at(
                    pod, "security.capabilities", path, f"container {c.name} does not drop ALL"
                )
            extra = sorted(str(a) for a in add if str(a) not in ALLOWED_CAPABILITIES)
            if extra:
                yield _at(
                    pod,
                    "security.capabilities",
                    path,
                    f"container {c.name} adds {', '.join(extra)}",
                )


@rule(
    "security.seccomp",
    "error",
    "container runs without a seccomp profile",
    hint="seccompProfile: {type: RuntimeDefault} in the pod securityContext",
    why=_ISSUE + "; without one every syscall of the kernel is open to the container",
)
def seccomp(ix: Index) -> Iterator[Finding]:
    for pod in pods(ix):
        for c in pod.security.containers:
            profile = _effective(pod, c, "seccompProfile")
            kind = profile.get("type") if isinstance(profile, dict) else None
            # A type of the wrong shape (a map, a list) is no profile; the schema names it.
            kind = kind if isinstance(kind, str) else None
            if kind not in ALLOWED_SECCOMP:
                path = (
                    _container_path(c, "seccompProfile")
                    if "seccompProfile" in c.context
                    else pod.security.context_path
                )
                shown = kind or "none"
                yield _at(
                    pod,
                    "security.seccomp",
                    path,
                    f"container {c.name} seccomp profile is {shown} (RuntimeDefault or Localhost)",
                )


@rule(
    "security.host",
    "error",
    "pod shares the node: privileged, host namespaces, hostPath or hostPort",
    hint="remove privileged, hostNetwork/hostPID/hostIPC, hostPath volumes and hostPort",
    why=_ISSUE + "; each of these hands the node to whoever owns the container",
)
def host(ix: Index) -> Iterator[Finding]:
    for pod in pods(ix):
        sec = pod.security
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            if sec.spec.get(key) is True:
                yield _at(pod, "security.host", (*sec.spec_path, key), f"{key} is true")
        for i, v in enumerate(sec.volumes):
            if "hostPath" in v:
                yield _at(
                    pod,
                    "security.host",
                    (*sec.volumes_path, i),
                    f"volume {v.get('name')} is a hostPath",
                )
        for c in sec.containers:
            if c.context.get("privileged") is True:
                yield _at(
                    pod,
                    "security.host",
                    (*c.path, "privileged"),
                    f"container {c.name} is privileged",
                )
            for port in c.ports:
                if port.get("hostPort") not in (None, 0):
                    yield _at(
                        pod,
                        "security.host",
                        c.path[:-1],
                        f"container {c.name} binds hostPort {port.get('hostPort')}",
                    )


@rule(
    "security.read-only-root",
    "warning",
    "container can write its root filesystem",
    hint="readOnlyRootFilesystem: true, with an emptyDir where the program must write; "
    "waive it with the reason where that is not proven to work",
    why=_ISSUE + "; a writable root lets an intruder replace the program's own files",
)
def read_only_root(ix: Index) -> Iterator[Finding]:
    yield from _containers_unless(
        ix, "security.read-only-root", "readOnlyRootFilesystem", True, "root filesystem is writable"
    )


# --- across files: tokens and NetworkPolicies ----------------------------------------------


@rule(
    "security.sa-token",
    "error",
    "service-account token mounted in a workload that never calls the Kubernetes API",
    hint="automountServiceAccountToken: false on the pod, or run it as a ServiceAccount "
    "that sets it (the chart has no server key: name our own in server.serviceAccountName)",
    why=_ISSUE + "; a stolen token is an API credential (PgBouncer and the server mounted one)",
    scope="stack",
    keeps={"ServiceAccount"},
)
def sa_token(ix: Index) -> Iterator[Finding]:
    for pod in pods(ix):
        if pod.role not in NO_API_ROLES:
            continue
        spec = pod.security.spec
        if "automountServiceAccountToken" in spec:
            if spec["automountServiceAccountToken"] is False:
                continue
            yield _at(
                pod,
                "security.sa-token",
                (*pod.security.spec_path, "automountServiceAccountToken"),
                "automountServiceAccountToken is not false",
            )
            continue
        name = str(spec.get("serviceAccountName") or "default")
        account = ix.named("ServiceAccount", name)
        if account is not None and account.data.get("automountServiceAccountToken") is False:
            continue
        why = (
            f"its ServiceAccount {name} mounts the token"
            if account is not None
            else f"it runs as ServiceAccount {name}, which mounts the token unless told not to"
        )
        yield _at(pod, "security.sa-token", pod.security.spec_path, why)


def _selects(selector: Any, labels: dict[str, str]) -> bool:
    """A NetworkPolicy podSelector: unlike elsewhere, an empty one selects every pod."""
    sel: dict[str, Any] = selector if isinstance(selector, dict) else {}
    raw_match, raw_exprs = sel.get("matchLabels"), sel.get("matchExpressions")
    match: dict[str, Any] = raw_match if isinstance(raw_match, dict) else {}
    exprs: list[Any] = raw_exprs if isinstance(raw_exprs, list) else []
    if any(labels.get(str(k)) != str(v) for k, v in match.items()):
        return False
    for e in exprs:
        if not isinstance(e, dict):
            continue
        key, op = str(e.get("key")), e.get("operator")
        values = [str(v) for v in e.get("values") or []]
        if (
            (op == "In" and labels.get(key) not in values)
            or (op == "NotIn" and labels.get(key) in values)
            or (op == "Exists" and key not in labels)
            or (op == "DoesNotExist" and key in labels)
        ):
            return False
    return True


def _guards_ingress(spec: dict[str, Any]) -> bool:
    types = spec.get("policyTypes")
    return not isinstance(types, list) or "Ingress" in types


class _Policies:
    """The NetworkPolicies guarding ingress, filed by one label pair of their podSelector.

    A policy can only select a pod carrying every matchLabels pair of its selector, so
    each is filed under its rarest pair and a pod looks up its own pairs (as
    ``Index.budget_for`` finds PDBs): linear, not pods x policies. Selectors without
    matchLabels (empty: every pod; expressions only) are checked for every pod.
    """

    def __init__(self, ix: Index) -> None:
        self.ix = ix
        entries = []
        for np in ix.of_kind("NetworkPolicy"):
            raw = np.data.get("spec")
            spec: dict[str, Any] = raw if isinstance(raw, dict) else {}
            if _guards_ingress(spec):
                entries.append((np, spec, _pairs(spec.get("podSelector"))))
        counts = Counter(p for _, _, pairs in entries for p in pairs)
        self.filed: dict[tuple[str, str], list[tuple[KubeObject, dict[str, Any]]]] = defaultdict(
            list
        )
        self.everywhere: list[tuple[KubeObject, dict[str, Any]]] = []
        for np, spec, pairs in entries:
            if pairs:
                self.filed[min(pairs, key=lambda p: (counts[p], p))].append((np, spec))
            else:
                self.everywhere.append((np, spec))

    def selecting(self, pod: Pod) -> list[tuple[KubeObject, dict[str, Any]]]:
        found = [e for pair in sorted(pod.labels.items()) for e in self.filed.get(pair, ())]
        out = []
        for np, spec in [*found, *self.everywhere]:
            self.ix.visits += 1
            ns = _namespace(np)
            same_ns = pod.namespace is None or ns is None or ns == pod.namespace
            if same_ns and _selects(spec.get("podSelector"), pod.labels):
                out.append((np, spec))
        return out


def _pairs(selector: Any) -> list[tuple[str, str]]:
    match = selector.get("matchLabels") if isinstance(selector, dict) else None
    return [(str(k), str(v)) for k, v in match.items()] if isinstance(match, dict) else []


@rule(
    "security.network-policy",
    "error",
    "critical workload reachable by any pod: no NetworkPolicy restricts its ingress",
    hint="add a NetworkPolicy selecting its pods that admits only the clients it serves",
    why=_FRONT_DOOR + "; any pod in the cluster could open PgBouncer's 6432",
    scope="stack",
    keeps={"NetworkPolicy"},
)
def network_policy(ix: Index) -> Iterator[Finding]:
    policies = _Policies(ix)
    for pod in pods(ix):
        selecting = policies.selecting(pod)
        if not selecting:
            yield _at(
                pod,
                "security.network-policy",
                pod.where,
                "no NetworkPolicy selects its pods: any pod in the cluster can connect",
            )
            continue
        for np, spec in selecting:
            raw = spec.get("ingress")
            rules: list[Any] = raw if isinstance(raw, list) else []
            for i, r in enumerate(rules):
                if not isinstance(r, dict) or not r.get("from"):
                    yield located(
                        np,
                        "security.network-policy",
                        ("spec", "ingress", i),
                        f"{pod.ref}: {np.ref} ingress rule {i + 1} has no 'from': it admits any pod",
                        np.ref,
                    )
