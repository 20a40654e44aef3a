"""Convergence and fatal pod states (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from akops.cluster.convergence import converged, pod_failures, progress, selector_string


def deployment(replicas: int | None = 3, generation: int = 5, **status: int) -> dict[str, Any]:
    spec: dict[str, Any] = {"selector": {"matchLabels": {"app": "pgbouncer", "tier": "db"}}}
    if replicas is not None:
        spec["replicas"] = replicas
    return {
        "metadata": {"name": "pgbouncer", "generation": generation},
        "spec": spec,
        "status": status,
    }


@pytest.mark.parametrize(
    ("dep", "expected"),
    [
        (
            deployment(
                observedGeneration=5, updatedReplicas=3, readyReplicas=3, availableReplicas=3
            ),
            True,
        ),
        (
            deployment(
                observedGeneration=4, updatedReplicas=3, readyReplicas=3, availableReplicas=3
            ),
            False,
        ),
        (
            deployment(
                observedGeneration=6, updatedReplicas=3, readyReplicas=3, availableReplicas=3
            ),
            True,
        ),
        (
            deployment(
                observedGeneration=5, updatedReplicas=2, readyReplicas=3, availableReplicas=3
            ),
            False,
        ),
        (
            deployment(
                observedGeneration=5, updatedReplicas=3, readyReplicas=2, availableReplicas=3
            ),
            False,
        ),
        (
            deployment(
                observedGeneration=5, updatedReplicas=3, readyReplicas=3, availableReplicas=2
            ),
            False,
        ),
        (deployment(replicas=0, observedGeneration=5), True),
        (deployment(replicas=0, observedGeneration=4), False),
        (
            deployment(
                replicas=None,
                observedGeneration=5,
                updatedReplicas=1,
                readyReplicas=1,
                availableReplicas=1,
            ),
            True,
        ),
        ({"metadata": {"name": "x", "generation": 1}, "spec": {"replicas": 1}}, False),
    ],
)
def test_converged(dep: dict[str, Any], expected: bool) -> None:
    assert converged(dep) is expected


def test_progress_describes_the_rollout() -> None:
    p = progress(
        deployment(observedGeneration=5, updatedReplicas=1, readyReplicas=2, availableReplicas=2)
    )
    assert p.describe() == "1/3 updated, 2 ready, 2 available"
    assert progress(deployment(observedGeneration=4)).describe() == "waiting for the controller"


def test_fatal_waiting_reasons_are_found_in_init_and_app_containers() -> None:
    pods = [
        {
            "metadata": {"name": "p1"},
            "status": {
                "initContainerStatuses": [
                    {
                        "name": "init",
                        "state": {
                            "waiting": {
                                "reason": "CreateContainerConfigError",
                                "message": "secret missing",
                            }
                        },
                    }
                ],
                "containerStatuses": [
                    {"name": "app", "state": {"waiting": {"reason": "PodInitializing"}}}
                ],
            },
        },
        {
            "metadata": {"name": "p2"},
            "status": {
                "containerStatuses": [
                    {"name": "app", "state": {"waiting": {"reason": "ImagePullBackOff"}}}
                ]
            },
        },
        {
            "metadata": {"name": "p3"},
            "status": {"containerStatuses": [{"name": "app", "state": {"running": {}}}]},
        },
        {
            "metadata": {"name": "p4"},
            "status": {
                "containerStatuses": [
                    {"name": "app", "state": {"waiting": {"reason": "ContainerCreating"}}}
                ]
            },
        },
    ]
    assert [(f.pod, f.container, f.reason, f.message) for f in pod_failures(pods)] == [
        ("p1", "init", "CreateContainerConfigError", "secret missing"),
        ("p2", "app", "ImagePullBackOff", ""),
    ]


def test_selector_string() -> None:
    assert selector_string(deployment()) == "app=pgbouncer,tier=db"
