"""Helm release, outpost patches, the deploy pipeline and rollback, on the real control plane.

The real helm v4 (``akops.tools.helm``, the official static build) installs, upgrades and rolls
back the real Authentik chart 2026.2.2 (``third_party_data("charts", ...)``, served from a
chart repository on 127.0.0.1) as ``akops.cluster.helm`` runs it, through the test's
kubeconfig: every request it sends crosses the fault proxy, so "nothing was sent" covers helm
too. The release's Deployments and PgBouncer's are rolled out by the real controllers on
kwok's nodes, so rollbacks go back to real ReplicaSets; what helm recorded is read back with
helm itself.
"""

from __future__ import annotations

import io
import json
import subprocess
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console

from akops import launch
from akops.errors import ClusterError, InputError, StepFailed, ToolMissingError
from akops.layout import Layout
from akops.ops import operations as deploy
from akops.ops.stages import DeployHooks
from akops.render import render_env
from akops.requests import ApplyRequest, DeployRequest, PlanRequest, RollbackRequest

from .conftest import CANARY, ENV, local_environment, pgbouncer_template
from .plane import Plane

pytestmark = pytest.mark.integration
RELEASE = "goauthentik"
TOKEN = "authentik-token-canary-9f2c"
TOKEN_VAR = "AKOPS_LOCAL_AUTHENTIK_TOKEN"


def quiet(_: str) -> None:
    pass


