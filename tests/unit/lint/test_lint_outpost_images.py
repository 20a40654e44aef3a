"""outpost.shm and image.digest at their edges, on small stacks: every way /dev/shm can be
wrong on an outpost Deployment, and digests by how protected the environment is."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.unit.lint.small import container, deployment, lint

SHM = {"name": "dshm", "mountPath": "/dev/shm"}
MEMORY = {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}}


def outpost(
    mounts: list[dict[str, Any]] | None = None,
    volumes: list[dict[str, Any]] | None = None,
    limit: str | None = "2Gi",
    name: str = "ak-outpost-main",
) -> dict[str, Any]:
    resources: dict[str, Any] = {"requests": {"cpu": "1", "memory": "1Gi"}}
    if limit is not None:
        resources["limits"] = {"memory": limit}
    c = container("proxy", resources=resources, volumeMounts=[SHM] if mounts is None else mounts)
    return deployment(
        name, containers=[c], labels={"app": "x"}, volumes=[MEMORY] if volumes is None else volumes
    )


@pytest.mark.parametrize(
    ("doc", "problem"),
    [
        (outpost(), None),
        (
            outpost(mounts=[]),
            "nothing is mounted at /dev/shm (the 64 MB default fills with session files)",
        ),
        (
            outpost(mounts=[{"name": "dshm", "mountPath": "/tmp"}]),
            "nothing is mounted at /dev/shm (the 64 MB default fills with session files)",
        ),
        (outpost(volumes=[]), "volume dshm at /dev/shm is not an emptyDir with medium Memory"),
        (
            outpost(volumes=[{"name": "dshm", "emptyDir": {}}]),
            "volume dshm at /dev/shm is not an emptyDir with medium Memory",
        ),
        (
            outpost(
                volumes=[{"name": "other", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}}]
            ),
            "volume dshm at /dev/shm is not an emptyDir with medium Memory",
        ),
        (
            outpost(volumes=[{"name": "dshm", "emptyDir": "odd"}]),
            "volume dshm at /dev/shm is not an emptyDir with medium Memory",
        ),
        (
            outpost(volumes=[{"name": "dshm", "emptyDir": {"medium": "Memory"}}]),
            "emptyDir dshm at /dev/shm has no sizeLimit",
        ),
        (outpost(limit="1Gi"), "memory limit 1Gi does not exceed the /dev/shm sizeLimit 1Gi"),
        (outpost(limit="1025Mi"), None),
        (
            outpost(limit=None),
            "memory limit none (the tier default 256Mi) does not exceed the /dev/shm sizeLimit 1Gi",
        ),
        (outpost(limit="lots"), "memory limit lots does not exceed the /dev/shm sizeLimit 1Gi"),
    ],
)
def test_outpost_shm_on_an_outpost_deployment(doc: dict[str, Any], problem: str | None) -> None:
    found = lint(doc)
    if problem is None:
        assert found.findings("outpost.shm") == []
        return
    f = found.one("outpost.shm")
    assert f.message == f"Deployment/ak-outpost-main: {problem}"
    assert f.path == "spec.template.spec.volumes"


def test_outpost_shm_finds_outposts_by_label_and_only_them() -> None:
    labelled = outpost(mounts=[], name="proxy")
    labelled["spec"]["template"]["metadata"]["labels"] = {"goauthentik.io/outpost-name": "main"}
    assert lint(labelled).messages("outpost.shm") == [
        "Deployment/proxy: nothing is mounted at /dev/shm (the 64 MB default fills with session files)"
    ]
    assert lint(outpost(mounts=[], name="web")).findings("outpost.shm") == []


def test_outpost_shm_judges_an_outpost_after_another_workload_in_its_file() -> None:
    one_file = yaml.safe_dump_all([deployment("web"), outpost(mounts=[])])
    assert lint(one_file).messages("outpost.shm") == [
        "Deployment/ak-outpost-main: nothing is mounted at /dev/shm "
        "(the 64 MB default fills with session files)"
    ]


def pinned(image: str) -> dict[str, Any]:
    return deployment("web", containers=[container("web", image=image)])


@pytest.mark.parametrize(
    ("protected", "severity"), [(None, None), (False, "warning"), (True, "error")]
)
def test_image_digest_by_how_protected_the_environment_is(
    protected: bool | None, severity: str | None
) -> None:
    found = lint(pinned("example/x:1"), protected=protected).findings("image.digest")
    if severity is None:
        assert found == []
        return
    (f,) = found
    assert (f.severity, f.message, f.path) == (
        severity,
        "container web image example/x:1 has no @sha256 digest",
        "spec.template.spec.containers[0].image",
    )
    digest = "example/x:1@sha256:" + "a" * 64
    assert lint(pinned(digest), protected=protected).findings("image.digest") == []
