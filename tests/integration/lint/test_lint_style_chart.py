"""yamllint on libyaml's tokens against the real chart: every YAML file of the Authentik chart
2026.2.2 (a large, commented values.yaml, templates' helpers) gives the same tokens and the
same problems as yamllint on PyYAML's tokens (the comparison itself lives in the unit test)."""

from __future__ import annotations

from pathlib import Path

import pytest

import tests.unit.lint.test_lint_style_tokens as tokens
from akops.layout import third_party_data
from tests.third_party import CHART, third_party

CHART_FILES = sorted(third_party_data(*CHART).rglob("*.yaml"))


@pytest.mark.parametrize(
    "path", CHART_FILES or [None], ids=[p.name for p in CHART_FILES] or ["no chart"]
)
def test_the_real_charts_yaml_gives_the_same_tokens_and_problems(
    path: Path | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if path is None:
        third_party(*CHART, "values.yaml", holds="the real Authentik chart 2026.2.2 (charts/)")
        pytest.fail("the chart folder holds no YAML file")
    tokens.assert_the_same(path.read_text(encoding="utf-8"), monkeypatch)
