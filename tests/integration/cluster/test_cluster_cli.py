"""The invoke tasks as operators run them: real subprocesses against the real API server."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from akops.layout import Layout

from .conftest import CANARY, CONTEXT, ENV, PASSWORD_VAR, local_environment, write_kubeconfig
from .plane import MERGE, Plane

pytestmark = pytest.mark.integration


def dead_kubeconfig(path: Path) -> Path:
    """A kubeconfig whose context points at a port nothing listens on."""
    path.write_text(
        f"apiVersion: v1\nkind: Config\ncurrent-context: {CONTEXT}\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        f"contexts: [{{name: {CONTEXT}, context: {{cluster: c, user: u}}}}]\n",
        encoding="utf-8",
    )
    return path


def test_plan_apply_plan_exit_codes(run: Callable[..., Any], cluster: Plane) -> None:
    first = run("plan", "--env", ENV, "--skip-helm")
    assert first.returncode == 0, first.stderr  # planned: changes are not an error
    assert first.stdout.rstrip().endswith("Plan: 8 to add, 0 to change, 0 to destroy.")
    assert "+ Secret/pgbouncer-auth will be created" in first.stdout
    assert "data[userlist.txt]: (sensitive value) added" in first.stdout

    refused = run("apply", "--env", ENV, "--skip-helm", stdin="")
    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        "error: refusing to change the cluster without confirmation: stdin is not a terminal; pass --yes"
    )
    assert cluster.get("configmaps", "pgbouncer-config") is None

    dry = run("apply", "--env", ENV, "--skip-helm", "--yes", "--dry-run")
    assert dry.returncode == 0 and "--dry-run: nothing applied" in dry.stdout
    assert cluster.get("configmaps", "pgbouncer-config") is None

    applied = run("apply", "--env", ENV, "--skip-helm", "--yes")
    assert applied.returncode == 0, applied.stderr
    assert "applied Deployment/pgbouncer" in applied.stdout
    assert "Apply complete: 8 object(s)." in applied.stdout
    # The banner comes before the first change: where it goes, and from which commit.
    banner = (
        f"akops: environment {ENV} · context {CONTEXT} · namespace {cluster.namespace} · commit "
    )
    assert banner in applied.stdout
    assert applied.stdout.index(banner) < applied.stdout.index("applied Deployment/pgbouncer")

    second = run("plan", "--env", ENV, "--skip-helm")
    assert second.returncode == 0, second.stderr
    assert second.stdout.rstrip().endswith("Plan: 0 to add, 0 to change, 0 to destroy.")


def test_plan_detailed_exitcode_is_terraforms(run: Callable[..., Any], cluster: Plane) -> None:
    changes = run("plan", "--env", ENV, "--skip-helm", "--detailed-exitcode")
    assert changes.returncode == 2, changes.stderr
    assert changes.stdout.rstrip().endswith("Plan: 8 to add, 0 to change, 0 to destroy.")
    assert run("apply", "--env", ENV, "--skip-helm", "--yes").returncode == 0
    clean = run("plan", "--env", ENV, "--skip-helm", "--detailed-exitcode")
    assert clean.returncode == 0, clean.stderr
    # Any error is 1 in this mode, "could not run" included (an unknown context here).
    broken = run("plan", "--env", ENV, "--skip-helm", "--detailed-exitcode", "--context", "nope")
    assert broken.returncode == 1 and broken.stderr.startswith("error: kube context 'nope'")
    assert run("plan", "--env", ENV, "--skip-helm", "--context", "nope").returncode == 2


def test_conflict_exit_1_names_the_manager(run: Callable[..., Any], cluster: Plane) -> None:
    assert run("apply", "--env", ENV, "--skip-helm", "--yes").returncode == 0
    # What `kubectl scale --replicas 4` sends: a merge patch of the scale subresource.
    cluster.edit_as(
        "kubectl-scale",
        "deployments",
        "pgbouncer",
        {"spec": {"replicas": 4}},
        api_version="apps/v1",
        subresource="scale",
        content_type=MERGE,
    )
    result = run("apply", "--env", ENV, "--skip-helm", "--yes")
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(
        "error: Deployment/pgbouncer: fields owned by another field manager (kubectl-scale)"
    )
    assert ".spec.replicas" in line
    forced = run("apply", "--env", ENV, "--skip-helm", "--yes", "--force-conflicts")
    assert forced.returncode == 0, forced.stderr
    live = cluster.deployment()
    assert live is not None and live["spec"]["replicas"] == 2


def test_context_mismatch_is_one_line_exit_2(
    run: Callable[..., Any], cluster: Plane, tmp_path: Path, one_line_error: Callable[..., str]
) -> None:
    other = write_kubeconfig(tmp_path / "other", cluster, current="prod-admin")
    result = run("plan", "--env", ENV, "--skip-helm", env={"KUBECONFIG": str(other)})
    one_line_error(result, ["current kube context is 'prod-admin'", f"--context {CONTEXT}"])
    assert cluster.requests() == []
    explicit = run(
        "plan", "--env", ENV, "--skip-helm", "--context", CONTEXT, env={"KUBECONFIG": str(other)}
    )
    assert explicit.returncode == 0 and "Plan: 8 to add" in explicit.stdout


def test_unreachable_api_server_is_one_line_exit_2_within_the_timeout(
    run: Callable[..., Any], repo: Layout, tmp_path: Path, one_line_error: Callable[..., str]
) -> None:
    local_environment(repo, "authentik", kube__api_timeout=2)
    kubeconfig = dead_kubeconfig(tmp_path / "dead")
    result = run("plan", "--env", ENV, "--skip-helm", env={"KUBECONFIG": str(kubeconfig)})
    # The retries ran under the environment's 2 s API deadline (no wall-clock assertion:
    # timing targets live in benchmarks).
    one_line_error(
        result,
        ["cannot reach the Kubernetes API at https://127.0.0.1:1", "Connection refused", "in 2s)"],
    )


def test_missing_helm_is_one_line_exit_2(
    run: Callable[..., Any], cluster: Plane, no_helm: str, one_line_error: Callable[..., str]
) -> None:
    result = run("plan", "--env", ENV, env={"PATH": no_helm})
    one_line_error(
        result, ["helm is not on PATH nor in akops' cache", "install Helm", "--skip-helm"]
    )
    assert cluster.requests() == []


def test_deploy_dry_run_summary(run: Callable[..., Any], cluster: Plane, helm: Any) -> None:
    result = run("deploy", "--env", ENV, "--dry-run")
    assert "Plan: 9 to add, 0 to change, 0 to destroy." in result.stdout
    assert "summary:" in result.stdout
    for stage in ("confirm", "apply", "rollout", "verify"):
        assert any(line.split()[:2] == [stage, "skipped"] for line in result.stdout.splitlines()), (
            stage
        )
    assert cluster.get("configmaps", "pgbouncer-config") is None
    assert cluster.get("namespaces", cluster.namespace, namespace="") is None
    assert [r for r in cluster.requests() if r.method not in ("GET",)] == []


def test_a_dry_run_needs_no_secret_it_does_not_use(
    run: Callable[..., Any], cluster: Plane, helm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the database password, deploy --dry-run still renders, lints and plans every
    other object, and says which object it could not compare and why; a real deploy refuses."""
    monkeypatch.delenv(PASSWORD_VAR)
    dry = run("deploy", "--env", ENV, "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert (
        f"? Secret/pgbouncer-auth: secret 'postgres_password': environment variable "
        f"{PASSWORD_VAR} is not set (a dry run plans without it; a real run needs it)"
    ) in dry.stdout
    assert "Plan: 8 to add, 0 to change, 0 to destroy." in dry.stdout
    real = run("deploy", "--env", ENV, "--yes")
    assert real.returncode == 2 and PASSWORD_VAR in real.stdout + real.stderr
    assert cluster.get("configmaps", "pgbouncer-config") is None


