"""Go programs built once per machine from a pinned module set, cached under the user's cache.

Rule: I/O (``go build`` through ``akops.process``, files). Several tools the tests and operators
need are published only as Go modules (a Kubernetes control plane, kwok, the PgBouncer exporter,
kubeconform, a NetworkPolicy analyser). Each lives in a module set of this repository,
``tools/go/<set>/`` with a committed ``go.mod`` and ``go.sum``: the versions are pinned there and
every download is checked against ``go.sum`` by the Go toolchain (``-mod=readonly``: a build that
would change either file fails instead).

A binary is cached at ``<cache>/tools/go/<set>-<key>/<name>``, where ``key`` hashes the set's
``go.mod``, ``go.sum``, the package path and the Go version. Changing a pin builds anew; a second
run costs one ``stat``. Builds are written to a temporary name and renamed into place, so a
concurrent run sees either no binary or a whole one.

    python -m akops.tools go kubeconform   # build (or find) and print its path

``ensure_go_programs`` builds several at once: the missing programs of one module set with
the same link flags go to a single ``go build`` (one package load, each shared package
compiled once, the links run in parallel), which is how the control plane's three
Kubernetes binaries are built; each still lands under its own cache key.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from akops import process
from akops.errors import ProcessTimeout, ToolMissingError
from akops.layout import user_cache
from akops.tools.programs import GoProgram

#: A first build of a large module (the Kubernetes control plane) on two cores, downloads included.
BUILD_TIMEOUT = 3600.0
VERSION_TIMEOUT = 30.0


def go_version(env: Mapping[str, str] | None = None) -> str:
    """``go env GOVERSION`` (``go1.26.8``); ToolMissingError when there is no Go."""
    try:
        done = process.run(["go", "env", "GOVERSION"], timeout=VERSION_TIMEOUT, env=env)
    except ProcessTimeout as e:
        raise ToolMissingError(f"`go env GOVERSION` did not answer: {e}") from e
    if not done.ok:
        raise ToolMissingError(f"`go env GOVERSION` failed: {done.stderr.strip()[-200:]}")
    return done.stdout.strip()


def cache_key(program: GoProgram, go: str) -> str:
    """What the cached binary depends on: the pins, the package, the flags and the toolchain."""
    h = hashlib.sha256()
    for name in ("go.mod", "go.sum"):
        path = program.module_dir / name
        try:
            h.update(path.read_bytes())
        except FileNotFoundError as e:
            raise ToolMissingError(
                f"{path}: missing; the module set {program.module_set!r} pins {program.name}"
            ) from e
    for part in (program.package, program.ldflags, go):
        h.update(b"\0" + part.encode())
    return h.hexdigest()[:16]


def cached_path(program: GoProgram, cache: Path | None = None, go: str | None = None) -> Path:
    """Where ``program`` is (or would be) cached for this toolchain."""
    key = cache_key(program, go or go_version())
    return (cache or user_cache("tools")) / "go" / f"{program.module_set}-{key}" / program.name


def _build_env() -> dict[str, str]:
    env = dict(os.environ)
    # Readonly: go.sum is the pin; a build that would need a new checksum fails loudly.
    env["GOFLAGS"] = " ".join(f for f in (env.get("GOFLAGS", ""), "-mod=readonly") if f)
    env.setdefault("CGO_ENABLED", "0")
    return env


def _go_build(
    output: str,
    ldflags: str,
    packages: Sequence[str],
    module_dir: Path,
    timeout: float,
    on_line: Callable[[str], None] | None,
) -> None:
    """``go build -o output`` of ``packages`` in ``module_dir``; ToolMissingError if it fails."""
    # No -trimpath: with it the build cache keys a module's packages by the version the set
    # *requires*, so the tool sets that pin the control plane's libraries with `replace`
    # (scripts/align_go_sets.py) could not reuse its compiled packages; without it the key is
    # the module's directory, the same for both. The binaries then name module-cache paths.
    argv = ["go", "build", "-o", output]
    if ldflags:
        argv += ["-ldflags", ldflags]
    argv += packages
    what = " ".join(packages)
    try:
        done = process.run(argv, timeout=timeout, cwd=module_dir, env=_build_env(), on_line=on_line)
    except ProcessTimeout as e:
        raise ToolMissingError(f"go build {what}: {e}") from e
    if not done.ok:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ToolMissingError(f"go build {what} (in {module_dir}) failed: {tail[0]}")


def build_groups(programs: Sequence[GoProgram]) -> list[tuple[GoProgram, ...]]:
    """``programs`` in the groups one ``go build`` can make together: same module set, same
    link flags, and a binary named as its package's last element (what ``go build -o DIR/``
    names it). Order kept; a program that fits no group is a group of its own."""
    groups: dict[tuple[str, str], list[GoProgram]] = {}
    alone: list[tuple[GoProgram, ...]] = []
    order: list[tuple[str, str] | int] = []
    for p in programs:
        if p.package.rsplit("/", 1)[-1] != p.name:
            order.append(len(alone))
            alone.append((p,))
            continue
        key = (p.module_set, p.ldflags)
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(p)
    return [alone[k] if isinstance(k, int) else tuple(groups[k]) for k in order]


def ensure_go_programs(
    programs: Sequence[GoProgram],
    *,
    cache: Path | None = None,
    timeout: float = BUILD_TIMEOUT,
    on_line: Callable[[str], None] | None = None,
) -> dict[str, Path]:
    """The cached binaries of ``programs`` (name -> path), the missing ones built together
    where one ``go build`` can (``build_groups``); ToolMissingError if one cannot be built."""
    if shutil.which("go") is None:
        missing = ", ".join(p.name for p in programs)
        raise ToolMissingError(
            f"{missing}: there is no `go` on PATH to build them from their module sets in "
            "tools/go (install Go 1.24 or newer)"
        )
    go = go_version()
    found: dict[str, Path] = {}
    todo: list[GoProgram] = []
    for p in programs:
        target = cached_path(p, cache, go)
        if target.is_file() and os.access(target, os.X_OK):
            found[p.name] = target
        else:
            todo.append(p)
    for group in build_groups(todo):
        if len(group) == 1:
            found[group[0].name] = ensure_go_program(
                group[0], cache=cache, timeout=timeout, on_line=on_line
            )
            continue
        found.update(_build_together(group, cache, go, timeout, on_line))
    return {p.name: found[p.name] for p in programs}


def _build_together(
    group: Sequence[GoProgram],
    cache: Path | None,
    go: str,
    timeout: float,
    on_line: Callable[[str], None] | None,
) -> dict[str, Path]:
    first = group[0]
    targets = {p.name: cached_path(p, cache, go) for p in group}
    for target in targets.values():
        target.parent.mkdir(parents=True, exist_ok=True)
    staging = targets[first.name].parent.parent
    with tempfile.TemporaryDirectory(prefix=f".{first.module_set}-", dir=staging) as tmp:
        packages = [p.package for p in group]
        _go_build(tmp + os.sep, first.ldflags, packages, first.module_dir, timeout, on_line)
        for name, target in targets.items():
            built = Path(tmp) / name
            if not built.is_file():
                what = " ".join(packages)
                raise ToolMissingError(f"go build {what}: no {name} among its outputs")
            os.replace(built, target)
    return targets


def ensure_go_program(
    program: GoProgram,
    *,
    cache: Path | None = None,
    timeout: float = BUILD_TIMEOUT,
    on_line: Callable[[str], None] | None = None,
) -> Path:
    """The cached binary of ``program``, built on first use; ToolMissingError if it cannot be built."""
    if shutil.which("go") is None:
        raise ToolMissingError(
            f"{program.name}: there is no `go` on PATH to build it from the module set "
            f"tools/go/{program.module_set} (install Go 1.24 or newer)"
        )
    target = cached_path(program, cache)
    if target.is_file() and os.access(target, os.X_OK):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{program.name}-", dir=target.parent) as tmp:
        staged = Path(tmp) / program.name
        _go_build(
            str(staged), program.ldflags, [program.package], program.module_dir, timeout, on_line
        )
        os.replace(staged, target)
    return target
