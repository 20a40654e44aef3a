"""Launch a real Kubernetes control plane on loopback, for tests and for rehearsals.

Rule: I/O edge (processes, files, HTTPS to the plane it starts); nothing above the process
helper and the tool builds. ``find_binaries`` (envtest's ``KUBEBUILDER_ASSETS``, else programs
built from ``tools/go``), ``start``/``stop``/``load``/``running`` for a plane kept in one folder.

    python -m akops.launch binaries      # find or build the programs, print where they are
    python -m akops.launch up DIR        # start a plane in DIR, print its kubeconfig's path
    python -m akops.launch down DIR      # stop it (idempotent)
"""

from __future__ import annotations

from akops.launch.binaries import ASSETS_VAR, Binaries, find_binaries
from akops.launch.plane import (
    CONTEXT,
    NODES,
    Component,
    ControlPlane,
    kubeconfig_text,
    load,
    make_namespaces,
    running,
    start,
    stop,
)

__all__ = [
    "ASSETS_VAR",
    "CONTEXT",
    "NODES",
    "Binaries",
    "Component",
    "ControlPlane",
    "find_binaries",
    "kubeconfig_text",
    "load",
    "make_namespaces",
    "running",
    "start",
    "stop",
]
