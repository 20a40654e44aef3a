"""Chart and image agree: the pure split check render and lint share."""

from __future__ import annotations

import pytest

from akops.versions import VersionSplit, image_version, version_split

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize("tag", ["2026.2.2", f"2026.2.2@{DIGEST}"])
def test_same_version_is_no_split(tag: str) -> None:
    assert version_split("2026.2.2", tag) is None


@pytest.mark.parametrize(
    ("chart", "tag", "image"),
    [
        ("2026.2.2", "2026.2.1", "2026.2.1"),
        ("2026.2.2", f"2025.12.4@{DIGEST}", "2025.12.4"),
        ("2026.2.2", "2026.2.2-rc1", "2026.2.2-rc1"),
        ("2026.2.2", "latest", "latest"),
    ],
)
def test_another_version_is_a_split_naming_both(chart: str, tag: str, image: str) -> None:
    split = version_split(chart, tag)
    assert split == VersionSplit(chart, image)
    assert f"chart {chart} and image {image} differ" in split.message()
    assert "2026-06-10" in split.message()


def test_image_version_drops_only_the_digest() -> None:
    assert image_version(f"2026.2.2@{DIGEST}") == "2026.2.2"
    assert image_version("2026.2.2") == "2026.2.2"
