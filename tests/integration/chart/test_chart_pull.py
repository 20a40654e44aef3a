"""`invoke chart.pull` against a chart repository on 127.0.0.1, and `invoke lint` on what it pulled.

The repository is real: the real chart packaged with ``helm package``, indexed with
``helm repo index`` and served by a static HTTP server; the real helm pulls from it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from akops.layout import Layout


@pytest.fixture
def pull_env(
    repo: Layout, chart_repo: Any, real_helm: Path, tmp_path: Path
) -> Callable[..., dict[str, str]]:
    """Point prod's chart at the local repository; the environment variables for the CLI."""

    def setup(**chart: Any) -> dict[str, str]:
        path = repo.environments / "prod.yaml"
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        data["authentik"]["chart"].update(repo=chart_repo.url, **chart)
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        helm_home = tmp_path / "helm-home"
        return {
            "PATH": f"{real_helm.parent}{os.pathsep}{os.environ['PATH']}",
            "AKOPS_CACHE_DIR": str(tmp_path / "cache"),
            "HELM_CACHE_HOME": str(helm_home / "cache"),
            "HELM_CONFIG_HOME": str(helm_home / "config"),
            "HELM_DATA_HOME": str(helm_home / "data"),
        }

    return setup


def cached_archives(env: dict[str, str]) -> list[Path]:
    return sorted(Path(env["AKOPS_CACHE_DIR"]).rglob("*.tgz"))


def test_pull_caches_the_pinned_version_with_its_digest(
    cli: Callable[..., Any], pull_env: Callable[..., dict[str, str]], chart_repo: Any
) -> None:
    env = pull_env()
    dry = cli("chart.pull", "--env", "prod", "--dry-run", env=env)
    assert dry.returncode == 0, dry.stderr
    assert "not cached" in dry.stdout and not cached_archives(env)

    result = cli("chart.pull", "--env", "prod", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert chart_repo.digest in result.stdout
    (archive,) = cached_archives(env)
    assert archive.read_bytes() == chart_repo.archive.read_bytes()
    record = yaml.safe_load(archive.with_suffix(".json").read_text())
    assert record["digest"] == chart_repo.digest and record["version"] == "2026.2.2"

    again = cli("chart.pull", "--env", "prod", "--dry-run", env=env)
    assert f"cached at {archive}" in again.stdout

    # The environment may pin the digest (a lock): the same archive passes.
    env = pull_env(digest=chart_repo.digest)
    assert cli("chart.pull", "--env", "prod", env=env).returncode == 0


def test_a_corrupted_download_is_one_line_exit_2(
    cli: Callable[..., Any],
    pull_env: Callable[..., dict[str, str]],
    chart_repo: Any,
    one_line_error: Callable[..., str],
) -> None:
    env = pull_env()
    data = bytearray(chart_repo.archive.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte in the middle of the archive
    chart_repo.archive.write_bytes(bytes(data))
    result = cli("chart.pull", "--env", "prod", env=env)
    one_line_error(result, ["authentik 2026.2.2", "digest", "corrupted download"])
    assert not cached_archives(env)


def test_a_wrong_pinned_digest_is_one_line_exit_2(
    cli: Callable[..., Any],
    pull_env: Callable[..., dict[str, str]],
    one_line_error: Callable[..., str],
) -> None:
    env = pull_env(digest="sha256:" + "0" * 64)
    result = cli("chart.pull", "--env", "prod", env=env)
    one_line_error(result, ["authentik.chart.digest", "sha256:" + "0" * 64])
    assert not cached_archives(env)


def test_a_version_the_repository_lacks_is_one_line_exit_2(
    cli: Callable[..., Any],
    pull_env: Callable[..., dict[str, str]],
    one_line_error: Callable[..., str],
) -> None:
    env = pull_env(version="2026.9.9")
    result = cli("chart.pull", "--env", "prod", env=env)
    one_line_error(result, ["no authentik 2026.9.9"])


def test_lint_judges_the_real_chart_once_pulled_and_the_model_before(
    cli: Callable[..., Any], pull_env: Callable[..., dict[str, str]], repo: Layout
) -> None:
    env = pull_env()
    before = cli("lint", "--env", "prod", env=env)
    assert before.returncode == 0, before.stdout + before.stderr
    assert before.stderr.strip().splitlines() == [
        "lint: chart authentik 2026.2.2 is not pulled: the chart's Deployments are judged on "
        "akops' model of the chart (`invoke chart.pull --env prod` for the real one)"
    ]
    without_helm = cli(
        "lint", "--env", "prod", env={**env, "PATH": os.path.dirname(shutil.which("python") or "")}
    )
    assert "helm is not on PATH" in without_helm.stderr

    assert cli("chart.pull", "--env", "prod", env=env).returncode == 0
    after = cli("lint", "--env", "prod", env=env)
    assert after.returncode == 0, after.stdout + after.stderr
    assert "judged on the real chart (authentik 2026.2.2, sha256:" in after.stderr

    # A finding now comes from what the chart really renders, and still points at the
    # key to edit: here the chart's real liveness probe, cut to 3 x 10 s.
    values = repo.environments / "prod.yaml"
    data = yaml.safe_load(values.read_text(encoding="utf-8"))
    data["authentik"]["server"]["liveness_failures"] = 3
    values.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    cut = cli("lint", "--env", "prod", env=env)
    assert cut.returncode == 1, cut.stdout + cut.stderr
    assert "probes.liveness-budget" in cut.stdout
    assert "manifests/prod/authentik-values.yaml" in cut.stdout


def test_every_task_finds_the_cached_helm_without_path(
    cli: Callable[..., Any],
    pull_env: Callable[..., dict[str, str]],
    real_helm: Path,
    one_line_error: Callable[..., str],
) -> None:
    """helm cached by `python -m akops.tools helm` (as nox does) serves chart.pull and lint with
    no helm on PATH; with neither, chart.pull says what to do and names no flag it lacks."""
    env = pull_env()
    env["PATH"] = os.path.dirname(shutil.which("python") or "")
    missing = cli("chart.pull", "--env", "prod", env=env)
    message = one_line_error(
        missing, ["helm is not on PATH nor in akops' cache", "akops.tools helm"]
    )
    assert "--skip-helm" not in message

    from akops.tools.helm import HELM

    cached = Path(env["AKOPS_CACHE_DIR"]) / "tools" / f"helm-{HELM.version}" / "helm"
    cached.parent.mkdir(parents=True)
    shutil.copy2(real_helm, cached)
    assert cli("chart.pull", "--env", "prod", env=env).returncode == 0
    lint = cli("lint", "--env", "prod", env=env)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert "judged on the real chart (authentik 2026.2.2" in lint.stderr
