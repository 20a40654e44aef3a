"""Image references, the stack's images, pin changes and moved tags (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from akops.environment import Environment, load_environment
from akops.images.pins import StackImage, moved_tags, pin_changes, stack_images
from akops.images.reference import digest_of_image_id, parse_image

ROOT = Path(__file__).resolve().parents[3]
D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64


@pytest.mark.parametrize(
    ("text", "domain", "path", "tag", "digest", "api"),
    [
        ("edoburu/pgbouncer:v1.24.1-p1", "docker.io", "edoburu/pgbouncer", "v1.24.1-p1", None,
         "registry-1.docker.io"),
        ("nginx:1.27", "docker.io", "library/nginx", "1.27", None, "registry-1.docker.io"),
        (f"ghcr.io/goauthentik/server:2026.2.2@{D1}", "ghcr.io", "goauthentik/server",
         "2026.2.2", D1, "ghcr.io"),
        ("127.0.0.1:5000/a/b:v1", "127.0.0.1:5000", "a/b", "v1", None, "127.0.0.1:5000"),
        ("localhost/app:v1", "localhost", "app", "v1", None, "localhost"),
        (f"quay.io/x/y@{D2}", "quay.io", "x/y", None, D2, "quay.io"),
    ],
)  # fmt: skip
def test_parse(text: str, domain: str, path: str, tag: str, digest: str | None, api: str) -> None:
    ref = parse_image(text)
    assert (ref.domain, ref.path, ref.tag, ref.digest, ref.api_host) == (
        domain, path, tag, digest, api,
    )  # fmt: skip
    assert ref.text == text


@pytest.mark.parametrize(
    "text",
    ["", "Edoburu/PgBouncer:v1", "pgbouncer", "pgbouncer:", "app@sha256:abc", " app:v1", "a:b c"],
)
def test_parse_refuses_what_no_registry_would_serve(text: str) -> None:
    with pytest.raises(ValueError):
        parse_image(text)


def test_pinning_replaces_only_the_digest() -> None:
    ref = parse_image(f"edoburu/pgbouncer:v1@{D1}")
    assert ref.unpinned == "edoburu/pgbouncer:v1"
    assert ref.pinned(D2) == f"edoburu/pgbouncer:v1@{D2}"
    with pytest.raises(ValueError):
        ref.pinned("sha256:short")


def test_only_loopback_registries_are_spoken_to_over_http() -> None:
    assert parse_image("127.0.0.1:5000/a:v1").loopback
    assert parse_image("localhost:5000/a:v1").loopback
    assert not parse_image("ghcr.io/a/b:v1").loopback
    assert not parse_image("a/b:v1").loopback


@pytest.mark.parametrize(
    ("image_id", "digest"),
    [
        (f"docker-pullable://edoburu/pgbouncer@{D1}", D1),
        (f"docker.io/edoburu/pgbouncer@{D1}", D1),
        (f"ghcr.io/goauthentik/server@{D2}", D2),
        (D1, None),  # a bare config digest is not a registry digest
        ("", None),
    ],
)
def test_digest_of_image_id(image_id: str, digest: str | None) -> None:
    assert digest_of_image_id(image_id) == digest


@pytest.fixture
def prod() -> Environment:
    return load_environment("prod", ROOT / "environments")


def test_stack_images_lists_every_image_field_and_authentik(prod: Environment) -> None:
    images = stack_images(prod)
    assert prod.monitoring is not None
    assert [(i.name, i.value) for i in images] == [
        ("pgbouncer.image", prod.pgbouncer.image),
        ("monitoring.exporter.image", prod.monitoring.exporter.image),
        ("monitoring.shm_exporter.image", prod.monitoring.shm_exporter.image),
        ("authentik.image_tag", prod.authentik.image_tag),
    ]
    assert images[3].ref.repository == "ghcr.io/goauthentik/server"


def test_a_patched_outpost_image_is_a_stack_image(prod: Environment) -> None:
    outpost = prod.authentik.outpost.model_copy(
        update={"image": "ghcr.io/goauthentik/proxy:2026.2.2"}
    )
    env = prod.model_copy(
        update={"authentik": prod.authentik.model_copy(update={"outpost": outpost})}
    )
    assert "authentik.outpost.image" in [i.name for i in stack_images(env)]


def pgbouncer_and_authentik(env: Environment) -> tuple[StackImage, StackImage]:
    named = {i.name: i for i in stack_images(env)}
    return named["pgbouncer.image"], named["authentik.image_tag"]


def test_pin_changes_write_tag_at_digest_in_the_field_form(prod: Environment) -> None:
    pgb, ak = pgbouncer_and_authentik(prod)
    changes = pin_changes((pgb, ak), {pgb: D1, ak: D2})
    assert [c.new_value for c in changes] == [f"{prod.pgbouncer.image}@{D1}", f"2026.2.2@{D2}"]
    # Already pinned to the digest the tag still names: nothing to change, nothing moved.
    pinned = prod.model_copy(
        update={
            "pgbouncer": prod.pgbouncer.model_copy(update={"image": changes[0].new_value}),
            "authentik": prod.authentik.model_copy(update={"image_tag": changes[1].new_value}),
        }
    )
    pgb2, ak2 = pgbouncer_and_authentik(pinned)
    assert pin_changes((pgb2, ak2), {pgb2: D1, ak2: D2}) == ()
    assert moved_tags((pgb2, ak2), {pgb2: D1, ak2: D2}) == ()
    moved = moved_tags((pgb2, ak2), {pgb2: D2, ak2: D2})
    assert [m.image.name for m in moved] == ["pgbouncer.image"]
    assert f"pinned {D1}, the registry now serves {D2}" in moved[0].describe()


def test_unpinned_images_never_count_as_moved(prod: Environment) -> None:
    pgb, ak = pgbouncer_and_authentik(prod)
    assert moved_tags((pgb, ak), {pgb: D1, ak: D2}) == ()
