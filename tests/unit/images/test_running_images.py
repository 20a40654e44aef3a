"""What runs is what was pinned: container statuses against the pins (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from akops.environment import Environment, load_environment
from akops.images.pins import StackImage, stack_images
from akops.images.running import RunningContainer, compare_running, expected_containers

ROOT = Path(__file__).resolve().parents[3]
PINNED = "sha256:" + "a" * 64
OTHER = "sha256:" + "b" * 64
NAMES = {"pgbouncer": "pgbouncer.image", "server": "authentik.image_tag",
         "worker": "authentik.image_tag", "proxy": "authentik.outpost.image"}  # fmt: skip


@pytest.fixture
def pinned() -> tuple[StackImage, ...]:
    prod = load_environment("prod", ROOT / "environments")
    env: Environment = prod.model_copy(
        update={
            "pgbouncer": prod.pgbouncer.model_copy(
                update={"image": f"{prod.pgbouncer.image}@{PINNED}"}
            ),
            "authentik": prod.authentik.model_copy(update={"image_tag": f"2026.2.2@{PINNED}"}),
        }
    )
    return stack_images(env)


def pgbouncer(
    image_id: str, image: str = "docker.io/edoburu/pgbouncer:v1.24.1-p1"
) -> RunningContainer:
    return RunningContainer("pgbouncer-7d9c-abcde", "pgbouncer", image, image_id)


def test_the_pinned_digest_passes(pinned: tuple[StackImage, ...]) -> None:
    expected = expected_containers(pinned, NAMES)
    assert set(expected) == {"pgbouncer", "server", "worker"}  # the outpost is not patched
    running = [
        pgbouncer(f"docker.io/edoburu/pgbouncer@{PINNED}"),
        RunningContainer("goauthentik-server-1", "server", "ghcr.io/goauthentik/server:2026.2.2",
                         f"ghcr.io/goauthentik/server@{PINNED}"),
        RunningContainer("goauthentik-worker-1", "worker", "ghcr.io/goauthentik/server:2026.2.2",
                         f"docker-pullable://ghcr.io/goauthentik/server@{PINNED}"),
    ]  # fmt: skip
    verdicts = compare_running(pinned, expected, running)
    assert [v.ok for v in verdicts] == [True, True, True]
    assert all(v.by_digest for v in verdicts)


def test_another_digest_fails_naming_pod_container_both_digests_and_the_cause(
    pinned: tuple[StackImage, ...],
) -> None:
    (verdict,) = compare_running(
        pinned, expected_containers(pinned, NAMES), [pgbouncer(f"edoburu/pgbouncer@{OTHER}")]
    )
    assert not verdict.ok
    text = verdict.describe()
    for part in ("pod pgbouncer-7d9c-abcde", "container pgbouncer", f"runs {OTHER}",
                 f"pgbouncer.image pins {PINNED}", "image updater", "hand edit"):  # fmt: skip
        assert part in text, part


def test_a_retagged_spec_is_still_judged_by_its_container_name(
    pinned: tuple[StackImage, ...],
) -> None:
    # An updater rewrote the image to another repository and tag: the name still binds it.
    c = pgbouncer(f"docker.io/bitnami/pgbouncer@{OTHER}", image="bitnami/pgbouncer:1.25")
    (verdict,) = compare_running(pinned, expected_containers(pinned, NAMES), [c])
    assert not verdict.ok


def test_an_image_id_without_a_registry_digest_fails(pinned: tuple[StackImage, ...]) -> None:
    (verdict,) = compare_running(pinned, expected_containers(pinned, NAMES), [pgbouncer(OTHER)])
    assert not verdict.ok
    assert "without a registry digest" in verdict.describe()


def test_a_sidecar_is_matched_by_repository_and_strangers_are_left_alone(
    pinned: tuple[StackImage, ...],
) -> None:
    sidecar = RunningContainer("pgbouncer-1", "tail", "edoburu/pgbouncer:v1.24.1-p1",
                               f"edoburu/pgbouncer@{OTHER}")  # fmt: skip
    stranger = RunningContainer("pgbouncer-1", "istio-proxy", "istio/proxyv2:1.2", f"x@{OTHER}")
    verdicts = compare_running(pinned, {}, [sidecar, stranger])
    assert [(v.running.container, v.ok) for v in verdicts] == [("tail", False)]


def test_a_tag_only_pin_is_held_to_its_tag_and_says_so() -> None:
    prod = stack_images(load_environment("prod", ROOT / "environments"))
    expected = expected_containers(prod, NAMES)
    same = compare_running(prod, expected, [pgbouncer(f"x@{OTHER}")])
    assert same[0].ok and not same[0].by_digest
    assert "pins no digest: the tag alone compared" in same[0].describe()
    moved = compare_running(prod, expected, [pgbouncer("", image="edoburu/pgbouncer:v1.25.0")])
    assert not moved[0].ok
    assert "pins tag v1.24.1-p1" in moved[0].describe()
