"""The Go programs this project builds, by name: one registry for ``python -m akops.tools go NAME``.

Rule: pure (values only). Each entry names its module set in ``tools/go/<set>/`` (``go.mod`` and
``go.sum`` pin the versions). Add a program here and its module set there; nothing else.
"""

from __future__ import annotations

from akops.tools.gobuild import GoProgram

#: name -> program.
PROGRAMS: dict[str, GoProgram] = {
    p.name: p
    for p in (
        # The field's fast schema validator: the lint benchmark's peer.
        GoProgram("kubeconform", "kubeconform", "github.com/yannh/kubeconform/cmd/kubeconform"),
        # np-guard's NetworkPolicy analyser: the oracle lint's connectivity table is held to.
        GoProgram(
            "k8snetpolicy", "netpol-analyzer", "github.com/np-guard/netpol-analyzer/cmd/netpolicy"
        ),
        # The PgBouncer sidecar's exporter at the sidecar image's tag (v0.12.1): the
        # real-Prometheus alert tests scrape it, unrelabelled.
        GoProgram(
            "pgbouncer_exporter",
            "pgbouncer_exporter",
            "github.com/prometheus-community/pgbouncer_exporter",
        ),
        # The outpost's /dev/shm sidecar at the sidecar image's tag: the real-Prometheus test
        # runs it on a real tmpfs with the rendered arguments.
        GoProgram("node_exporter", "node_exporter", "github.com/prometheus/node_exporter"),
        # The prometheus-community chart's config-reloader (prometheus-operator's): the rule
        # reload test runs it with the rendered recipe's watched directories.
        GoProgram(
            "prometheus-config-reloader",
            "prometheus-config-reloader",
            "github.com/prometheus-operator/prometheus-operator/cmd/prometheus-config-reloader",
        ),
    )
}
