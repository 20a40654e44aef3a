"""The pinned Authentik chart on this machine: pulled into the user's cache, templated.

Rule: I/O (helm subprocesses, one HTTP GET of the repository index, files). ``pull``
runs ``helm pull`` of the environment's pinned chart version into a temporary
directory, checks the archive against the digest the chart repository's index
publishes for that version (and against ``authentik.chart.digest`` when the
environment pins one), checks it is a readable chart of that name and version, and
only then moves it into ``<cache>/charts/`` with a record of its digest. ``cached``
gives the archive back only while it still matches that record. ``template`` runs
``helm template`` on it with rendered values, for lint and for the release plan.

A corrupted download, a digest that does not match, or an archive that is not the
chart are ``InputError`` (one line, exit 2); nothing is cached then.
"""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
import tempfile
import urllib.parse
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from akops import network, process, yamldoc
from akops.environment import Chart
from akops.errors import ClusterError, InputError, NetworkError, ProcessTimeout
from akops.layout import user_cache

PULL_TIMEOUT = 120.0
TEMPLATE_TIMEOUT = 60.0


@dataclass(frozen=True)
class PulledChart:
    """A chart archive in the cache and the digest it was recorded with."""

    name: str
    version: str
    repo: str
    digest: str  # "sha256:<hex>" of the archive
    archive: Path

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}"


def cache_dir(chart: Chart, cache: Path | None = None) -> Path:
    """Where this chart's archives live: one directory per chart repository."""
    repo_key = hashlib.sha256(chart.repo.rstrip("/").encode()).hexdigest()[:12]
    return (cache or user_cache("charts")) / f"{chart.name}-{repo_key}"


def _paths(chart: Chart, cache: Path | None) -> tuple[Path, Path]:
    where = cache_dir(chart, cache)
    return where / f"{chart.name}-{chart.version}.tgz", where / f"{chart.name}-{chart.version}.json"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return f"sha256:{h.hexdigest()}"


def cached(chart: Chart, cache: Path | None = None) -> PulledChart | None:
    """The cached archive of the pinned version, if its record exists and still matches it."""
    archive, record = _paths(chart, cache)
    try:
        data = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not archive.is_file() or not isinstance(data, dict) or data.get("repo") != chart.repo:
        return None
    if sha256_of(archive) != data.get("digest"):
        return None
    if chart.digest and chart.digest != data.get("digest"):
        return None
    return PulledChart(chart.name, chart.version, chart.repo, str(data["digest"]), archive)


def _run(argv: list[str], what: str, timeout: float) -> str:
    try:
        done = process.run(argv, timeout=timeout)
    except ProcessTimeout as e:
        raise ClusterError(f"{what}: no answer within {timeout:g}s (helm was stopped)") from e
    if not done.ok:
        lines = [ln.strip() for ln in (done.stderr or done.stdout).splitlines() if ln.strip()]
        raise InputError(f"{what} failed: {lines[-1] if lines else done.returncode}")
    return done.stdout


#: The largest repository index read (goauthentik's, every version since 2021, is ~1 MB).
MAX_INDEX = 32 * 1024 * 1024


class IndexEntry(BaseModel):
    """One chart version of a repository's index.yaml (the fields pull reads)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    version: str
    digest: str = Field(default="", pattern=r"^(sha256:)?([0-9a-f]{64})?$")

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: object) -> object:
        # YAML reads an unquoted 2026.2 as a number; the index means the text.
        return (
            str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value
        )


class Index(BaseModel):
    """A chart repository's index.yaml: entries by chart name."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    entries: dict[str, list[IndexEntry]] = Field(default_factory=dict)


