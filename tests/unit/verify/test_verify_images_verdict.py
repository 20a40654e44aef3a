"""images.pinned verdicts on pods as the API returns them (pure)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from akops.environment import load_environment
from akops.images.pins import stack_images
from akops.images.running import role_expectations
from akops.verify.checks.images import judge
from akops.verify.results import Status

ROOT = Path(__file__).resolve().parents[3]
OTHER = "sha256:" + "e" * 64


def args() -> dict[str, Any]:
    images = stack_images(load_environment("prod", ROOT / "environments"))
    expected = role_expectations(images, {"pgbouncer": "pgbouncer"})["pgbouncer"]
    return {"selector": "app=pgbouncer", "expected": expected, "images": images}


def pod(name: str, image: str, statuses: bool = True) -> dict[str, Any]:
    status = [{"name": "pgbouncer", "image": image, "imageID": f"x@{OTHER}"}] if statuses else []
    return {"metadata": {"name": name}, "status": {"containerStatuses": status}}


def test_pods_not_started_are_skipped_not_passed() -> None:
    outcome = judge([pod("p-0", "", statuses=False)], args())
    assert outcome.status == Status.SKIP
    assert "app=pgbouncer" in outcome.detail


def test_a_tag_only_pin_passes_and_says_so() -> None:
    outcome = judge([pod("p-0", "docker.io/edoburu/pgbouncer:v1.24.1-p1")], args())
    assert outcome.status == Status.PASS
    assert "pinned by tag only" in outcome.detail


def test_many_mismatches_are_counted_and_the_first_three_named() -> None:
    pods = [pod(f"p-{i}", "edoburu/pgbouncer:v9") for i in range(5)]
    outcome = judge(pods, args())
    assert outcome.status == Status.FAIL
    assert outcome.detail.startswith("5 of 5 container(s) differ: pod p-0 container pgbouncer")
    assert outcome.detail.endswith("(+2 more)")
    assert "p-3" not in outcome.detail


MISMATCH = (
    "pod {} container pgbouncer runs edoburu/pgbouncer:v9 but pgbouncer.image pins tag "
    "v1.24.1-p1: an image updater (Keel, diun) or a hand edit changed it"
)


def test_three_mismatches_are_all_named_with_no_more() -> None:
    pods = [pod(f"p-{i}", "edoburu/pgbouncer:v9") for i in range(3)]
    outcome = judge(pods, args())
    shown = "; ".join(MISMATCH.format(f"p-{i}") for i in range(3))
    assert (outcome.status, outcome.detail) == (
        Status.FAIL,
        f"3 of 3 container(s) differ: {shown}",
    )


def test_a_pass_counts_containers_and_pods_and_names_the_pin() -> None:
    running = "docker.io/edoburu/pgbouncer:v1.24.1-p1"
    outcome = judge([pod("p-0", running), pod("p-1", running)], args())
    assert (outcome.status, outcome.detail) == (
        Status.PASS,
        "2 container(s) in 2 pod(s) run tag v1.24.1-p1 "
        "(pinned by tag only: `invoke images.pin` pins the digest)",
    )


def test_a_digest_pin_passes_naming_the_digest_and_no_tag_note() -> None:
    digest = "sha256:" + "b" * 64
    env = load_environment("prod", ROOT / "environments")
    pgb = env.pgbouncer.model_copy(update={"image": f"edoburu/pgbouncer:v1.24.1-p1@{digest}"})
    images = stack_images(env.model_copy(update={"pgbouncer": pgb}))
    expected = role_expectations(images, {"pgbouncer": "pgbouncer"})["pgbouncer"]
    running = {
        "metadata": {"name": "p-0"},
        "status": {
            "containerStatuses": [
                {
                    "name": "pgbouncer",
                    "image": "edoburu/pgbouncer:v1.24.1-p1",
                    "imageID": f"docker.io/edoburu/pgbouncer@{digest}",
                }
            ]
        },
    }
    outcome = judge(
        [running], {"selector": "app=pgbouncer", "expected": expected, "images": images}
    )
    assert (outcome.status, outcome.detail) == (
        Status.PASS,
        f"1 container(s) in 1 pod(s) run {digest}",
    )