def test_task_help_documents_every_flag(run: Callable[..., Any]) -> None:
    for name, flags in {
        "plan": [
            "--env",
            "--context",
            "--skip-helm",
            "--force-conflicts",
            "--verbose",
            "--detailed-exitcode",
        ],
        "apply": ["--yes", "--force-conflicts", "--prune", "--dry-run", "--context"],
        "deploy": ["--yes", "--force-conflicts", "--prune", "--dry-run", "--context"],
        "rollback": ["--yes", "--dry-run", "--context", "--skip-helm", "--force-config"],
        "rollout": ["--deployment", "--context"],
        "outpost-patch": ["--dry-run"],
    }.items():
        text = run(name, "--help").stdout
        for flag in flags:
            line = next((ln for ln in text.splitlines() if flag in ln), "")
            assert len(line.split(flag, 1)[1].strip()) > 10, (name, flag, line)


def test_an_api_error_echoing_the_secret_is_masked(run: Callable[..., Any], cluster: Plane) -> None:
    # Admission webhooks and validation errors may quote the object they refuse.
    cluster.fail(
        "PATCH",
        "/secrets/pgbouncer-auth$",
        422,
        real_only=True,
        message=f'Secret "pgbouncer-auth" is invalid: userlist.txt: "authentik" "{CANARY}" is rejected',
    )
    result = run("apply", "--env", ENV, "--skip-helm", "--yes")  # `run` asserts no canary
    assert result.returncode == 1  # the API refused the change: ran and failed
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(
        'error: Secret/pgbouncer-auth: the API answered 422: Secret "pgbouncer-auth" is invalid'
    )
    assert '"authentik" "***" is rejected' in line
    assert (
        f"applied: Namespace/{cluster.namespace}, ConfigMap/pgbouncer-config; not applied: "
        "Secret/pgbouncer-auth, ServiceAccount/goauthentik-server, Deployment/pgbouncer" in line
    )
    assert cluster.get("secrets", "pgbouncer-auth") is None


