"""Planning and applying the stack's objects with server-side apply; pruning what we left.

Rule: I/O. A plan is a server-side apply with ``dryRun=All`` of every rendered object
(the API computes what the object *would* become, defaults and other managers' fields
included) compared with the live object. Apply sends the same body for real, in
dependency order, as field manager ``akops``; ``force`` only when the operator asks.
Objects carrying our labels and field manager that are no longer rendered are planned
as destroy and deleted only with ``prune``.

A planned restart sets the pod template's ``kubectl.kubernetes.io/restartedAt`` (what
``kubectl rollout restart`` sets) as its own field manager, ``akops-restart``: our
apply never sends that field, so it neither conflicts with it nor removes it, and the
next plan stays clean. The value is a timestamp, never derived from a secret.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from akops import names
from akops.cluster.call import APPLY_PATCH, call
from akops.cluster.objects import (
    KINDS,
    Manifest,
    Obj,
    Ref,
    destroy_order,
    ordered,
    ours,
    ref_of,
    to_apply,
)
from akops.cluster.plan import ObjectPlan, Restart, object_plan, resource_version
from akops.errors import AkopsError, NotFound
from akops.secrets import Secrets

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

RESTART_MANAGER = "akops-restart"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


def get(api: ApiClient, ref: Ref) -> Obj | None:
    """The live object, or ``None`` when it does not exist."""
    try:
        return call(api, "GET", ref.path, what=str(ref))
    except NotFound:
        return None


def namespace_exists(api: ApiClient, namespace: str) -> bool:
    """Whether ``namespace`` exists (objects in a missing one cannot even be dry-run)."""
    return get(api, Ref("Namespace", "", namespace)) is not None


def server_apply(
    api: ApiClient,
    body: Obj,
    *,
    dry_run: bool,
    force: bool,
    secrets: Secrets,
    manager: str = names.FIELD_MANAGER,
) -> Obj:
    """PATCH ``body`` as server-side apply (``application/apply-patch+yaml``); the result."""
    ref = ref_of(body)
    query = [("fieldManager", manager)]
    if force:
        query.append(("force", "true"))
    if dry_run:
        query.append(("dryRun", "All"))
    return call(
        api,
        "PATCH",
        ref.path,
        what=str(ref),
        query=query,
        body=body,
        content_type=APPLY_PATCH,
        secrets=secrets,
    )


def list_ours(api: ApiClient, namespace: str) -> list[Obj]:
    """Live objects this repository applied earlier (our labels and field manager)."""
    found: list[Obj] = []
    for kind in KINDS.values():
        if not kind.namespaced:
            continue  # the Namespace: never a prune candidate (see akops.cluster.objects)
        try:
            doc = call(
                api,
                "GET",
                kind.collection(namespace),
                what=f"{kind.kind} list in {namespace}",
                query=[("labelSelector", names.PRUNE_SELECTOR)],
            )
        except NotFound:
            if kind.custom:
                continue  # the CRD is not installed: nothing of that kind can be ours
            raise
        for item in doc.get("items") or []:
            # Lists omit kind/apiVersion per item; the selector is re-checked in case a
            # server (or proxy) ignores it.
            item.setdefault("kind", kind.kind)
            item.setdefault("apiVersion", kind.api_version)
            if ours(item):
                found.append(item)
    return found


def restart(api: ApiClient, ref: Ref, at: datetime.datetime | None = None) -> Obj:
    """Roll a Deployment's pods (as ``kubectl rollout restart`` does); the updated object."""
    # Sub-second precision: two restarts within one second must still differ.
    stamp = at or datetime.datetime.now(tz=datetime.UTC)
    body: Obj = {
        "apiVersion": ref.info.api_version,
        "kind": ref.kind,
        "metadata": {"name": ref.name, "namespace": ref.namespace},
        "spec": {
            "template": {
                "metadata": {
                    "annotations": {RESTARTED_AT: stamp.isoformat().replace("+00:00", "Z")}
                }
            }
        },
    }
    # force: a restart means to take the field over, e.g. from an earlier `kubectl rollout
    # restart` (manager kubectl-rollout); it is the only field this manager ever sends.
    return server_apply(
        api, body, dry_run=False, force=True, secrets=Secrets(), manager=RESTART_MANAGER
    )


def restart_all(
    api: ApiClient,
    restarts: Sequence[Restart],
    progress: Ledger,
    *,
    log: Callable[[str], None] = print,
) -> list[Ref]:
    """Restart the planned Deployments; the ones restarted."""
    done: list[Ref] = []
    for r in restarts:

        def send(ref: Ref = r.ref) -> Obj:
            return restart(api, ref)

        progress.step(f"restart {r.ref}", send)
        log(f"restarted {r.ref} (rolling): {', '.join(map(str, r.causes))} changed")
        done.append(r.ref)
    return done


