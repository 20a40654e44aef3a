"""Chart and image agree: the Authentik chart version against the Authentik image tag.

Rule: pure. One home for the 2026-06-10 check (a chart at one version, the image at
another rolled pods back into a boot storm): ``invoke render`` refuses a split unless the
environment states why (``authentik.version_split_reason``), and lint reuses the same
function for values files. The Authentik chart's ``appVersion`` equals its ``version``,
so the image tag must equal the chart version; a digest after the tag
(``2026.2.2@sha256:…``) does not change the version.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class VersionSplit:
    """The chart and the image name different Authentik versions."""

    chart_version: str
    image_version: str

    def message(self) -> str:
        return (
            f"chart {self.chart_version} and image {self.image_version} differ: a chart/image "
            "version split rolled pods back into the 2026-06-10 boot storm"
        )


def image_version(image_tag: str) -> str:
    """The version an image tag names: the tag without a ``@sha256:…`` digest."""
    return image_tag.partition("@")[0]


def version_split(chart_version: str, image_tag: str) -> VersionSplit | None:
    """The split between ``chart_version`` and the version ``image_tag`` names, or None."""
    version = image_version(image_tag)
    if version == chart_version:
        return None
    return VersionSplit(chart_version, version)
