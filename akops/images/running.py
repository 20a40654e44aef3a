"""What runs is what was pinned: containers' image IDs against the environment's pins.

Rule: pure. The input is what pods report (``status.containerStatuses``: the container's
name, its ``image`` and the ``imageID`` the runtime resolved) and the stack's images; the
output says, per container, whether it runs the pinned digest. A container is held to an
image by its name (``expected``: ``pgbouncer`` -> ``pgbouncer.image``, ``server`` and
``worker`` -> the Authentik image, the outpost's container when its image is patched), and
any other container by its repository (a sidecar whose ``image`` field names the same
repository). Containers that match neither are not the stack's to judge (injected sidecars).

An image pinned by digest is compared by digest (``imageID``); one pinned by tag only can
be held to its tag alone, and says so. A mismatch names the pod, the container, the running
and the pinned digests, and what changes such a thing: an image updater or a hand edit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from akops.images.pins import StackImage
from akops.images.reference import ImageRef, digest_of_image_id, parse_image

CAUSE = "an image updater (Keel, diun) or a hand edit changed it"

#: The environment field whose image each pod role's main container runs (the roles are
#: ``akops.verify.probes.roles``: server, worker, pgbouncer, outpost).
ROLE_IMAGES = {
    "server": "authentik.image_tag",
    "worker": "authentik.image_tag",
    "pgbouncer": "pgbouncer.image",
    "outpost": "authentik.outpost.image",
}


@dataclass(frozen=True)
class RunningContainer:
    """One container status of one pod."""

    pod: str
    container: str
    image: str
    image_id: str


@dataclass(frozen=True)
class ContainerVerdict:
    """One container held to the image the environment pins for it."""

    running: RunningContainer
    pinned: StackImage
    ok: bool
    by_digest: bool
    running_as: str  # the running digest, or the running tag when the pin has no digest

    def describe(self) -> str:
        r, p = self.running, self.pinned
        where = f"pod {r.pod} container {r.container}"
        if self.by_digest:
            want = p.ref.digest
            if self.ok:
                return f"{where} runs {want} as {p.name} pins"
            return (
                f"{where} runs {self.running_as} but {p.name} pins {want} "
                f"({p.ref.unpinned}): {CAUSE}"
            )
        want = p.ref.tag or p.ref.text
        if self.ok:
            return f"{where} runs tag {want} ({p.name} pins no digest: the tag alone compared)"
        return f"{where} runs {self.running_as} but {p.name} pins tag {want}: {CAUSE}"


def _ref(text: str) -> ImageRef | None:
    try:
        return parse_image(text)
    except ValueError:
        return None


def _judge(c: RunningContainer, pinned: StackImage) -> ContainerVerdict:
    if pinned.ref.digest is not None:
        running = digest_of_image_id(c.image_id)
        shown = running or f"an image ID without a registry digest ({c.image_id or 'none'})"
        return ContainerVerdict(c, pinned, running == pinned.ref.digest, True, shown)
    ref = _ref(c.image)
    same = ref is not None and (ref.repository, ref.tag) == (
        pinned.ref.repository,
        pinned.ref.tag,
    )
    return ContainerVerdict(c, pinned, same, False, c.image or "no image")


def compare_running(
    images: Iterable[StackImage],
    expected: Mapping[str, StackImage],
    containers: Iterable[RunningContainer],
) -> tuple[ContainerVerdict, ...]:
    """A verdict for every container that is the stack's: by name first, then by repository."""
    by_repo = {i.ref.repository: i for i in images}
    verdicts = []
    for c in containers:
        pinned = expected.get(c.container)
        if pinned is None:
            ref = _ref(c.image)
            pinned = by_repo.get(ref.repository) if ref is not None else None
        if pinned is not None:
            verdicts.append(_judge(c, pinned))
    return tuple(verdicts)


def expected_containers(
    images: Iterable[StackImage], names: Mapping[str, str]
) -> dict[str, StackImage]:
    """Container name -> the stack image it must run, from ``names`` (container -> field).

    ``names`` maps a container name to the dotted environment field of its image
    (``{"pgbouncer": "pgbouncer.image", "server": "authentik.image_tag"}``); fields the
    environment does not set (an unpatched outpost) are left out.
    """
    by_field = {i.name: i for i in images}
    return {c: by_field[f] for c, f in names.items() if f in by_field}


def role_expectations(
    images: Iterable[StackImage], containers: Mapping[str, str]
) -> dict[str, dict[str, StackImage]]:
    """Role -> {container name: the image it must run}, for the roles whose image is pinned.

    ``containers`` names each role's main container (``{"pgbouncer": "pgbouncer", ...}``);
    a role whose field the environment leaves unset (an unpatched outpost) is left out.
    """
    out = {}
    for role, field in ROLE_IMAGES.items():
        if role in containers:
            expected = expected_containers(images, {containers[role]: field})
            if expected:
                out[role] = expected
    return out


def running_containers(pods: Sequence[Mapping[str, Any]]) -> list[RunningContainer]:
    """Every container status of ``pods`` (the API's Pod dicts); a pod not started has none."""
    out = []
    for pod in pods:
        name = str((pod.get("metadata") or {}).get("name"))
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            out.append(
                RunningContainer(
                    name,
                    str(status.get("name", "")),
                    str(status.get("image") or ""),
                    str(status.get("imageID") or ""),
                )
            )
    return out
