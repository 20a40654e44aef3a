"""The pure helpers of the chart model: Helm's value merging and the chart's naming."""

from __future__ import annotations

from akops.environment import Chart, chart_fullname
from akops.lint.workloads import coalesce


def test_coalesce_merges_maps_key_by_key_and_null_deletes() -> None:
    default = {"a": 1, "probe": {"x": 1, "y": {"z": 2}}, "gone": {"k": 1}}
    given = {"probe": {"y": {"w": 3}}, "gone": None, "new": [1]}
    assert coalesce(default, given) == {
        "a": 1,
        "probe": {"x": 1, "y": {"z": 2, "w": 3}},
        "new": [1],
    }
    assert coalesce(default, {"probe": {}})["probe"] == default["probe"]  # {} keeps the default
    assert coalesce({"l": [1, 2]}, {"l": [3]}) == {"l": [3]}  # lists are replaced


def test_chart_fullname_follows_the_chart_helper() -> None:
    assert chart_fullname("goauthentik") == "goauthentik"
    assert chart_fullname("ak") == "ak-authentik"
    assert chart_fullname("ak", name_override="idp") == "ak-idp"
    assert chart_fullname("ak", fullname_override="sso") == "sso"
    assert chart_fullname("x" * 70) == "x" * 63
    assert Chart(version="2026.2.2", release="ak").server == "ak-authentik-server"
    assert Chart(version="2026.2.2").worker == "goauthentik-worker"