def helm_json(helm: Path, kubeconfig: Path, namespace: str, *args: str) -> Any:
    """What the real helm itself says about the release (JSON), through the same kubeconfig."""
    done = subprocess.run(
        [str(helm), *args, "--namespace", namespace, "--kube-context", launch.CONTEXT,
         "--kubeconfig", str(kubeconfig), "-o", "json"],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return json.loads(done.stdout or "null")


@pytest.fixture
def released(helm: Path, kubeconfig: Path, cluster: Plane) -> Callable[..., Any]:
    """``released("history")`` / ``released("get", "values")``: helm's view of the release."""

    def ask(*args: str) -> Any:
        return helm_json(helm, kubeconfig, cluster.namespace, *args, RELEASE)

    return ask


def test_the_release_is_installed_then_a_values_change_upgrades_it(
    local: Layout, cluster: Plane, released: Callable[..., Any]
) -> None:
    first = deploy.plan_env(local, PlanRequest(env=ENV))
    assert first.release is not None and first.release.action == "add"
    assert first.summary() == "Plan: 9 to add, 0 to change, 0 to destroy."
    assert (
        f"+ helm release {cluster.namespace}/{RELEASE} (chart authentik 2026.2.2) will be created"
        in first.to_text()
    )

    deploy.apply_env(local, ApplyRequest(env=ENV, yes=True), out=quiet)
    (installed,) = released("history")
    assert (installed["revision"], installed["status"], installed["chart"]) == (
        1, "deployed", "authentik-2026.2.2",
    )  # fmt: skip
    _, stack = render_env(local, ENV)
    assert released("get", "values") == yaml.safe_load(stack.by_name()["authentik-values.yaml"])
    # The chart's objects are on the API server, and the real controllers rolled them out.
    for name in (f"{RELEASE}-server", f"{RELEASE}-worker"):
        assert cluster.converged(name) is not None, name
    assert not plan_has_changes(local)

    env_file = local.environments / f"{ENV}.yaml"
    data = yaml.safe_load(env_file.read_text())
    data["authentik"]["server"]["replicas"] = 3
    env_file.write_text(yaml.safe_dump(data))
    drift = deploy.plan_env(local, PlanRequest(env=ENV))
    assert drift.release is not None and drift.release.action == "change"
    assert "    ~ server.replicas: 2 → 3" in drift.to_text()
    deploy.apply_env(local, ApplyRequest(env=ENV, yes=True), out=quiet)
    assert [h["revision"] for h in released("history")] == [1, 2]
    server = cluster.converged(f"{RELEASE}-server")
    assert server is not None and server["spec"]["replicas"] == 3
    assert not plan_has_changes(local)


def plan_has_changes(layout: Layout) -> bool:
    return deploy.plan_env(layout, PlanRequest(env=ENV)).has_changes


def test_deploy_runs_every_stage_with_the_release_and_a_second_deploy_changes_nothing(
    local: Layout, cluster: Plane, helm: Path
) -> None:
    seen: list[str] = []

    def verify(layout: Layout, env: str, context: str | None, out: Any) -> str:
        seen.append(f"verify {env}")
        return "all checks passed"

    hooks = DeployHooks(lint=lambda *a: "no errors", verify=verify)
    lines: list[str] = []
    summary = deploy.deploy_env(
        local, DeployRequest(env=ENV, yes=True), out=lines.append, hooks=hooks, console=None
    )
    assert [(r.name, r.status) for r in summary.results] == [
        ("render", "ok"),
        ("lint", "ok"),
        ("plan", "ok"),
        ("confirm", "ok"),
        ("apply", "ok"),
        ("rollout", "ok"),
        ("verify", "ok"),
    ], summary.to_text()
    assert summary.results[2].detail == "Plan: 9 to add, 0 to change, 0 to destroy."
    # The release changed: Authentik's server and worker are watched with PgBouncer.
    assert summary.results[5].detail == (
        "pgbouncer 2/2, goauthentik-server 2/2, goauthentik-worker 2/2"
    )
    watched = cluster.requests("GET", "/deployments/goauthentik-(server|worker)$")
    assert {r.path.rsplit("/", 1)[1] for r in watched} == {
        "goauthentik-server",
        "goauthentik-worker",
    }
    assert seen == [f"verify {ENV}"]

    second = deploy.deploy_env(
        local, DeployRequest(env=ENV, yes=True), out=lines.append, hooks=hooks
    )
    assert second.results[2].detail == "Plan: 0 to add, 0 to change, 0 to destroy."
    assert [(r.name, r.status) for r in second.results][3:] == [
        ("confirm", "skipped"),
        ("apply", "skipped"),
        ("rollout", "skipped"),
        ("verify", "ok"),
    ]
    assert CANARY not in "\n".join(lines) + summary.to_text() + second.to_text()


def test_rollback_restores_the_previous_replicaset_and_release(
    local: Layout, cluster: Plane, released: Callable[..., Any]
) -> None:
    deploy.apply_env(local, ApplyRequest(env=ENV, yes=True), out=quiet)
    first = cluster.converged()
    assert first is not None
    image = first["spec"]["template"]["spec"]["containers"][0]["image"]
    env_file = local.environments / f"{ENV}.yaml"
    text = env_file.read_text().replace("web_workers: 2", "web_workers: 3")
    data = yaml.safe_load(text)
    data["pgbouncer"]["image"] = "edoburu/pgbouncer:v1.23.1-p3"  # a new PgBouncer goes out
    env_file.write_text(yaml.safe_dump(data))
    deploy.apply_env(local, ApplyRequest(env=ENV, yes=True), out=quiet)  # release revision 2
    assert [h["revision"] for h in released("history")] == [1, 2]
    server_before = cluster.converged(f"{RELEASE}-server")
    assert server_before is not None

    lines: list[str] = []
    summary = deploy.rollback_env(
        local,
        RollbackRequest(env=ENV, yes=True),
        out=lines.append,
        hooks=DeployHooks(verify=lambda *a: "ok"),
    )
    assert summary.exit_code == 0, summary.to_text()
    said = "\n".join(lines)
    assert "~ Deployment/pgbouncer: pod template back to revision 1" in said
    assert (
        f"~ helm release {RELEASE}: revision 2 (authentik-2026.2.2) → 1 (authentik-2026.2.2)"
        in said
    )
    assert [(r.name, r.status) for r in summary.results] == [
        ("plan", "ok"),
        ("confirm", "ok"),
        ("rollback", "ok"),
        ("rollout", "ok"),
        ("verify", "ok"),
    ]
    assert summary.results[3].detail == (
        "pgbouncer 2/2, goauthentik-server 2/2, goauthentik-worker 2/2"
    )
    # The real controller went back to the first ReplicaSet (a new revision number for it).
    rolled = cluster.converged()
    assert rolled is not None
    assert rolled["spec"]["template"]["spec"]["containers"][0]["image"] == image
    assert "pod-template-hash" not in rolled["spec"]["template"]["metadata"]["labels"]
    # helm recorded the rollback as revision 3; the server went back to revision 1's values.
    history = released("history")
    assert [h["revision"] for h in history] == [1, 2, 3]
    assert history[-1]["description"] == "Rollback to 1"
    server = cluster.converged(f"{RELEASE}-server")
    assert server is not None
    assert server["metadata"]["generation"] == server_before["metadata"]["generation"] + 1
    assert CANARY not in said + summary.to_text()


def test_deploy_runs_the_real_lint_stage(local: Layout, cluster: Plane) -> None:
    lines: list[str] = []
    summary = deploy.deploy_env(
        local,
        DeployRequest(env=ENV, yes=True, skip_helm=True),
        out=lines.append,
        hooks=DeployHooks(verify=lambda *a: "ok"),
    )
    assert summary.exit_code == 0, summary.to_text()
    lint = summary.results[1]
    assert (lint.name, lint.status, lint.detail) == ("lint", "ok", "no errors")
    said = "\n".join(lines)
    # The report of akops.lint on the stack rendered for `local` (its waivers included).
    # local is the lab: not protected, so its images without a digest are warnings (image.digest).
    assert "lint: ok: 0 error(s), 3 warning(s), 11 waived (10 file(s), 10 document(s))" in said
    assert f"manifests/{ENV}/pgbouncer-deployment.yaml" in said


def test_deploy_stops_at_a_real_lint_error_before_any_request(
    repo: Layout, kubeconfig: Path, canary: str, cluster: Plane, helm: Path
) -> None:
    local_environment(repo, cluster.namespace, pgbouncer__image="edoburu/pgbouncer:latest")
    lines: list[str] = []
    summary = deploy.deploy_env(
        repo,
        DeployRequest(env=ENV, yes=True),
        out=lines.append,
        hooks=DeployHooks(verify=lambda *a: "ok"),
    )
    assert [(r.name, r.status) for r in summary.results][:3] == [
        ("render", "ok"),
        ("lint", "failed"),
        ("plan", "skipped"),
    ]
    assert summary.exit_code == 1
    assert summary.results[1].detail == (
        "lint found errors; fix them or waive them in the environment file"
    )
    assert "uses the tag latest" in "\n".join(lines)
    assert cluster.requests() == []  # neither akops nor helm sent anything


def test_deploy_stops_at_lint_errors_with_its_exit_code(
    local: Layout, cluster: Plane, helm: Path
) -> None:
    def failing_lint(layout: Layout, target: Any, out: Any) -> str:
        raise StepFailed("lint found errors")

    summary = deploy.deploy_env(
        local, DeployRequest(env=ENV, yes=True), out=quiet, hooks=DeployHooks(lint=failing_lint)
    )
    assert [(r.name, r.status) for r in summary.results][:3] == [
        ("render", "ok"),
        ("lint", "failed"),
        ("plan", "skipped"),
    ]
    assert summary.exit_code == 1
    assert cluster.requests() == []


def test_deploy_without_yes_on_a_pipe_refuses_before_changing_anything(
    local: Layout, cluster: Plane, helm: Path
) -> None:
    hooks = DeployHooks(lint=lambda *a: "ok", verify=lambda *a: "ok")
    summary = deploy.deploy_env(
        local, DeployRequest(env=ENV), out=quiet, hooks=hooks, interactive=False
    )
    failed = summary.failed
    assert failed is not None and failed.name == "confirm" and failed.exit_code == 2
    assert "pass --yes" in failed.detail
    # A first deploy: the namespace is missing, so the plan sent no dry run either; nothing
    # was written.
    assert all(r.params.get("dryRun") == "All" for r in cluster.requests("PATCH"))
    assert cluster.get("namespaces", cluster.namespace, namespace="") is None


def unschedulable_server(layout: Layout) -> None:
    """Authentik's server pods ask for a node that does not exist: they stay Pending."""
    values = layout.templates / "authentik" / "values.yaml.j2"
    text = values.read_text(encoding="utf-8")
    marker = "server:\n  replicas: {{ a.server.replicas }}\n"
    assert marker in text
    values.write_text(
        text.replace(marker, marker + '  nodeSelector: {akops-test/nowhere: "true"}\n'),
        encoding="utf-8",
    )


def test_a_release_that_cannot_roll_out_fails_the_deploy_and_the_release_stays(
    local: Layout, cluster: Plane, released: Callable[..., Any]
) -> None:
    """No --atomic, no automatic rollback: the new chart's migration may already have run."""
    unschedulable_server(local)
    env_file = local.environments / f"{ENV}.yaml"
    data = yaml.safe_load(env_file.read_text())
    data["kube"]["rollout_timeout"] = 30
    env_file.write_text(yaml.safe_dump(data))
    buf = io.StringIO()
    console = Console(file=buf, width=200, force_terminal=False)
    hooks = DeployHooks(lint=lambda *a: "ok", verify=lambda *a: "ok")
    summary = deploy.deploy_env(
        local, DeployRequest(env=ENV, yes=True), out=quiet, hooks=hooks, console=console
    )
    failed = summary.failed
    assert failed is not None and failed.name == "rollout" and summary.exit_code == 1
    assert failed.detail.startswith(
        "rollout did not converge within 30s: goauthentik-server (2/2 updated, 0 ready, "
    ), failed.detail
    assert failed.detail.endswith(
        "; helm release goauthentik stays at its new revision (no automatic rollback: its "
        "database migration may have run); see `invoke runbook.show db-boot-storm`"
    ), failed.detail
    # The real scheduler said why, and akops showed it.
    assert "FailedScheduling" in buf.getvalue()
    assert CANARY not in buf.getvalue() + summary.to_text()
    (only,) = released("history")
    assert (only["revision"], only["status"]) == (1, "deployed")


def test_missing_helm_is_one_clear_error_before_any_request(
    local: Layout, cluster: Plane, no_helm: str
) -> None:
    with pytest.raises(ToolMissingError) as missing:
        deploy.plan_env(local, PlanRequest(env=ENV))
    assert str(missing.value) == (
        "helm is not on PATH nor in akops' cache: `python -m akops.tools helm` caches the "
        "official build, or install Helm (https://helm.sh/docs/intro/install/); or pass "
        "--skip-helm to leave the Helm release alone"
    )
    assert missing.value.exit_code == 2
    assert cluster.requests() == []


def two_pgbouncer_revisions(layout: Layout, cluster: Plane, **changes: Any) -> dict[str, Any]:
    """Apply, then apply again with ``changes`` to the environment's ``pgbouncer`` block: the
    real controller keeps revision 1's ReplicaSet. Returns revision 1's pod template."""
    deploy.apply_env(layout, ApplyRequest(env=ENV, yes=True, skip_helm=True), out=quiet)
    first = pgbouncer_template(cluster)
    env_file = layout.environments / f"{ENV}.yaml"
    data = yaml.safe_load(env_file.read_text())
    for key, value in changes.items():
        if key == "settings":
            data["pgbouncer"]["settings"].update(value)
        else:
            data["pgbouncer"][key] = value
    env_file.write_text(yaml.safe_dump(data))
    deploy.apply_env(layout, ApplyRequest(env=ENV, yes=True, skip_helm=True), out=quiet)
    return first


def test_rollback_refuses_when_pgbouncer_ini_changed_since_that_revision(
    local: Layout, cluster: Plane
) -> None:
    first = two_pgbouncer_revisions(local, cluster, settings={"default_pool_size": 15})
    before = pgbouncer_template(cluster)
    assert before["metadata"]["annotations"] != first["metadata"]["annotations"]
    changes = len([r for r in cluster.requests("PATCH") if "dryRun" not in r.params])

    lines: list[str] = []
    hooks = DeployHooks(verify=lambda *a: "ok")
    summary = deploy.rollback_env(
        local, RollbackRequest(env=ENV, yes=True, skip_helm=True), out=lines.append, hooks=hooks
    )
    failed = summary.failed
    assert failed is not None and failed.name == "plan" and summary.exit_code == 1
    old, new = (
        first["metadata"]["annotations"]["checksum/config"][:12],
        before["metadata"]["annotations"]["checksum/config"][:12],
    )
    assert failed.detail == (
        "refusing to roll back Deployment/pgbouncer: pgbouncer.ini in "
        f"ConfigMap/pgbouncer-config changed since revision 1 (checksum/config {old}, live {new}), "
        "and the restored pods would run the current config; revert the config change in git "
        "and run `invoke deploy`, or pass --force-config to roll back anyway"
    )
    assert pgbouncer_template(cluster) == before  # nothing rolled back
    assert len([r for r in cluster.requests("PATCH") if "dryRun" not in r.params]) == changes

    forced = deploy.rollback_env(
        local,
        RollbackRequest(env=ENV, yes=True, skip_helm=True, force_config=True),
        out=lines.append,
        hooks=hooks,
    )
    assert forced.exit_code == 0, forced.to_text()
    said = "\n".join(lines).splitlines()
    assert any(
        ln.startswith("! pgbouncer.ini in ConfigMap/pgbouncer-config changed since revision 1")
        and ln.endswith(": rolling back anyway (--force-config)")
        for ln in said
    ), said
    rolled = pgbouncer_template(cluster)
    assert rolled["metadata"]["annotations"]["checksum/config"].startswith(old)


def test_rollback_to_a_revision_with_the_same_config_goes_ahead(
    local: Layout, cluster: Plane
) -> None:
    first = two_pgbouncer_revisions(local, cluster, image="edoburu/pgbouncer:v1.23.1-p3")
    summary = deploy.rollback_env(
        local,
        RollbackRequest(env=ENV, yes=True, skip_helm=True),
        out=quiet,
        hooks=DeployHooks(verify=lambda *a: "ok"),
    )
    assert summary.exit_code == 0, summary.to_text()
    assert summary.results[3].detail == "pgbouncer 2/2"
    image = pgbouncer_template(cluster)["spec"]["containers"][0]["image"]
    assert image == first["spec"]["containers"][0]["image"] != "edoburu/pgbouncer:v1.23.1-p3"


def test_rollback_to_a_revision_without_a_config_checksum_refuses(
    local: Layout, cluster: Plane
) -> None:
    # Revision 1: pods made without the checksum annotation (e.g. the seed's, by hand).
    template = local.templates / "pgbouncer" / "deployment.yaml.j2"
    text = template.read_text()
    line = next(ln for ln in text.splitlines(keepends=True) if "checksum/config:" in ln)
    template.write_text(text.replace(line, ""))
    deploy.apply_env(local, ApplyRequest(env=ENV, yes=True, skip_helm=True), out=quiet)
    template.write_text(text)
    deploy.apply_env(local, ApplyRequest(env=ENV, yes=True, skip_helm=True), out=quiet)
    summary = deploy.rollback_env(
        local, RollbackRequest(env=ENV, yes=True, skip_helm=True), out=quiet
    )
    assert summary.failed is not None and summary.exit_code == 1
    assert summary.failed.detail.startswith(
        "refusing to roll back Deployment/pgbouncer: revision 1 records no checksum/config "
        "annotation, so whether pgbouncer.ini changed since cannot be told"
    )


def test_rollback_without_history_says_so(local: Layout, cluster: Plane) -> None:
    deploy.apply_env(local, ApplyRequest(env=ENV, yes=True, skip_helm=True), out=quiet)
    summary = deploy.rollback_env(
        local, RollbackRequest(env=ENV, yes=True, skip_helm=True), out=quiet
    )
    assert summary.failed is not None
    assert summary.failed.detail == "Deployment/pgbouncer has no revision before 1 to roll back to"
    assert summary.exit_code == 1


def test_a_rollback_conflict_names_no_flag_rollback_lacks(local: Layout, cluster: Plane) -> None:
    """rollback has no --force-conflicts: its conflict says which task takes the fields over."""
    two_pgbouncer_revisions(local, cluster, image="edoburu/pgbouncer:v1.23.1-p3")
    # What `kubectl edit` sends: a strategic merge patch, recorded as an Update by kubectl-edit.
    cluster.edit_as(
        "kubectl-edit", "deployments", "pgbouncer", {"spec": {"replicas": 5}}, api_version="apps/v1"
    )
    summary = deploy.rollback_env(
        local,
        RollbackRequest(env=ENV, yes=True, skip_helm=True),
        out=quiet,
        hooks=DeployHooks(verify=lambda *a: "ok"),
    )
    assert summary.exit_code == 1, summary.to_text()
    text = summary.to_text()
    assert "fields owned by another field manager (kubectl-edit)" in text
    assert f"`invoke apply --env {ENV} --force-conflicts` takes them over" in text
    assert "pass --force-conflicts" not in text


class Authentik:
    """A real HTTP server answering the two outpost endpoints akops uses."""

    def __init__(self) -> None:
        self.config: dict[str, Any] = {
            "authentik_host": "https://auth.example",
            "kubernetes_json_patches": None,
        }
        self.seen: list[tuple[str, str, str | None]] = []
        self.patches: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, code: int, doc: Any) -> None:
                body = json.dumps(doc).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                outer.seen.append(("GET", self.path, self.headers.get("Authorization")))
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    return self._send(
                        403, {"detail": "Authentication credentials were not provided."}
                    )
                item = {
                    "pk": "0b6e-uuid",
                    "name": "authentik-embedded-outpost",
                    "config": outer.config,
                }
                self._send(200, {"results": [item]})

            def do_PATCH(self) -> None:
                outer.seen.append(("PATCH", self.path, self.headers.get("Authorization")))
                doc = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.patches.append(doc)
                outer.config = doc["config"]
                self._send(200, {"pk": "0b6e-uuid", "config": outer.config})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def authentik(monkeypatch: pytest.MonkeyPatch) -> Iterator[Authentik]:
    a = Authentik()
    a.thread.start()
    monkeypatch.setenv(TOKEN_VAR, TOKEN)
    yield a
    a.server.shutdown()
    a.server.server_close()


