"""Rewriting environment fields keeps every other byte, or refuses."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from akops.errors import InputError
from akops.images.envfile import plan_edit, write_edit

ROOT = Path(__file__).resolve().parents[3]
D1 = "sha256:" + "1" * 64


@pytest.fixture
def prod(tmp_path: Path) -> Path:
    return Path(shutil.copy(ROOT / "environments" / "prod.yaml", tmp_path / "prod.yaml"))


def test_only_the_named_fields_change(prod: Path) -> None:
    edit = plan_edit(prod, {("authentik", "image_tag"): f"2026.2.2@{D1}"})
    before, after = edit.before.splitlines(), edit.after.splitlines()
    assert [(a, b) for a, b in zip(before, after, strict=True) if a != b] == [
        ("  image_tag: 2026.2.2", f"  image_tag: 2026.2.2@{D1}")
    ]
    assert "+  image_tag: 2026.2.2@" in edit.diff()
    assert prod.read_text() == edit.before  # planning writes nothing
    write_edit(edit)
    assert prod.read_text() == edit.after


def test_no_change_is_byte_identical(prod: Path) -> None:
    assert not plan_edit(prod, {}).changed


def test_a_file_ruamel_would_reformat_is_refused(prod: Path) -> None:
    # Odd but valid YAML style: ruamel would normalise the flow mapping's spacing on dump.
    prod.write_text(
        prod.read_text().replace("  host: postgresql.dbaas\n", "  host:   postgresql.dbaas\n")
    )
    text = prod.read_text()
    with pytest.raises(InputError, match="would change other lines too"):
        plan_edit(prod, {("authentik", "image_tag"): f"2026.2.2@{D1}"})
    assert prod.read_text() == text


def test_an_unknown_field_is_refused(prod: Path) -> None:
    with pytest.raises(InputError, match=r"authentik\.nope: no such field"):
        plan_edit(prod, {("authentik", "nope"): "x"})
