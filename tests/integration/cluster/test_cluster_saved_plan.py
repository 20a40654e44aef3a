"""`invoke plan --out FILE` and `invoke apply --plan FILE` against real ``resourceVersion``s."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from akops.layout import Layout

from .conftest import CANARY, ENV
from .plane import MERGE, Plane

pytestmark = pytest.mark.integration


def saved(run: Callable[..., Any], path: Path, *extra: str) -> dict[str, Any]:
    result = run("plan", "--env", ENV, "--out", str(path), *extra)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"apply exactly this plan with `invoke apply --plan {path}`" in result.stdout
    text = path.read_bytes()
    assert CANARY.encode() not in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    doc: dict[str, Any] = json.loads(text)
    return doc


def test_plan_out_then_apply_the_file_applies_exactly_it(
    run: Callable[..., Any], cluster: Plane, tmp_path: Path
) -> None:
    path = tmp_path / "p.json"
    doc = saved(run, path, "--skip-helm")
    assert doc["basis"]["environment"] == ENV and doc["plan"]["release"] is None
    assert {o["action"] for o in doc["plan"]["objects"]} == {"add"}
    as_json = run("plan", "--env", ENV, "--skip-helm", "--format", "json")
    printed = json.loads(as_json.stdout)
    # The same structure (each plan gets its own salt, so only the secret hashes differ).
    assert printed.keys() == doc.keys() and printed["plan"]["summary"] == doc["plan"]["summary"]
    assert [(o["ref"], o["action"]) for o in printed["plan"]["objects"]] == [
        (o["ref"], o["action"]) for o in doc["plan"]["objects"]
    ]

    # No --env: the plan names its environment.
    applied = run("apply", "--plan", str(path), "--yes")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert cluster.get("configmaps", "pgbouncer-config") is not None

    # Applied once, the same file describes a world that is gone.
    again = run("apply", "--plan", str(path), "--yes")
    assert again.returncode == 1
    assert (
        "ConfigMap/pgbouncer-config moved since the plan (absent → resourceVersion" in again.stderr
    )


def test_a_live_change_after_the_plan_refuses_the_file(
    run: Callable[..., Any], cluster: Plane, tmp_path: Path
) -> None:
    assert run("apply", "--env", ENV, "--skip-helm", "--yes").returncode == 0
    path = tmp_path / "p.json"
    saved(run, path, "--skip-helm")
    # Someone scales it by hand after the review (what `kubectl scale` sends).
    cluster.edit_as(
        "kubectl-scale", "deployments", "pgbouncer", {"spec": {"replicas": 5}},
        api_version="apps/v1", subresource="scale", content_type=MERGE,
    )  # fmt: skip
    refused = run("apply", "--plan", str(path), "--yes")
    assert refused.returncode == 1
    (line,) = [ln for ln in refused.stderr.splitlines() if ln.strip()]
    assert "the saved plan no longer applies" in line
    assert "Deployment/pgbouncer moved since the plan (resourceVersion" in line
    live = cluster.deployment()
    assert live is not None and live["spec"]["replicas"] == 5


def test_a_hand_edited_or_outdated_file_refuses(
    run: Callable[..., Any], local: Layout, tmp_path: Path
) -> None:
    path = tmp_path / "p.json"
    doc = saved(run, path, "--skip-helm")
    doc["plan"]["objects"][0]["action"] = "none"
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(doc))
    refused = run("apply", "--plan", str(edited), "--yes")
    assert refused.returncode == 1
    assert "the plan file was changed after it was written" in refused.stderr

    env_file = local.environments / f"{ENV}.yaml"
    data = yaml.safe_load(env_file.read_text(encoding="utf-8"))
    data["pgbouncer"]["replicas"] = 3
    env_file.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    outdated = run("apply", "--plan", str(path), "--yes")
    assert outdated.returncode == 1
    assert "the rendered stack changed since the plan" in outdated.stderr


def test_the_release_is_part_of_the_saved_plan(
    run: Callable[..., Any], cluster: Plane, helm: Path, tmp_path: Path
) -> None:
    path = tmp_path / "p.json"
    doc = saved(run, path)
    assert doc["plan"]["release"]["action"] == "add"
    assert doc["basis"]["release_revision"] is None
    assert run("apply", "--plan", str(path), "--yes").returncode == 0
    # The real helm installed the release: its Secret (helm's storage) is on the API server.
    stored = cluster.items("secrets", "owner=helm,name=goauthentik")
    assert [s["metadata"]["labels"]["version"] for s in stored] == ["1"]
    # The release moved (revision 1 now): a plan made before refuses.
    stale = run("apply", "--plan", str(path), "--yes")
    assert (
        stale.returncode == 1
        and "the Helm release moved since the plan (revision None → 1)" in stale.stderr
    )


def test_what_is_not_a_plan_is_one_line_exit_2(
    run: Callable[..., Any], tmp_path: Path, one_line_error: Callable[..., str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    one_line_error(run("apply", "--plan", str(bad), "--yes"), [str(bad), "not a saved plan"])
    one_line_error(
        run("apply", "--plan", str(tmp_path / "missing.json"), "--yes"), ["--plan", "no such file"]
    )
