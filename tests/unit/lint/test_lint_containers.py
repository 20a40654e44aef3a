"""Container rules at their edges, each on a small stack: which requests and limits are
missing, which workloads need probes, the server's liveness budget at 60 s, and every
form of an unpinned image, with exact messages and paths."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.unit.lint.small import container, deployment, job, lint

C0 = "spec.template.spec.containers[0]"
RESOURCES = {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "64Mi"}}
PROBE = {"tcpSocket": {"port": 1}}
SERVER_LABELS = {"app.kubernetes.io/name": "authentik", "app.kubernetes.io/component": "server"}


def workload(**fields: Any) -> dict[str, Any]:
    """A non-critical Deployment whose one container has ``fields`` (resources and probes
    complete unless given)."""
    c = container("web", resources=RESOURCES, readinessProbe=PROBE, livenessProbe=PROBE)
    c.update(fields)
    return deployment("web", containers=[{k: v for k, v in c.items() if v is not None}])


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        (None, "container web has no cpu or memory request"),
        ({"requests": {"memory": "1Mi"}}, "container web has no cpu request"),
        ({"requests": {"cpu": "1", "memory": ""}}, "container web has no memory request"),
        ({"requests": {"cpu": "1", "memory": "1Mi"}}, None),
    ],
)
def test_resources_requests(resources: Any, message: str | None) -> None:
    found = lint(workload(resources=resources))
    if message is None:
        assert found.findings("resources.requests") == []
        return
    f = found.one("resources.requests")
    assert (f.message, f.path, f.object) == (message, f"{C0}.resources", "Deployment/web")


@pytest.mark.parametrize(
    ("limits", "fails"),
    [(None, True), ({"memory": ""}, True), ({"cpu": "1"}, True), ({"memory": "1Mi"}, False)],
)
def test_resources_memory_limit(limits: Any, fails: bool) -> None:
    resources = {"requests": {"cpu": "1", "memory": "1Mi"}}
    if limits is not None:
        resources["limits"] = limits
    messages = lint(workload(resources=resources)).messages("resources.memory-limit")
    assert messages == (
        ["container web has no memory limit; the tier LimitRange gives it 256Mi"] if fails else []
    )


@pytest.mark.parametrize(
    ("readiness", "liveness", "message"),
    [
        (None, None, "container web has no readiness and no liveness probe"),
        (PROBE, None, "container web has no liveness probe"),
        (None, PROBE, "container web has no readiness probe"),
        ({}, PROBE, "container web has no readiness probe"),
        (PROBE, PROBE, None),
    ],
)
def test_probes_missing(readiness: Any, liveness: Any, message: str | None) -> None:
    found = lint(workload(readinessProbe=readiness, livenessProbe=liveness))
    if message is None:
        assert found.findings("probes.missing") == []
        return
    f = found.one("probes.missing")
    assert (f.message, f.path) == (message, C0)


def test_a_job_needs_no_probes() -> None:
    migrate = job(containers=[container("m", resources=RESOURCES)])
    assert lint(migrate).findings("probes.missing") == []
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": migrate["spec"]["template"]["spec"],
    }
    assert lint(pod).messages("probes.missing") == [
        "container m has no readiness and no liveness probe"
    ]


def server(liveness: Any) -> dict[str, Any]:
    c = container("server", resources=RESOURCES, readinessProbe=PROBE, livenessProbe=liveness)
    return deployment("authentik-server", containers=[c], labels=SERVER_LABELS)


@pytest.mark.parametrize(
    ("liveness", "budget"),
    [
        ({"httpGet": {"path": "/", "port": 9000}}, "3 x 10 s = 30 s"),
        ({**PROBE, "failureThreshold": 5}, "5 x 10 s = 50 s"),
        ({**PROBE, "failureThreshold": 6}, None),
        ({**PROBE, "periodSeconds": 19}, "3 x 19 s = 57 s"),
        ({**PROBE, "periodSeconds": 20}, None),
        ({**PROBE, "failureThreshold": 1, "periodSeconds": 59}, "1 x 59 s = 59 s"),
        ({**PROBE, "failureThreshold": 0, "periodSeconds": 0}, "3 x 10 s = 30 s"),
        ({**PROBE, "failureThreshold": "x", "periodSeconds": 30}, None),  # 3 x 30
    ],
)
def test_liveness_budget_of_the_server(liveness: dict[str, Any], budget: str | None) -> None:
    found = lint(server(liveness))
    if budget is None:
        assert found.findings("probes.liveness-budget") == []
        return
    f = found.one("probes.liveness-budget")
    assert f.message == (
        f"Deployment/authentik-server liveness gives up after {budget}; "
        "a pod waiting on the migration lock needs >= 60 s"
    )
    assert f.path == f"{C0}.livenessProbe"


def test_liveness_budget_is_the_servers_only_and_needs_a_probe() -> None:
    short = {**PROBE, "failureThreshold": 1}
    other = workload(livenessProbe=short)
    assert lint(other).findings("probes.liveness-budget") == []
    assert lint(server(None)).findings("probes.liveness-budget") == []
    assert lint(server({})).findings("probes.liveness-budget") == []


@pytest.mark.parametrize(
    ("image", "problem"),
    [
        ("example/x", "has no tag (means latest)"),
        ("registry.local:5000/x", "has no tag (means latest)"),
        ("example/x:latest", "uses the tag latest"),
        ("example/x:", "uses the tag latest"),
        ("registry.local:5000/x:1.2", None),
        ("example/x@sha256:" + "a" * 64, None),
        ("example/x:latest@sha256:" + "a" * 64, None),
        ("x:1", None),
    ],
)
def test_image_pinned(image: str, problem: str | None) -> None:
    found = lint(workload(image=image))
    if problem is None:
        assert found.findings("image.pinned") == []
        return
    f = found.one("image.pinned")
    assert (f.message, f.path) == (f"container web image {image} {problem}", f"{C0}.image")


def test_a_container_without_an_image_is_named() -> None:
    c = {"name": "web", "resources": RESOURCES, "readinessProbe": PROBE, "livenessProbe": PROBE}
    f = lint(deployment("web", containers=[c])).one("image.pinned")
    assert (f.message, f.path) == ("container web names no image", C0)


def test_probes_are_required_of_a_deployment_after_a_job_in_its_file() -> None:
    migrate = job(containers=[container("m")])
    one_file = yaml.safe_dump_all([migrate, workload(readinessProbe=None, livenessProbe=None)])
    assert lint(one_file).messages("probes.missing") == [
        "container web has no readiness and no liveness probe"
    ]


def test_the_liveness_budget_of_a_server_container_after_one_without_liveness() -> None:
    short = {**PROBE, "failureThreshold": 1, "periodSeconds": 10}
    first = container("sidecar", resources=RESOURCES, readinessProbe=PROBE)
    second = container("server", resources=RESOURCES, readinessProbe=PROBE, livenessProbe=short)
    two = deployment("authentik-server", containers=[first, second], labels=SERVER_LABELS)
    f = lint(two).one("probes.liveness-budget")
    assert f.path == "spec.template.spec.containers[1].livenessProbe"


def test_images_are_judged_after_a_container_without_one() -> None:
    bare = {"name": "a", "resources": RESOURCES, "readinessProbe": PROBE, "livenessProbe": PROBE}
    unpinned = container("b", image="example/x", resources=RESOURCES)
    found = lint(deployment("web", containers=[bare, unpinned])).messages("image.pinned")
    assert found == [
        "container a names no image",
        "container b image example/x has no tag (means latest)",
    ]
