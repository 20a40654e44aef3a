"""Compiled templates are kept in the user's cache: the same bytes, a changed template is
compiled anew, and a cache that cannot be written is no cache, never an error."""

from __future__ import annotations

from pathlib import Path

import pytest

from akops.layout import Layout
from akops.render import render_env

pytestmark = pytest.mark.integration


def texts(layout: Layout) -> dict[str, str]:
    return {f.name: f.text for f in render_env(layout, "lab")[1].files}


def test_a_second_render_from_the_cache_is_the_same_and_an_edit_is_seen(
    repo: Layout, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AKOPS_CACHE_DIR", str(tmp_path / "cache"))
    first = texts(repo)
    cached = list((tmp_path / "cache" / "jinja").rglob("*.cache"))
    assert len(cached) == len(list(repo.templates.rglob("*.j2")))
    assert texts(repo) == first
    template = repo.templates / "pgbouncer" / "deployment.yaml.j2"
    template.write_text(
        template.read_text().replace("revisionHistoryLimit: 5", "revisionHistoryLimit: 6")
    )
    edited = texts(repo)
    assert "revisionHistoryLimit: 6" in edited["pgbouncer-deployment.yaml"]
    assert "revisionHistoryLimit: 5" in first["pgbouncer-deployment.yaml"]


def test_an_unwritable_cache_is_no_cache(
    repo: Layout, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A file where the cache folder would go: no folder can be made there (even as root).
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("")
    monkeypatch.setenv("AKOPS_CACHE_DIR", str(blocked))
    assert texts(repo)["pgbouncer-deployment.yaml"]
