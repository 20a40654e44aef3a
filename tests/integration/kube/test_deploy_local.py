"""``invoke deploy`` end to end on the real control plane, for lab and prod.

render → lint → plan → apply (our objects and the real Helm release of the real chart, served
from a chart repository on 127.0.0.1) → rollout until the pods are Ready → verify, where the
checks that read the API pass and those that need a container are skipped, each saying why
→ a second plan with ``--detailed-exitcode`` finds nothing to change (0). Each environment
deploys into a namespace of its own on the session's plane; the database password is a canary
that must not appear in any output.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from akops import launch
from akops.environment import load_environment
from akops.layout import Layout
from tests.conftest import Cli
from tests.integration.controlplane import (
    PASSWORD_VAR,
    STATS_VAR,
    new_namespace_name,
    plane_environment,
    require_workloads,
)

pytestmark = pytest.mark.integration

CANARY = "canary-plane-9fT2xQ-never-print-me"
STATS_CANARY = "canary-stats-Qm3vW7-never-print-me"
#: The API-side checks of verify (they read objects, no container needed).
API_CHECKS = ("pdb.budget", "rollout.converged", "rollout.pods", "spread.replicas", "images.pinned")
#: Checks that need a container of the stack: an exec, or an answer over HTTP.
CONTAINER_CHECKS = (
    "http.ready",
    "http.live",
    "http.config",
    "http.flow",
    "http.outpost-ping",
    "http.forward-auth",
    "pgbouncer.reachable",
    "pgbouncer.listening",
    "shm.usage",
)
WHY = "the stack's pods run on kwok's fake nodes"


def rows(output: str) -> dict[str, set[str]]:
    """check ID -> the statuses of its rows in verify's table (the outpost's Deployment, which
    only a running Authentik creates, apart)."""
    found: dict[str, set[str]] = {}
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip("│ ").split("│")]
        if len(cells) >= 3 and re.fullmatch(r"[a-z]+\.[a-z-]+", cells[0]):
            if cells[1].startswith("Deployment/ak-outpost"):
                continue
            found.setdefault(cells[0], set()).add(cells[2])
    return found


@pytest.mark.parametrize("base", ["lab", "prod"])
def test_deploy_to_the_local_plane_ends_verified_and_a_second_plan_is_clean(
    base: str,
    repo: Layout,
    cli: Cli,
    control_plane: Any,
    plane_kubeconfig: Path,
    chart_repo: Any,
    real_helm: Path,
) -> None:
    require_workloads(control_plane)
    env_name = plane_environment(
        repo,
        f"plane-{base}",
        base=base,
        namespace=new_namespace_name(base),
        # Prometheus's namespace of this test's own: lab and prod both write the ConfigMap
        # authentik-alerts there, and side by side on one plane (pytest -n) one's second plan
        # would show the other's apply as a change.
        monitoring__namespace=new_namespace_name(f"{base}-mon"),
        authentik__chart__repo=chart_repo.url,
        # Where the scratch copy is no git tree: a protected environment would refuse it.
        protected=False,
        # prod sends the outpost's patches to Authentik's API, which needs a running Authentik.
        authentik__outpost__api={"enabled": False},
    )
    env = load_environment(env_name, repo.environments)
    # What the cluster has before the stack: Prometheus's namespace, the database's.
    launch.make_namespaces(
        control_plane, [*env.other_namespaces, *filter(None, [env.upstream.namespace])]
    )
    run_env = {
        PASSWORD_VAR: CANARY,
        STATS_VAR: STATS_CANARY,
        "PATH": f"{real_helm.parent}{os.pathsep}{os.environ['PATH']}",
        "AKOPS_CACHE_DIR": str(repo.root / ".akops-cache"),
    }

    deploy = cli(
        "deploy", "--env", env_name, "--context", launch.CONTEXT, "--yes",
        env=run_env, timeout=900,
    )  # fmt: skip
    out = deploy.stdout + deploy.stderr
    assert CANARY not in out
    assert STATS_CANARY not in out
    assert "Traceback" not in out
    assert deploy.returncode == 0, out[-3000:]
    assert "VERIFY RESULT: PASS" in out
    statuses = rows(out)
    for check in API_CHECKS:
        assert statuses.get(check) == {"PASS"}, (check, statuses.get(check))
    # The outpost's Deployment is made by a running Authentik: skipped, saying so.
    assert statuses.get("rollout.outpost") is None
    assert re.search(r"rollout\.converged\s+│ Deployment/ak-outpost\S*\s+│ SKIP", out)
    assert "Authentik creates it once it runs" in out
    for check in CONTAINER_CHECKS:
        assert statuses.get(check) == {"SKIP"}, (check, statuses.get(check))
    skipped = [line for line in out.splitlines() if "│ SKIP" in line]
    assert skipped and all("│" in line.split("SKIP", 1)[1] for line in skipped)
    assert out.count(WHY) >= len(CONTAINER_CHECKS)

    again = cli(
        "plan", "--env", env_name, "--context", launch.CONTEXT, "--detailed-exitcode",
        env=run_env, timeout=300,
    )  # fmt: skip
    assert CANARY not in again.stdout + again.stderr
    assert STATS_CANARY not in again.stdout + again.stderr
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr
    assert "Plan: 0 to add, 0 to change, 0 to destroy." in again.stdout