def index_digest(chart: Chart, timeout: float) -> str:
    """The digest the repository's index.yaml publishes for the pinned version."""
    url = urllib.parse.urljoin(chart.repo.rstrip("/") + "/", "index.yaml")
    try:
        answer = network.request(url, timeouts=network.Timeouts.within(timeout), max_body=MAX_INDEX)
    except NetworkError as e:
        raise ClusterError(f"{url}: cannot read the chart repository's index: {e.reason}") from e
    if answer.status != 200:
        raise ClusterError(f"{url}: cannot read the chart repository's index: HTTP {answer.status}")
    try:
        doc = yamldoc.parse_one(answer.body.decode("utf-8"), url)
    except UnicodeDecodeError as e:
        raise InputError(f"{url}: the chart repository's index is not UTF-8 text") from e
    except InputError as e:
        raise InputError(f"the chart repository's index: {e}") from e
    if not isinstance(doc.data, dict):
        raise InputError(f"{url}:{doc.start_line}: the chart repository's index is not a mapping")
    index = yamldoc.validated(Index, doc.data, doc, InputError)
    for entry in index.entries.get(chart.name, []):
        if entry.version == chart.version:
            if not entry.digest:
                raise InputError(f"{url}: {chart.name} {chart.version} has no digest in the index")
            digest = entry.digest
            return digest if digest.startswith("sha256:") else f"sha256:{digest}"
    raise InputError(f"{url}: no {chart.name} {chart.version} in the chart repository's index")


def _check_archive(archive: Path, chart: Chart) -> None:
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            member = tar.extractfile(f"{chart.name}/Chart.yaml")
            meta = yaml.safe_load(member.read()) if member else None
    except (tarfile.TarError, KeyError, OSError, EOFError, yaml.YAMLError) as e:
        raise InputError(f"{archive.name}: not a readable chart archive ({e})") from e
    if not isinstance(meta, dict) or str(meta.get("version")) != chart.version:
        raise InputError(f"{archive.name}: is not {chart.name} {chart.version}")


def pull(
    chart: Chart, helm: str, cache: Path | None = None, timeout: float = PULL_TIMEOUT
) -> PulledChart:
    """``helm pull`` the pinned version, check its digest, cache it with a record.

    ``timeout`` bounds each network step: the index GET (``akops.network``'s policy) and
    the ``helm pull`` child, killed with its process group when it runs out."""
    archive, record = _paths(chart, cache)
    archive.parent.mkdir(parents=True, exist_ok=True)
    expected = index_digest(chart, timeout)
    with tempfile.TemporaryDirectory(prefix="akops-pull-", dir=archive.parent) as tmp:
        argv = [helm, "pull", chart.name, "--repo", chart.repo, "--version", chart.version]
        _run([*argv, "--destination", tmp], f"helm pull {chart.name} {chart.version}", timeout)
        found = sorted(Path(tmp).glob("*.tgz"))
        if len(found) != 1:
            raise InputError(f"helm pull {chart.name} {chart.version}: no chart archive came back")
        digest = sha256_of(found[0])
        if digest != expected:
            raise InputError(
                f"{chart.name} {chart.version} from {chart.repo}: the download's digest {digest} "
                f"is not the {expected} the repository's index publishes (corrupted download?)"
            )
        if chart.digest and digest != chart.digest:
            raise InputError(
                f"{chart.name} {chart.version} from {chart.repo}: digest {digest} is not the "
                f"authentik.chart.digest {chart.digest} the environment pins"
            )
        _check_archive(found[0], chart)
        os.replace(found[0], archive)
    pulled = PulledChart(chart.name, chart.version, chart.repo, digest, archive)
    body = {k: str(v) for k, v in asdict(pulled).items()}
    staged = record.with_suffix(".json.tmp")
    staged.write_text(json.dumps(body, indent=1) + "\n", encoding="utf-8")
    os.replace(staged, record)
    return pulled


def template(
    helm: str,
    chart: Path,
    *,
    release: str,
    namespace: str,
    values_text: str,
    kube_version: str | None = None,
    timeout: float = TEMPLATE_TIMEOUT,
) -> str:
    """``helm template`` of ``chart`` (archive or directory) with these values: the YAML stream."""
    with tempfile.TemporaryDirectory(prefix="akops-template-") as tmp:
        path = os.path.join(tmp, "values.yaml")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(values_text)
        argv = [helm, "template", release, str(chart), "--namespace", namespace, "--values", path]
        if kube_version:
            argv += ["--kube-version", kube_version]
        return _run(argv, f"helm template {release}", timeout)


def helm_on_path() -> str | None:
    """The helm to run: on PATH, else akops' cached one (``akops.tools.helm.find_helm``), or None."""
    from akops.tools.helm import find_helm

    return find_helm()
