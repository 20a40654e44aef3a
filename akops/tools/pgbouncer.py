"""Real PgBouncer binaries at the versions the project supports, found or built once per machine.

Rule: I/O (``--version``, ``autogen.sh``/``configure``/``make`` through ``akops.process``, files).
Lint's parameter tables follow the PgBouncer version of an environment's image, and the tests
check them against the real program at each supported version (``SUPPORTED``):

* ``1.24.1`` (production: ``edoburu/pgbouncer:v1.24.1-p1``) is built from its source tarball,
  found through ``akops.layout.third_party_data("pgbouncer", …)`` (``$AKOPS_TEST_DATA``) and
  checked against the pinned sha256 before anything in it runs. It needs Debian's
  ``autoconf automake libtool pkg-config libevent-dev libssl-dev`` (the noxfile installs them).
  The binary is cached at ``<cache>/tools/pgbouncer-1.24.1-<sha>/pgbouncer``; the build happens in
  a temporary folder beside it and is renamed into place, so a concurrent run sees no binary or a
  whole one, and a second run costs one ``pgbouncer --version``.
* ``1.18.0`` is Debian 12's package (``apt-get install pgbouncer``): ``/usr/sbin/pgbouncer``.

Elsewhere (no source tarball, no compiler, another distribution), point the project at binaries
you already have: ``AKOPS_PGBOUNCER=/opt/pgbouncer-1.24.1/bin/pgbouncer`` (several paths separated
by ``:``). Each is asked its version; a listed binary is preferred to building or to Debian's for
the version it reports, and one that reports none of the supported versions is an error.

    python -m akops.tools pgbouncer            # prod's version (1.24.1): build once, print path
    python -m akops.tools pgbouncer 1.18.0     # Debian's
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from akops import process
from akops.errors import ProcessTimeout, ToolMissingError
from akops.layout import TEST_DATA_VAR, third_party_data, user_cache

#: The setting naming PgBouncer binaries to use instead of building or Debian's.
BINARIES_VAR = "AKOPS_PGBOUNCER"
#: The Debian packages a build from source needs.
BUILD_PACKAGES = ("autoconf", "automake", "libtool", "pkg-config", "libevent-dev", "libssl-dev")
VERSION_TIMEOUT = 30.0
#: autogen + configure + make on a loaded two-core machine (about 10 s of compiling when idle).
BUILD_TIMEOUT = 900.0


@dataclass(frozen=True)
class Source:
    """A source tarball among the third-party test inputs, pinned by its sha256."""

    tarball: str  # file name under third_party_data("pgbouncer")
    sha256: str
    top: str  # the folder the tarball unpacks to


@dataclass(frozen=True)
class PgBouncerVersion:
    """A PgBouncer version the project supports, and where its binary comes from."""

    version: str
    source: Source | None = None  # built from it
    system: str | None = None  # else: the path a Debian package installs
    package: str = ""  # the Debian package that installs ``system``


PROD = PgBouncerVersion(
    "1.24.1",
    source=Source(
        tarball="pgbouncer-1.24.1-src.tar.gz",
        sha256="2bfbceb14413e9bc08954457898c3f18bff2c7557c8ae502ae5e45d8ec93366f",
        top="pgbouncer-1.24.1",
    ),
)
DEBIAN = PgBouncerVersion("1.18.0", system="/usr/sbin/pgbouncer", package="pgbouncer")
#: Every version lint has a parameter table for and the oracle tests run, oldest first.
SUPPORTED: tuple[PgBouncerVersion, ...] = (DEBIAN, PROD)

_VERSION_LINE = re.compile(r"^PgBouncer (\d+\.\d+\.\d+)\b", re.MULTILINE)


def supported(version: str) -> PgBouncerVersion:
    """The supported entry for ``version``; ToolMissingError naming the supported ones."""
    for entry in SUPPORTED:
        if entry.version == version:
            return entry
    known = ", ".join(v.version for v in SUPPORTED)
    raise ToolMissingError(f"PgBouncer {version} is not a supported version (supported: {known})")


def pgbouncer_version(binary: Path) -> str:
    """What ``pgbouncer --version`` says (``1.24.1``); ToolMissingError when it cannot say."""
    try:
        done = process.run([str(binary), "--version"], timeout=VERSION_TIMEOUT)
    except ProcessTimeout as e:
        raise ToolMissingError(f"{binary}: `--version` did not answer: {e}") from e
    found = _VERSION_LINE.search(done.stdout)
    if not done.ok or found is None:
        said = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ToolMissingError(f"{binary}: not a working PgBouncer (`--version`: {said[0]})")
    return found.group(1)


def listed_binaries() -> dict[str, Path]:
    """``$AKOPS_PGBOUNCER``'s binaries by the version each reports (the first one wins)."""
    found: dict[str, Path] = {}
    for part in os.environ.get(BINARIES_VAR, "").split(os.pathsep):
        if not part.strip():
            continue
        path = Path(part.strip()).expanduser()
        if not path.is_file():
            raise ToolMissingError(f"{BINARIES_VAR}: {path} is not a file")
        version = pgbouncer_version(path)
        if version not in {v.version for v in SUPPORTED}:
            known = ", ".join(v.version for v in SUPPORTED)
            raise ToolMissingError(
                f"{BINARIES_VAR}: {path} is PgBouncer {version}, not a supported version ({known})"
            )
        found.setdefault(version, path)
    return found


