"""The Go programs this project builds, by name: one registry for ``python -m akops.tools go NAME``.

Rule: pure (values only: ``GoProgram`` and the registry; ``akops.tools.gobuild`` builds them).
Each entry names its module set in ``tools/go/<set>/`` (``go.mod`` and
``go.sum`` pin the versions). Add a program here and its module set there; nothing else.

The control plane (``kube`` set) is Kubernetes ``KUBE_VERSION`` and the etcd that release pins in
its own ``go.mod``; both share one dependency graph, so the second and later builds reuse the Go
build cache of the first. kwok, the config-reloader and np-guard's analyser have sets of their
own (one set would move the API server off the dependencies it was released with), which pin
the libraries they share with the plane to the plane's versions (``akops.tools.gosets``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: The repository's module sets (``tools/go/<set>/go.mod``).
SETS_DIR = Path(__file__).resolve().parents[2] / "tools" / "go"


@dataclass(frozen=True)
class GoProgram:
    """One binary: which module set pins it and which package's ``main`` it is."""

    name: str  # the binary's file name
    module_set: str  # tools/go/<module_set>/
    package: str  # e.g. github.com/yannh/kubeconform/cmd/kubeconform
    ldflags: str = ""  # e.g. "-X k8s.io/component-base/version.gitVersion=v1.33.5"

    @property
    def module_dir(self) -> Path:
        return SETS_DIR / self.module_set


#: The Kubernetes release of the local control plane (``tools/go/kube/go.mod`` pins the same).
KUBE_VERSION = "v1.33.13"
#: Its commit and date, as the release build stamps them (``/version`` reports them).
KUBE_COMMIT = "c029d48d28322ad0369aabdcf8b656fd3195cd30"
KUBE_BUILD_DATE = "2026-06-11T16:59:07Z"


def _kube_ldflags() -> str:
    """What ``hack/lib/version.sh`` stamps into a release build: ``--version`` and ``/version``."""
    major, minor = KUBE_VERSION.lstrip("v").split(".")[:2]
    stamps = {
        "gitVersion": KUBE_VERSION,
        "gitMajor": major,
        "gitMinor": minor,
        "gitCommit": KUBE_COMMIT,
        "gitTreeState": "clean",
        "buildDate": KUBE_BUILD_DATE,
    }
    flags = ["-s", "-w"]  # no symbol tables: a third less to link and store
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [f"-X {pkg}.{var}={value}" for var, value in stamps.items()]
    return " ".join(flags)


KUBE_LDFLAGS = _kube_ldflags()

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
        # The local control plane (akops.launch).
        GoProgram("kube-apiserver", "kube", "k8s.io/kubernetes/cmd/kube-apiserver", KUBE_LDFLAGS),
        GoProgram(
            "kube-controller-manager",
            "kube",
            "k8s.io/kubernetes/cmd/kube-controller-manager",
            KUBE_LDFLAGS,
        ),
        GoProgram("kube-scheduler", "kube", "k8s.io/kubernetes/cmd/kube-scheduler", KUBE_LDFLAGS),
        # The etcd release Kubernetes pins (go.etcd.io/etcd/server/v3's main package).
        GoProgram("etcd", "kube", "go.etcd.io/etcd/server/v3", "-s -w"),
        # Fake nodes: kwok runs their kubelets' part (leases, pod status) against the API server.
        GoProgram("kwok", "kwok", "sigs.k8s.io/kwok/cmd/kwok", "-s -w"),
    )
}
