"""Finding the control plane's programs: envtest's folder when one is named, else our builds.

Rule: I/O (files, ``go build`` through ``akops.tools``). The envtest convention comes first:
when ``KUBEBUILDER_ASSETS`` names a folder, the programs are taken from there as they are and
nothing is built, so a user with envtest's downloaded binaries never needs Go. That folder must
hold ``kube-apiserver`` and ``etcd``; ``kube-controller-manager``, ``kube-scheduler`` and
``kwok`` are optional there (envtest ships none of them), and a plane without them serves the
API but runs no controllers, scheduler or nodes (``Binaries.missing`` says which). Without the
variable, every program is built once per machine from the module sets pinned in ``tools/go/``
(``akops.tools.programs``) and cached.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from akops.errors import InputError

#: The variable envtest (controller-runtime) reads, with the same meaning.
ASSETS_VAR = "KUBEBUILDER_ASSETS"
REQUIRED = ("etcd", "kube-apiserver")
OPTIONAL = ("kube-controller-manager", "kube-scheduler", "kwok")


@dataclass(frozen=True)
class Binaries:
    """Where each program of the plane is; ``None`` for an optional one that is not there."""

    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path | None
    kube_scheduler: Path | None
    kwok: Path | None
    source: str  # "KUBEBUILDER_ASSETS=/path" or "built from tools/go"

    @property
    def missing(self) -> tuple[str, ...]:
        """The optional programs that are not there (so the plane runs without them)."""
        return tuple(name for name in OPTIONAL if self.path(name) is None)

    def path(self, name: str) -> Path | None:
        value: Path | None = getattr(self, name.replace("-", "_"))
        return value


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def from_assets(folder: str) -> Binaries:
    """The programs in an envtest-style folder; InputError (one line) when it is no such folder."""
    where = f"{ASSETS_VAR}={folder}"
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise InputError(
            f"{where}: not a folder (it should hold envtest's kube-apiserver and etcd; unset "
            f"it to build them from tools/go)"
        )
    for name in REQUIRED:
        if not _executable(root / name):
            raise InputError(
                f"{where}: no executable {name} in that folder (it should hold envtest's "
                f"kube-apiserver and etcd; unset it to build them from tools/go)"
            )
    found = {name: root / name if _executable(root / name) else None for name in OPTIONAL}
    return Binaries(
        etcd=root / "etcd",
        kube_apiserver=root / "kube-apiserver",
        kube_controller_manager=found["kube-controller-manager"],
        kube_scheduler=found["kube-scheduler"],
        kwok=found["kwok"],
        source=where,
    )


def build_all(on_line: Callable[[str], None] | None = None) -> Binaries:
    """Every program built (once per machine) from the pinned module sets; ToolMissingError
    when there is no Go or a build fails."""
    from akops.tools.gobuild import ensure_go_programs
    from akops.tools.programs import PROGRAMS

    # One `go build` for the three Kubernetes binaries (they share compile and link flags).
    paths = ensure_go_programs([PROGRAMS[name] for name in (*REQUIRED, *OPTIONAL)], on_line=on_line)
    return Binaries(
        etcd=paths["etcd"],
        kube_apiserver=paths["kube-apiserver"],
        kube_controller_manager=paths["kube-controller-manager"],
        kube_scheduler=paths["kube-scheduler"],
        kwok=paths["kwok"],
        source="built from tools/go",
    )


def assets_folder(environ: Mapping[str, str] | None = None) -> str:
    """``KUBEBUILDER_ASSETS`` (empty when unset)."""
    return (os.environ if environ is None else environ).get(ASSETS_VAR, "")


def find_binaries(
    environ: Mapping[str, str] | None = None, on_line: Callable[[str], None] | None = None
) -> Binaries:
    """``KUBEBUILDER_ASSETS``'s programs when it is set, else our cached builds."""
    folder = assets_folder(environ)
    if folder:
        return from_assets(folder)
    return build_all(on_line)