def ensure_pgbouncer(
    version: str = PROD.version,
    *,
    cache: Path | None = None,
    on_line: Callable[[str], None] | None = None,
) -> Path:
    """A PgBouncer binary reporting ``version``: listed, Debian's, or built and cached."""
    entry = supported(version)
    listed = listed_binaries()
    if version in listed:
        return listed[version]
    if entry.source is not None:
        return _ensure_built(entry, entry.source, cache, on_line)
    assert entry.system is not None
    system = Path(entry.system)
    if not system.is_file():
        raise ToolMissingError(
            f"PgBouncer {version}: {system} not found: apt-get install {entry.package} "
            f"(or name a binary in {BINARIES_VAR})"
        )
    found = pgbouncer_version(system)
    if found != version:
        raise ToolMissingError(
            f"{system} is PgBouncer {found}, not {version}: name a {version} binary in "
            f"{BINARIES_VAR}"
        )
    return system


def cached_path(entry: PgBouncerVersion, cache: Path | None = None) -> Path:
    """Where the build of ``entry`` is (or would be) cached."""
    assert entry.source is not None
    key = f"pgbouncer-{entry.version}-{entry.source.sha256[:12]}"
    return (cache or user_cache("tools")) / key / "pgbouncer"


def _ensure_built(
    entry: PgBouncerVersion,
    source: Source,
    cache: Path | None,
    on_line: Callable[[str], None] | None,
) -> Path:
    target = cached_path(entry, cache)
    if target.is_file() and pgbouncer_version(target) == entry.version:
        return target
    tarball = _checked_tarball(entry, source)
    missing = [
        tool for tool in ("autoreconf", "libtoolize", "make", "cc") if not shutil.which(tool)
    ]
    if missing:
        raise ToolMissingError(
            f"building PgBouncer {entry.version} needs {', '.join(missing)}: apt-get install "
            f"{' '.join(BUILD_PACKAGES)} (or name a {entry.version} binary in {BINARIES_VAR})"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".pgbouncer-build-", dir=target.parent) as tmp:
        work = Path(tmp)
        with tarfile.open(tarball, "r:gz") as tar:
            tar.extractall(work, filter="data")
        tree = work / source.top
        # No c-ares (libevent's resolver serves) and no PAM: prod's auth_type is md5/scram.
        for argv in (
            ["./autogen.sh"],
            ["./configure", "--without-cares", "--with-pam=no"],
            ["make", f"-j{os.cpu_count() or 1}", "pgbouncer"],
        ):
            _step(argv, tree, entry, on_line)
        built = tree / "pgbouncer"
        found = pgbouncer_version(built)
        if found != entry.version:
            raise ToolMissingError(f"the build of {source.tarball} reports {found}")
        staged = work / "pgbouncer.staged"
        shutil.copy2(built, staged)
        staged.chmod(0o755)
        os.replace(staged, target)  # atomic: a concurrent run sees no binary or a whole one
    return target


def _checked_tarball(entry: PgBouncerVersion, source: Source) -> Path:
    tarball = third_party_data("pgbouncer", source.tarball)
    if not tarball.is_file():
        raise ToolMissingError(
            f"PgBouncer {entry.version}: {tarball} not found; set {TEST_DATA_VAR} to the folder "
            f"holding pgbouncer/{source.tarball} (or name a {entry.version} binary in "
            f"{BINARIES_VAR})"
        )
    digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
    if digest != source.sha256:
        raise ToolMissingError(
            f"{tarball}: sha256 {digest} is not the pinned {source.sha256}; refusing to build it"
        )
    return tarball


def _step(
    argv: list[str], cwd: Path, entry: PgBouncerVersion, on_line: Callable[[str], None] | None
) -> None:
    try:
        done = process.run(argv, timeout=BUILD_TIMEOUT, cwd=cwd, on_line=on_line)
    except ProcessTimeout as e:
        raise ToolMissingError(f"building PgBouncer {entry.version}: {e}") from e
    if not done.ok:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ToolMissingError(
            f"building PgBouncer {entry.version}: `{' '.join(argv)}` failed: {tail[0]} "
            f"(apt-get install {' '.join(BUILD_PACKAGES)})"
        )
