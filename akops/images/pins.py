"""The images an environment renders, where each is written, and what pinning changes.

Rule: pure. Every environment field named ``image`` (PgBouncer, any sidecar, the outpost
when patched) holds a full reference; the Authentik image is ``authentik.image_repository``
plus ``authentik.image_tag`` (the chart takes them apart). Values in, values out: the
registry and the environment file are someone else's business.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from pydantic import BaseModel

from akops.environment import Environment
from akops.images.reference import ImageRef, parse_image

FieldPath = tuple[str, ...]


@dataclass(frozen=True)
class StackImage:
    """One image of the stack: the environment field that holds it and what it names."""

    field: FieldPath
    value: str
    ref: ImageRef
    #: The field holds only ``TAG[@DIGEST]`` (Authentik's ``image_tag``), not a full reference.
    tag_only: bool = False

    @property
    def name(self) -> str:
        return ".".join(self.field)

    @property
    def pinned(self) -> bool:
        return self.ref.digest is not None

    def with_digest(self, digest: str) -> str:
        """The field's new value when pinned to ``digest``."""
        pinned = self.ref.pinned(digest)
        return f"{self.ref.tag}@{pinned.rpartition('@')[2]}" if self.tag_only else pinned

    def __str__(self) -> str:
        return self.ref.text


def _walk(model: BaseModel, path: FieldPath) -> Iterator[tuple[FieldPath, str]]:
    for name in type(model).model_fields:
        value = getattr(model, name)
        here = (*path, name)
        if name == "image" and isinstance(value, str):
            yield here, value
        elif isinstance(value, BaseModel):
            yield from _walk(value, here)
        elif isinstance(value, dict):
            for key, item in sorted(value.items()):
                if isinstance(item, BaseModel):
                    yield from _walk(item, (*here, str(key)))


def stack_images(env: Environment) -> tuple[StackImage, ...]:
    """Every image ``env`` renders, in the order of the environment's fields."""
    found = [StackImage(field, value, parse_image(value)) for field, value in _walk(env, ())]
    a = env.authentik
    found.append(
        StackImage(("authentik", "image_tag"), a.image_tag, parse_image(a.image), tag_only=True)
    )
    return tuple(found)


@dataclass(frozen=True)
class PinChange:
    """A field whose value pinning rewrites."""

    image: StackImage
    digest: str
    new_value: str

    def describe(self) -> str:
        return f"{self.image.name}: {self.image.value} -> {self.new_value}"


def pin_changes(
    images: tuple[StackImage, ...], digests: Mapping[StackImage, str]
) -> tuple[PinChange, ...]:
    """The rewrites that pin each image to the digest its tag resolved to (unchanged: none)."""
    changes = []
    for image in images:
        digest = digests[image]
        if image.ref.digest != digest:
            changes.append(PinChange(image, digest, image.with_digest(digest)))
    return tuple(changes)


@dataclass(frozen=True)
class MovedTag:
    """A pinned tag whose registry digest is no longer the pinned one."""

    image: StackImage
    registry_digest: str

    def describe(self) -> str:
        ref = self.image.ref
        return (
            f"{self.image.name}: {ref.unpinned} moved: pinned {ref.digest}, the registry now "
            f"serves {self.registry_digest}; review it, then `invoke images.pin` to take it"
        )


def moved_tags(
    images: tuple[StackImage, ...], digests: Mapping[StackImage, str]
) -> tuple[MovedTag, ...]:
    """Pinned images whose tag now resolves to another digest."""
    return tuple(MovedTag(i, digests[i]) for i in images if i.pinned and digests[i] != i.ref.digest)
