"""The names and labels that pick out the stack's objects and pods: one home each.

Rule: pure constants. The templates (through the render context: ``names``), lint,
cluster and verify import them from here, so a label that selects objects for prune, a
selector that finds pods to exec into, or the name of an object a rollback reads can
never drift between them. The chart's own labels are the chart's contract; the
embedded outpost's label is Authentik's.
"""

from __future__ import annotations

from collections.abc import Mapping

# --- the objects this repository applies ------------------------------------------------------

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "akops"
STACK_LABEL = "akops.io/stack"
STACK = "authentik"
#: The field manager of every server-side apply of ours.
FIELD_MANAGER = "akops"
#: The label of our pods that our Deployments, Services and PDBs select on.
APP_LABEL = "app"

#: PgBouncer's Deployment, Service, PDB, NetworkPolicy and container, and its ``app`` label.
PGBOUNCER = "pgbouncer"
PGBOUNCER_CONFIG = "pgbouncer-config"
PGBOUNCER_AUTH = "pgbouncer-auth"

# --- the Authentik chart's pods, and the embedded outpost's -----------------------------------

NAME_LABEL = "app.kubernetes.io/name"
INSTANCE_LABEL = "app.kubernetes.io/instance"
COMPONENT_LABEL = "app.kubernetes.io/component"
AUTHENTIK = "authentik"
SERVER = "server"
WORKER = "worker"
#: The release name the chart's objects are named after (``<release>-server``) by default.
DEFAULT_RELEASE = "goauthentik"
#: Set by Authentik on the pods of an outpost it manages.
OUTPOST_LABEL = "goauthentik.io/outpost-name"


def outpost_pod(outpost: str, kind: str = "proxy") -> dict[str, str]:
    """The labels Authentik's Kubernetes controller puts on an outpost's pods (its
    Deployment's selector; the outpost's UUID label is left out, it differs per install)."""
    return {
        NAME_LABEL: f"authentik-outpost-{kind}",
        MANAGED_BY_LABEL: "goauthentik.io",
        OUTPOST_LABEL: outpost,
        "goauthentik.io/outpost-type": kind,
    }


# --- the local control plane's fake nodes (akops.launch) ------------------------------------

#: kwok plays the kubelet of the nodes carrying this annotation: their pods are scheduled and
#: Ready, and have no containers (nothing to exec into, nothing answering HTTP).
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"
KWOK_NODE = "fake"


def ours(app: str) -> dict[str, str]:
    """The labels every object of ours carries; prune and plan find our objects by them."""
    return {APP_LABEL: app, MANAGED_BY_LABEL: MANAGED_BY, STACK_LABEL: STACK}


def selector(labels: Mapping[str, str]) -> str:
    """A label selector string (``k=v,k=v``) for the API's ``labelSelector``."""
    return ",".join(f"{k}={v}" for k, v in labels.items())


def authentik_pod(component: str) -> dict[str, str]:
    """The chart's labels that pick out Authentik's pods of one component."""
    return {NAME_LABEL: AUTHENTIK, COMPONENT_LABEL: component}


#: Selects the objects this repository applied (destroy/prune candidates).
PRUNE_SELECTOR = selector({MANAGED_BY_LABEL: MANAGED_BY, STACK_LABEL: STACK})
PGBOUNCER_PODS = selector({APP_LABEL: PGBOUNCER})


def authentik_pods(component: str) -> str:
    return selector(authentik_pod(component))


def outpost_pods(outpost: str) -> str:
    return selector({OUTPOST_LABEL: outpost})
