"""`invoke plan` shows the Helm release's objects: the real chart, helm and API server.

The real helm templates and installs the real chart (from a chart repository on 127.0.0.1)
on the real control plane; the plan diffs the chart's objects against the live ones.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from akops.layout import Layout

from .conftest import ENV, clean_runs
from .plane import Plane

pytestmark = pytest.mark.integration


@pytest.fixture
def run(cli: Any, local: Layout, helm: Path, chart_repo: Any) -> Callable[..., Any]:
    """``invoke`` with the real helm on PATH and the chart from ``chart_repo`` (see ``helm``)."""
    return clean_runs(cli)


def edit_env(layout: Layout, change: Callable[[dict[str, Any]], None]) -> None:
    path = layout.environments / f"{ENV}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def ok(result: Any) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return str(result.stdout)


def test_release_objects_in_the_plan(
    run: Callable[..., Any], local: Layout, cluster: Plane, chart_repo: Any
) -> None:
    # Without the pulled chart the release is planned by its values, and the plan says so.
    first = ok(run("plan", "--env", ENV))
    assert "objects not planned: chart authentik 2026.2.2 is not pulled" in first

    ok(run("chart.pull", "--env", ENV))
    fresh = ok(run("plan", "--env", ENV))
    assert "+ Deployment/goauthentik-server will be created" in fresh
    ok(run("apply", "--env", ENV, "--yes"))
    assert cluster.converged("goauthentik-server") is not None

    unchanged = ok(run("plan", "--env", ENV))
    assert "Plan: 0 to add, 0 to change, 0 to destroy." in unchanged, unchanged

    # A values change: the values diff, then the objects it changes, in the same format.
    edit_env(local, lambda d: d["authentik"]["server"].update(web_workers=3))
    values = ok(run("plan", "--env", ENV))
    assert "Plan: 0 to add, 1 to change, 0 to destroy." in values, values
    assert f"~ helm release {cluster.namespace}/goauthentik (chart authentik 2026.2.2)" in values
    assert "  ~ Deployment/goauthentik-server will be updated in place" in values
    assert 'env[AUTHENTIK_WEB__WORKERS].value: "2" → "3"' in values, values
    assert "Deployment/goauthentik-worker" not in values
    edit_env(local, lambda d: d["authentik"]["server"].update(web_workers=2))

    # A chart bump that changes only the chart's defaults: no values change, object diffs.
    def slower_readiness(chart: Path) -> None:
        values = yaml.safe_load((chart / "values.yaml").read_text(encoding="utf-8"))
        values["server"]["readinessProbe"]["timeoutSeconds"] = 4
        (chart / "values.yaml").write_text(yaml.safe_dump(values), encoding="utf-8")

    chart_repo.add_version("2026.2.3", slower_readiness)
    edit_env(
        local,
        lambda d: (
            d["authentik"]["chart"].update(version="2026.2.3"),
            d["authentik"].update(image_tag="2026.2.3"),
        ),
    )
    ok(run("chart.pull", "--env", ENV))
    bump = ok(run("plan", "--env", ENV))
    assert "(chart authentik 2026.2.2 → 2026.2.3)" in bump, bump
    assert "readinessProbe.timeoutSeconds: 3 → 4" in bump, bump
    assert "  ~ Deployment/goauthentik-worker will be updated in place" in bump
