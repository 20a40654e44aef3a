"""``invoke images.pin`` and ``invoke images.check``: tags to digests, and tags that moved.

Rule: orchestration. Loads the environment, lists its images (``pins``), asks the
registries (``resolve``), and for a pin rewrites the environment file (``envfile``) and
loads it again, putting the old text back if it no longer validates.
"""

from __future__ import annotations

from dataclasses import dataclass

from akops.environment import known_environments, load_environment
from akops.errors import AkopsError, InputError
from akops.images.envfile import Edit, plan_edit, write_edit
from akops.images.pins import MovedTag, PinChange, StackImage, moved_tags, pin_changes, stack_images
from akops.images.resolve import resolve_all
from akops.layout import Layout

DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True)
class PinReport:
    env: str
    images: tuple[StackImage, ...]
    digests: dict[StackImage, str]
    changes: tuple[PinChange, ...]
    edit: Edit
    dry_run: bool

    def to_text(self) -> str:
        lines = [f"images {self.env}:"]
        changed = {c.image for c in self.changes}
        for image in self.images:
            digest = self.digests[image]
            if image not in changed:
                state = "pinned, unchanged"
            elif image.pinned:
                state = f"MOVED from {image.ref.digest}"
            else:
                state = "newly pinned"
            lines.append(f"  {image.name}: {image.ref.unpinned} -> {digest} ({state})")
        out = "\n".join(lines) + "\n"
        if self.edit.changed:
            out += self.edit.diff()
        where = self.edit.path.name
        if not self.changes:
            out += f"environments/{where}: every image already pinned to its tag's digest\n"
        elif self.dry_run:
            out += (
                f"environments/{where}: would pin {len(self.changes)} image(s); nothing written\n"
            )
        else:
            out += (
                f"environments/{where}: pinned {len(self.changes)} image(s); next: "
                f"`invoke render --env {self.env}`, review, commit both\n"
            )
        return out


def pin_env(layout: Layout, env_name: str, *, dry_run: bool, timeout: float) -> PinReport:
    """Resolve every image's tag and pin the environment file to the digests."""
    env = load_environment(env_name, layout.environments)
    images = stack_images(env)
    digests = resolve_all({i: i.ref for i in images}, timeout=timeout)
    changes = pin_changes(images, digests)
    path = layout.environments / f"{env_name}.yaml"
    edit = plan_edit(path, {c.image.field: c.new_value for c in changes})
    if not dry_run and edit.changed:
        write_edit(edit)
        try:
            load_environment(env_name, layout.environments)
        except AkopsError as e:
            write_edit(Edit(path, edit.after, edit.before))
            raise InputError(f"the pinned file did not validate, left unchanged: {e}") from e
    return PinReport(env_name, images, digests, changes, edit, dry_run)


@dataclass(frozen=True)
class CheckReport:
    envs: tuple[str, ...]
    images: tuple[tuple[str, StackImage], ...]
    digests: dict[StackImage, str]
    moved: tuple[tuple[str, MovedTag], ...]

    @property
    def exit_code(self) -> int:
        return 1 if self.moved else 0

    def to_text(self) -> str:
        lines = []
        moved = {m.image for _, m in self.moved}
        for env, image in self.images:
            if image in moved:
                continue
            if image.pinned:
                lines.append(
                    f"ok        {env} {image.name}: {image.ref.unpinned} @ {image.ref.digest}"
                )
            else:
                lines.append(
                    f"unpinned  {env} {image.name}: {image.ref.text} is at "
                    f"{self.digests[image]} today; `invoke images.pin --env {env}` pins it"
                )
        lines += [f"MOVED     {env} {m.describe()}" for env, m in self.moved]
        pinned = sum(1 for _, i in self.images if i.pinned)
        lines.append(
            f"images: {len(self.moved)} moved, {pinned - len(self.moved)} pinned and unmoved, "
            f"{len(self.images) - pinned} not pinned ({', '.join(self.envs)})"
        )
        return "\n".join(lines) + "\n"


def check_envs(layout: Layout, env_names: tuple[str, ...], *, timeout: float) -> CheckReport:
    """Resolve the tag of every image of each environment; report pinned tags that moved."""
    names = env_names or tuple(known_environments(layout.environments))
    found = [(n, i) for n in names for i in stack_images(load_environment(n, layout.environments))]
    digests = resolve_all({i: i.ref for _, i in found}, timeout=timeout)
    moved = [(n, m) for n, i in found for m in moved_tags((i,), digests)]
    return CheckReport(names, tuple(found), digests, tuple(moved))
