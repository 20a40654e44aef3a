"""One lint gate: ``invoke deploy`` lints what ``invoke lint --env`` lints, runbooks included.

Before, the deploy's lint stage called the lint without the runbooks, so the alert↔runbook
rules (errors) never stopped a deploy, and it linted a render of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
import yaml

from akops.cluster.changes import prepare
from akops.errors import StepFailed
from akops.layout import Layout
from akops.ops.stages import lint_stack

from .conftest import ENV, local_environment
from .plane import Plane

pytestmark = pytest.mark.integration
STATS_VAR = "AKOPS_LOCAL_STATS_PASSWORD"


@pytest.fixture
def monitored(local: Layout, cluster: Plane, monkeypatch: pytest.MonkeyPatch) -> Layout:
    """The local environment with the lab's monitoring block: alert rules with runbook links."""
    lab = yaml.safe_load((local.environments / "lab.yaml").read_text())
    monkeypatch.setenv(STATS_VAR, "stats-canary-not-the-apps")
    local_environment(
        local,
        cluster.namespace,
        monitoring=lab["monitoring"],
        secrets__stats_password={"env": STATS_VAR},
    )
    return local


def stages(out: str) -> dict[str, str]:
    summary = out[out.rindex("\nsummary:") + 1 :].splitlines()[1:-1]
    return {ln.split()[0]: ln.split()[1] for ln in summary}


def test_deploy_stops_on_an_alert_without_its_runbook_as_lint_does(
    run: Callable[..., Any], monitored: Layout, cluster: Plane
) -> None:
    before = run("deploy", "--env", ENV, "--skip-helm", "--dry-run")
    assert stages(before.stdout)["lint"] == "ok", before.stdout + before.stderr

    (monitored.runbooks / "pgbouncer-down.yaml").unlink()  # the alerts still link to it
    linted = run("lint", "--env", ENV)
    assert linted.returncode == 1 and "alerts.runbook" in linted.stdout
    deployed = run("deploy", "--env", ENV, "--skip-helm", "--dry-run")
    assert deployed.returncode == 1
    assert (stages(deployed.stdout)["lint"], stages(deployed.stdout)["plan"]) == (
        "failed",
        "skipped",
    )
    assert "alerts.runbook" in deployed.stdout


def test_the_lint_stage_judges_the_render_it_is_given(monitored: Layout) -> None:
    target = prepare(monitored, ENV, with_secrets=False)
    clean: list[str] = []
    assert lint_stack(monitored, target, clean.append) == "no errors"
    # The same render, one alert's runbook link broken in it: that render is what is judged.
    files = [f for f in target.stack.files if "rules" in f.name]
    assert files, [f.name for f in target.stack.files]
    broken = [
        replace(f, text=f.text.replace("runbook_url", "runbook_uri", 1)) if f in files else f
        for f in target.stack.files
    ]
    target = replace(target, stack=replace(target.stack, files=tuple(broken)))
    seen: list[str] = []
    with pytest.raises(StepFailed, match="lint found errors"):
        lint_stack(monitored, target, seen.append)
    assert "alerts.runbook" in "\n".join(seen)
