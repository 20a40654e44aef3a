"""Which stack each file of a ``lint --path`` run belongs to: one stack per environment.

Rule: pure (file references, their first lines and the environment names in; groups out).
A tree such as ``manifests/`` holds several environments side by side; judged as one
stack, lab's PodDisruptionBudget meets prod's Deployment and the findings describe a stack
that exists nowhere. So each file is given to the environment that

1. its rendered header names (``# generated from … for environment prod by `invoke
   render```), else
2. the deepest folder of its path, from the folder given with ``--path`` down, whose name
   is an environment's (``manifests/prod/extra.yaml`` → ``prod``): a known environment
   (``environments/*.yaml``) or one a header in the same run names.

Every environment's files are linted as one stack. The files no environment claims (a
hand-written ini, a policy folder) join the environment when the run has only one, as
the operator who names them with it means; beside several environments they are one more
stack of their own. Hence ``--path manifests/`` reports exactly what
``--path manifests/prod`` and ``--path manifests/lab`` report together.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePath

from akops.lint.documents import FileRef
from akops.stack import environment_named_in


@dataclass(frozen=True)
class StackGroup:
    """The files judged together, and how they were told apart from the others."""

    environment: str | None  # None: the files no header or folder assigns
    refs: tuple[FileRef, ...]
    by: str  # "rendered header", "folder name", "header and folder", or "" (unassigned)

    @property
    def label(self) -> str:
        return f"environment {self.environment}" if self.environment else "files of no environment"


def folder_names(path: PurePath, given: Sequence[PurePath]) -> tuple[str, ...]:
    """The folder names of the file ``path`` from the deepest given folder holding it down.

    Both are resolved; ``given`` are the folders named with ``--path`` (the given folder's
    own name counts: ``--path manifests/prod``). A file given by itself counts its own
    folder. Folders above what the operator named (``/tmp``, a home directory) never count.
    """
    resolved = path.parent
    best: tuple[str, ...] | None = None
    for root in given:
        try:
            rel = resolved.relative_to(root)
        except ValueError:
            continue
        parts = (root.name, *rel.parts)
        if best is None or len(parts) < len(best):
            best = parts
    return best if best is not None else (resolved.name,)


def group(
    refs: Sequence[FileRef],
    heads: Mapping[str, str],
    folders: Mapping[str, tuple[str, ...]],
    known: Iterable[str] = (),
) -> list[StackGroup]:
    """``refs`` split into stacks, in the order the files came (environments sorted by name).

    ``heads`` maps a file's label to its first lines (files without one: no header);
    ``folders`` maps a label to ``folder_names``; ``known`` are environment names.
    """
    by_header = {ref.label: environment_named_in(heads.get(ref.label, "")) for ref in refs}
    names = set(known) | {env for env in by_header.values() if env}
    members: dict[str | None, list[FileRef]] = {}
    how: dict[str | None, set[str]] = {}
    for ref in refs:
        env = by_header[ref.label]
        why = "rendered header"
        if env is None:
            env = next((n for n in reversed(folders.get(ref.label, ())) if n in names), None)
            why = "folder name"
        members.setdefault(env, []).append(ref)
        how.setdefault(env, set()).add(why if env else "")
    envs = sorted(e for e in members if e is not None)
    if len(envs) == 1 and None in members:
        members[envs[0]].extend(members.pop(None))
        how[envs[0]] |= how.pop(None)
    order = envs + ([None] if None in members else [])
    out = []
    for env in order:
        ways = how[env] - {""}
        by = "header and folder" if len(ways) > 1 else next(iter(ways), "")
        out.append(StackGroup(env, tuple(members[env]), by))
    return out