def test_outpost_patches_go_to_the_authentik_api_once(
    repo: Layout,
    kubeconfig: Path,
    canary: str,
    authentik: Authentik,
    capsys: pytest.CaptureFixture[str],
) -> None:
    local_environment(
        repo,
        "authentik",
        authentik__outpost__api={
            "enabled": True,
            "url": authentik.url,
            "token": {"env": TOKEN_VAR},
        },
    )
    shown: list[str] = []
    dry = deploy.outpost_patch_env(repo, ENV, dry_run=True, out=shown.append)
    assert dry.endswith("kubernetes_json_patches would be updated (--dry-run: nothing sent)")
    assert authentik.patches == []
    diff = "\n".join(shown)
    assert "+++ outpost authentik-embedded-outpost kubernetes_json_patches (rendered)" in diff
    assert "+    sizeLimit: 512Mi" in diff or "sizeLimit: 512Mi" in diff
    # Without a terminal and without --yes, nothing is sent.
    with pytest.raises(InputError, match="stdin is not a terminal; pass --yes"):
        deploy.outpost_patch_env(repo, ENV, out=shown.append, interactive=False)
    assert authentik.patches == []
    assert shown[-1].startswith(f"akops: environment {ENV} · context ")
    # Enter (or anything but "yes") at the prompt sends nothing either.
    with pytest.raises(StepFailed, match="cancelled"):
        deploy.outpost_patch_env(repo, ENV, out=shown.append, interactive=True, ask=lambda _: "")
    assert authentik.patches == []
    assert deploy.outpost_patch_env(repo, ENV, yes=True, out=shown.append) == (
        "outpost authentik-embedded-outpost (0b6e-uuid): kubernetes_json_patches updated"
    )
    (sent,) = authentik.patches
    patches = sent["config"]["kubernetes_json_patches"]["deployment"]
    assert {
        "op": "add",
        "path": "/spec/template/spec/volumes",
        "value": [{"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "512Mi"}}],
    } in patches
    assert sent["config"]["authentik_host"] == "https://auth.example"  # the rest of the config kept
    assert ("PATCH", "/api/v3/outposts/instances/0b6e-uuid/", f"Bearer {TOKEN}") in authentik.seen
    assert deploy.outpost_patch_env(repo, ENV).endswith("already up to date; nothing to send")
    assert len(authentik.patches) == 1


def test_outpost_api_errors_never_show_the_token(
    repo: Layout,
    kubeconfig: Path,
    canary: str,
    authentik: Authentik,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    local_environment(
        repo,
        "authentik",
        authentik__outpost__api={
            "enabled": True,
            "url": authentik.url,
            "token": {"env": TOKEN_VAR},
        },
    )
    monkeypatch.setenv(TOKEN_VAR, "wrong-token-value")
    with pytest.raises(ClusterError) as failed:
        deploy.outpost_patch_env(repo, ENV, yes=True)
    assert str(failed.value).startswith("Authentik API GET /api/v3/outposts/instances/: HTTP 403")
    assert "wrong-token-value" not in str(failed.value)