def test_rollback_over_a_changed_config_refuses_exit_1_until_forced(
    run: Callable[..., Any], local: Layout, cluster: Plane
) -> None:
    assert run("apply", "--env", ENV, "--skip-helm", "--yes").returncode == 0
    env_file = local.environments / f"{ENV}.yaml"
    data = yaml.safe_load(env_file.read_text())
    data["pgbouncer"]["settings"]["default_pool_size"] += 5
    env_file.write_text(yaml.safe_dump(data))
    # A new checksum/config: the controller keeps revision 1's ReplicaSet, scaled down.
    assert run("apply", "--env", ENV, "--skip-helm", "--yes").returncode == 0

    refused = run("rollback", "--env", ENV, "--skip-helm", "--yes")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    failed = [ln for ln in refused.stdout.splitlines() if ln.split()[:2] == ["plan", "failed"]]
    assert len(failed) == 1
    assert "pgbouncer.ini in ConfigMap/pgbouncer-config changed since revision 1" in failed[0]
    assert "revert the config change in git and run `invoke deploy`" in failed[0]
    assert "result: failed at plan (exit 1)" in refused.stdout

    # The flag reaches the check (a dry run: the real verify stage needs a real stack).
    forced = run("rollback", "--env", ENV, "--skip-helm", "--force-config", "--dry-run")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert "rolling back anyway (--force-config)" in forced.stdout


def test_verify_with_the_api_down_is_one_line_exit_2_within_the_timeout(
    run: Callable[..., Any], repo: Layout, tmp_path: Path, one_line_error: Callable[..., str]
) -> None:
    # A convergence check alone used to retry against a dead API until its 120 s deadline.
    local_environment(repo, "authentik", kube__api_timeout=2)
    kubeconfig = dead_kubeconfig(tmp_path / "dead")
    result = run(
        "verify", "--env", ENV, "--only", "rollout.converged", env={"KUBECONFIG": str(kubeconfig)}
    )
    # One line and exit 2 under the 2 s API deadline, not a check table after retries.
    one_line_error(result, ["cannot reach the Kubernetes API at https://127.0.0.1:1", "in 2s)"])


def test_rollout_needs_no_database_password(run: Callable[..., Any], cluster: Plane) -> None:
    assert run("apply", "--env", ENV, "--skip-helm", "--yes").returncode == 0
    watched = run("rollout", "--env", ENV, "--deployment", "pgbouncer", env={PASSWORD_VAR: ""})
    assert watched.returncode == 0, watched.stderr
    assert "converged" in watched.stdout