def delete(api: ApiClient, ref: Ref, version: str | None = None) -> None:
    """Delete an object; one that is already gone counts as deleted.

    With ``version`` (the resourceVersion the plan saw), the API deletes only that version:
    an object changed since the plan is refused with 409 instead of deleted unseen.
    """
    body: Obj | None = None
    if version:
        body = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "preconditions": {"resourceVersion": version},
        }
    try:
        call(
            api,
            "DELETE",
            ref.path,
            what=str(ref),
            query=[("propagationPolicy", "Foreground")],
            body=body,
        )
    except NotFound:
        return


def plan_objects(
    api: ApiClient,
    manifests: Sequence[Manifest],
    namespace: str,
    secrets: Secrets,
    *,
    force: bool = False,
    absent: bool | None = None,
) -> list[ObjectPlan]:
    """Dry-run apply every manifest and compare; add destroy entries for what we left behind.

    In a namespace that does not exist yet (a first deploy) the API refuses even a dry run
    (404, NamespaceLifecycle): its objects, and the Namespace, are planned as what we send,
    unchecked. ``absent`` says so instead of asking (a saved plan made that way is checked
    the same way after the deploy lock created the namespace).
    """
    plans: list[ObjectPlan] = []
    if absent is None:
        absent = not namespace_exists(api, namespace)
    for m in ordered(manifests):
        body = to_apply(m, secrets)
        if absent and namespace in (
            m.ref.namespace,
            m.ref.name if m.ref.kind == "Namespace" else None,
        ):
            plans.append(object_plan(m.ref, None, body))
            continue
        live = get(api, m.ref)
        if live is None:
            # Shown as what we send, not the server's defaulted result: that is what was written.
            plans.append(object_plan(m.ref, None, body))
            # Still ask the API: a dry-run catches an invalid object before apply does.
            server_apply(api, body, dry_run=True, force=force, secrets=secrets)
            continue
        planned = server_apply(api, body, dry_run=True, force=force, secrets=secrets)
        plans.append(object_plan(m.ref, live, planned))
    rendered = {m.ref for m in manifests}
    leftover = {ref_of(o, namespace): resource_version(o) for o in list_ours(api, namespace)}
    for ref in destroy_order(r for r in leftover if r not in rendered):
        plans.append(ObjectPlan(ref, "destroy", version=leftover[ref]))
    return plans


@dataclass
class Ledger:
    """What an apply has done so far: reported in full when something fails midway."""

    done: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)

    def step(self, name: str, action: Callable[[], Any]) -> Any:
        try:
            result = action()
        except AkopsError as e:
            rest = [p for p in self.pending if p != name]
            e.args = (
                f"{e}; applied: {', '.join(self.done) or 'nothing'}; "
                f"not applied: {', '.join([name, *rest])}",
            )
            raise
        self.done.append(name)
        if name in self.pending:
            self.pending.remove(name)
        return result


def apply_objects(
    api: ApiClient,
    manifests: Sequence[Manifest],
    plans: Sequence[ObjectPlan],
    secrets: Secrets,
    progress: Ledger,
    *,
    force: bool,
    prune: bool,
    log: Callable[[str], None] = print,
) -> tuple[list[Ref], list[Ref]]:
    """Apply the changed objects in order, then (with ``prune``) delete the destroy ones.

    Returns (applied, deleted); applied Deployments need a rollout wait.
    """
    by_ref = {p.ref: p for p in plans}
    todo = [
        m
        for m in ordered(manifests)
        if by_ref.get(m.ref, ObjectPlan(m.ref, "add")).action != "none"
    ]
    doomed = [p.ref for p in plans if p.action == "destroy"] if prune else []
    seen = {p.ref: p.version for p in plans}
    # Ahead of later steps already pending (restarts, the release): the order they run in.
    progress.pending[0:0] = [str(m.ref) for m in todo] + [f"delete {r}" for r in doomed]
    changed: list[Ref] = []
    deleted: list[Ref] = []
    for m in todo:
        body = to_apply(m, secrets)

        def send(b: Obj = body) -> Obj:
            return server_apply(api, b, dry_run=False, force=force, secrets=secrets)

        progress.step(str(m.ref), send)
        log(f"applied {m.ref}")
        changed.append(m.ref)
    for ref in destroy_order(doomed):

        def remove(r: Ref = ref) -> None:
            delete(api, r, seen.get(r))

        progress.step(f"delete {ref}", remove)
        log(f"deleted {ref}")
        deleted.append(ref)
    return changed, deleted
