"""Helm release, outpost patches, the deploy pipeline and rollback, end to end."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console

from akops.errors import ClusterError, InputError, StepFailed, ToolMissingError
from akops.layout import Layout
from akops.ops import operations as deploy
from akops.ops.stages import DeployHooks
from akops.render import render_env
from akops.requests import ApplyRequest, DeployRequest, PlanRequest, RollbackRequest
from harness.emulator import Cluster

from .conftest import CANARY, ENV, FakeHelm, emu_environment, pgbouncer_template, record_revisions

pytestmark = pytest.mark.integration
TOKEN = "authentik-token-canary-9f2c"


def quiet(_: str) -> None:
    pass


def test_release_is_planned_then_installed_with_the_pinned_chart(
    emu: Layout, cluster: Cluster, helm: FakeHelm
) -> None:
    first = deploy.plan_env(emu, PlanRequest(env=ENV))
    assert first.release is not None and first.release.action == "add"
    assert first.summary() == "Plan: 9 to add, 0 to change, 0 to destroy."
    assert (
        "+ helm release authentik/goauthentik (chart authentik 2026.2.2) will be created"
        in first.to_text()
    )

    deploy.apply_env(emu, ApplyRequest(env=ENV, yes=True), out=quiet)
    (upgrade,) = helm.calls("upgrade")
    assert upgrade[:4] == ["upgrade", "--install", "goauthentik", "authentik"]
    assert upgrade[upgrade.index("--version") + 1] == "2026.2.2"
    assert upgrade[upgrade.index("--repo") + 1] == "https://charts.goauthentik.io/"
    assert upgrade[upgrade.index("--kube-context") + 1] == "emulator"
    assert upgrade[upgrade.index("--namespace") + 1] == "authentik"
    # helm neither waits nor rolls back: akops watches the rollout (see the crash-loop test)
    assert "--atomic" not in upgrade and "--wait" not in upgrade
    assert upgrade[upgrade.index("--timeout") + 1] == "15s"
    assert not Path(upgrade[upgrade.index("--values") + 1]).exists()  # temp values removed
    _, stack = render_env(emu, ENV)
    assert helm.state()["history"][-1]["values"] == yaml.safe_load(
        stack.by_name()["authentik-values.yaml"]
    )

    again = deploy.plan_env(emu, PlanRequest(env=ENV))
    assert again.summary() == "Plan: 0 to add, 0 to change, 0 to destroy."


def test_release_values_drift_is_a_change_with_the_field(
    emu: Layout, cluster: Cluster, helm: FakeHelm
) -> None:
    deploy.apply_env(emu, ApplyRequest(env=ENV, yes=True), out=quiet)
    env_file = emu.environments / f"{ENV}.yaml"
    data = yaml.safe_load(env_file.read_text())
    data["authentik"]["server"]["replicas"] = 3
    env_file.write_text(yaml.safe_dump(data))
    result = deploy.plan_env(emu, PlanRequest(env=ENV))
    assert result.release is not None and result.release.action == "change"
    assert "    ~ server.replicas: 2 → 3" in result.to_text()


def test_missing_helm_is_one_clear_error_before_any_request(
    emu: Layout, cluster: Cluster, no_helm: str
) -> None:
    with pytest.raises(ToolMissingError) as missing:
        deploy.plan_env(emu, PlanRequest(env=ENV))
    assert str(missing.value) == (
        "helm is not on PATH nor in akops' cache: `python -m akops.tools helm` caches the "
        "official build, or install Helm (https://helm.sh/docs/intro/install/); or pass "
        "--skip-helm to leave the Helm release alone"
    )
    assert missing.value.exit_code == 2
    assert cluster.requests() == []


def test_deploy_runs_every_stage_and_a_second_deploy_changes_nothing(
    emu: Layout, cluster: Cluster, helm: FakeHelm
) -> None:
    seen: list[str] = []

    def lint(layout: Layout, target: Any, out: Any) -> str:
        seen.append(f"lint {target.env.name}")
        return "no errors"

    def verify(layout: Layout, env: str, context: str | None, out: Any) -> str:
        seen.append(f"verify {env}")
        return "all checks passed"

    hooks = DeployHooks(lint=lint, verify=verify)
    lines: list[str] = []
    summary = deploy.deploy_env(
        emu, DeployRequest(env=ENV, yes=True), out=lines.append, hooks=hooks, console=None
    )
    assert [(r.name, r.status) for r in summary.results] == [
        ("render", "ok"),
        ("lint", "ok"),
        ("plan", "ok"),
        ("confirm", "ok"),
        ("apply", "ok"),
        ("rollout", "ok"),
        ("verify", "ok"),
    ]
    assert summary.exit_code == 0
    assert summary.results[2].detail == "Plan: 9 to add, 0 to change, 0 to destroy."
    # The release changed: Authentik's server and worker are watched with PgBouncer.
    assert summary.results[5].detail == (
        "pgbouncer 2/2, goauthentik-server 2/2, goauthentik-worker 2/2"
    )
    watched = cluster.requests("GET", "/deployments/goauthentik-(server|worker)$")
    assert {r.url.path.rsplit("/", 1)[1] for r in watched} == {
        "goauthentik-server",
        "goauthentik-worker",
    }
    assert seen == ["lint emu", "verify emu"]

    second = deploy.deploy_env(emu, DeployRequest(env=ENV, yes=True), out=lines.append, hooks=hooks)
    assert second.results[2].detail == "Plan: 0 to add, 0 to change, 0 to destroy."
    assert [(r.name, r.status) for r in second.results][3:] == [
        ("confirm", "skipped"),
        ("apply", "skipped"),
        ("rollout", "skipped"),
        ("verify", "ok"),
    ]
    assert CANARY not in "\n".join(lines) + second.to_text()


def crash_looping_server(cluster: Cluster) -> str:
    """A server pod of the release that dies at start (the boot storm's first sign)."""
    pod = "goauthentik-server-6c9d-x2x7q"
    labels = {
        "app.kubernetes.io/name": "authentik",
        "app.kubernetes.io/instance": "goauthentik",
        "app.kubernetes.io/component": "server",
    }
    waiting = {"reason": "CrashLoopBackOff", "message": "back-off 1m20s restarting"}
    cluster.put(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": pod, "namespace": "authentik", "labels": labels},
            "status": {"containerStatuses": [{"name": "server", "state": {"waiting": waiting}}]},
        },
        "pods",
    )
    cluster.put(
        {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": "server-backoff", "namespace": "authentik"},
            "involvedObject": {"kind": "Pod", "name": pod},
            "type": "Warning",
            "reason": "BackOff",
            "message": "Back-off restarting failed container server",
        },
        "events",
    )
    cluster.api.logs[pod] = (
        "waiting for the migration lock\n"
        f"django.db.utils.OperationalError: password {CANARY} rejected\n"
    )
    return pod


def test_a_crash_looping_server_fails_the_rollout_at_once_and_the_release_stays(
    emu: Layout, cluster: Cluster, helm: FakeHelm
) -> None:
    cluster.api.auto_converge = False  # nothing becomes ready: only the crash can end the wait
    pod = crash_looping_server(cluster)
    buf = io.StringIO()
    console = Console(file=buf, width=200, force_terminal=False)
    hooks = DeployHooks(lint=lambda *a: "ok", verify=lambda *a: "ok")
    summary = deploy.deploy_env(
        emu, DeployRequest(env=ENV, yes=True), out=quiet, hooks=hooks, console=console
    )

    failed = summary.failed
    assert failed is not None and failed.name == "rollout" and summary.exit_code == 1
    assert failed.detail == (
        f"Deployment/goauthentik-server: pod {pod} container server is in CrashLoopBackOff; "
        "rollout stopped (events and logs above); helm release goauthentik stays at its new "
        "revision (no automatic rollback: its database migration may have run); see "
        "`invoke runbook.show db-boot-storm`"
    )
    shown = buf.getvalue()
    assert "rollout: Deployment/goauthentik-server: waiting for the controller" in shown
    assert "Warning BackOff: Back-off restarting failed container server" in shown
    assert "django.db.utils.OperationalError: password *** rejected" in shown
    assert CANARY not in shown + summary.to_text()
    # No --atomic: helm did not roll the image back behind the migration's back.
    assert helm.calls("rollback") == []
    assert len(helm.state()["history"]) == 1


def test_deploy_runs_the_real_lint_stage(emu: Layout, cluster: Cluster, helm: FakeHelm) -> None:
    lines: list[str] = []
    summary = deploy.deploy_env(
        emu,
        DeployRequest(env=ENV, yes=True),
        out=lines.append,
        hooks=DeployHooks(verify=lambda *a: "ok"),
    )
    assert summary.exit_code == 0, summary.to_text()
    lint = summary.results[1]
    assert (lint.name, lint.status, lint.detail) == ("lint", "ok", "no errors")
    said = "\n".join(lines)
    # The report of akops.lint on the stack rendered for `emu` (its waivers included).
    # emu is the lab: not protected, so its images without a digest are warnings (image.digest).
    assert "lint: ok: 0 error(s), 3 warning(s), 11 waived (10 file(s), 10 document(s))" in said
    assert "manifests/emu/pgbouncer-deployment.yaml" in said


def test_deploy_stops_at_a_real_lint_error_before_any_request(
    repo: Layout, kubeconfig: Path, canary: str, cluster: Cluster, helm: FakeHelm
) -> None:
    emu_environment(repo, pgbouncer__image="edoburu/pgbouncer:latest")
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
    assert cluster.requests() == []
    assert helm.state()["calls"] == []


def test_deploy_stops_at_lint_errors_with_its_exit_code(
    emu: Layout, cluster: Cluster, helm: FakeHelm
) -> None:
    def failing_lint(layout: Layout, target: Any, out: Any) -> str:
        raise StepFailed("lint found errors")

    summary = deploy.deploy_env(
        emu, DeployRequest(env=ENV, yes=True), out=quiet, hooks=DeployHooks(lint=failing_lint)
    )
    assert [(r.name, r.status) for r in summary.results][:3] == [
        ("render", "ok"),
        ("lint", "failed"),
        ("plan", "skipped"),
    ]
    assert summary.exit_code == 1
    assert cluster.requests() == []


def test_deploy_without_yes_on_a_pipe_refuses_before_changing_anything(
    emu: Layout, cluster: Cluster, helm: FakeHelm
) -> None:
    hooks = DeployHooks(lint=lambda *a: "ok", verify=lambda *a: "ok")
    summary = deploy.deploy_env(
        emu, DeployRequest(env=ENV), out=quiet, hooks=hooks, interactive=False
    )
    failed = summary.failed
    assert failed is not None and failed.name == "confirm" and failed.exit_code == 2
    assert "pass --yes" in failed.detail
    # A first deploy: the namespace is missing, so the plan sent no dry run either; nothing
    # was written.
    assert all(r.params.get("dryRun") == "All" for r in cluster.requests("PATCH"))
    assert not cluster.api.namespaces


def test_rollback_restores_the_previous_pod_template_and_release(
    emu: Layout, cluster: Cluster, helm: FakeHelm
) -> None:
    deploy.apply_env(emu, ApplyRequest(env=ENV, yes=True), out=quiet)
    env_file = emu.environments / f"{ENV}.yaml"
    env_file.write_text(env_file.read_text().replace("web_workers: 2", "web_workers: 3"))
    deploy.apply_env(emu, ApplyRequest(env=ENV, yes=True), out=quiet)  # a second release revision
    assert len(helm.state()["history"]) == 2
    old_template = pgbouncer_template(cluster)
    old_template["spec"]["containers"][0]["image"] = "edoburu/pgbouncer:v1.23.1-p3"
    record_revisions(cluster, old_template)
    server_before = cluster.get("deployments", "goauthentik-server", api_version="apps/v1")
    assert server_before is not None
    hooks = DeployHooks(verify=lambda *a: "ok")
    lines: list[str] = []
    summary = deploy.rollback_env(
        emu, RollbackRequest(env=ENV, yes=True), out=lines.append, hooks=hooks
    )
    assert summary.exit_code == 0, summary.to_text()
    assert "~ Deployment/pgbouncer: pod template back to revision 1" in lines[0]
    assert (
        "~ helm release goauthentik: revision 2 (authentik-2026.2.2) → 1 (authentik-2026.2.2)"
        in lines[0]
    )
    rolled = cluster.get("deployments", "pgbouncer", api_version="apps/v1")
    assert rolled is not None
    assert (
        rolled["spec"]["template"]["spec"]["containers"][0]["image"]
        == "edoburu/pgbouncer:v1.23.1-p3"
    )
    assert "pod-template-hash" not in rolled["spec"]["template"]["metadata"]["labels"]
    (rollback,) = helm.calls("rollback")
    assert "--wait" not in rollback and "--atomic" not in rollback
    assert [(r.name, r.status) for r in summary.results] == [
        ("plan", "ok"),
        ("confirm", "ok"),
        ("rollback", "ok"),
        ("rollout", "ok"),
        ("verify", "ok"),
    ]
    # helm rollback returned at once; the release's Deployments were watched by akops.
    server = cluster.get("deployments", "goauthentik-server", api_version="apps/v1")
    assert server is not None
    assert server["metadata"]["generation"] == server_before["metadata"]["generation"] + 1
    assert summary.results[3].detail == (
        "pgbouncer 2/2, goauthentik-server 2/2, goauthentik-worker 2/2"
    )


def test_rollback_refuses_when_pgbouncer_ini_changed_since_that_revision(
    emu: Layout, cluster: Cluster, helm: FakeHelm
) -> None:
    deploy.apply_env(emu, ApplyRequest(env=ENV, yes=True, skip_helm=True), out=quiet)
    first = pgbouncer_template(cluster)
    env_file = emu.environments / f"{ENV}.yaml"
    data = yaml.safe_load(env_file.read_text())
    data["pgbouncer"]["settings"]["default_pool_size"] = 15  # a bad pool size goes out
    env_file.write_text(yaml.safe_dump(data))
    deploy.apply_env(emu, ApplyRequest(env=ENV, yes=True, skip_helm=True), out=quiet)
    record_revisions(cluster, first)
    before = pgbouncer_template(cluster)
    assert before["metadata"]["annotations"] != first["metadata"]["annotations"]
    changes = len([r for r in cluster.requests("PATCH") if "dryRun" not in r.params])

    lines: list[str] = []
    hooks = DeployHooks(verify=lambda *a: "ok")
    summary = deploy.rollback_env(
        emu, RollbackRequest(env=ENV, yes=True, skip_helm=True), out=lines.append, hooks=hooks
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
        emu,
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
    emu: Layout, cluster: Cluster, helm: FakeHelm
) -> None:
    deploy.apply_env(emu, ApplyRequest(env=ENV, yes=True, skip_helm=True), out=quiet)
    old = pgbouncer_template(cluster)
    old["spec"]["containers"][0]["image"] = "edoburu/pgbouncer:v1.23.1-p3"
    record_revisions(cluster, old)
    summary = deploy.rollback_env(
        emu,
        RollbackRequest(env=ENV, yes=True, skip_helm=True),
        out=quiet,
        hooks=DeployHooks(verify=lambda *a: "ok"),
    )
    assert summary.exit_code == 0, summary.to_text()
    assert summary.results[3].detail == "pgbouncer 2/2"


def test_rollback_to_a_revision_without_a_config_checksum_refuses(
    emu: Layout, cluster: Cluster, helm: FakeHelm
) -> None:
    deploy.apply_env(emu, ApplyRequest(env=ENV, yes=True, skip_helm=True), out=quiet)
    seed = pgbouncer_template(cluster)  # e.g. the pods the seed change created by hand
    del seed["metadata"]["annotations"]
    record_revisions(cluster, seed)
    summary = deploy.rollback_env(
        emu, RollbackRequest(env=ENV, yes=True, skip_helm=True), out=quiet
    )
    assert summary.failed is not None and summary.exit_code == 1
    assert summary.failed.detail.startswith(
        "refusing to roll back Deployment/pgbouncer: revision 1 records no checksum/config "
        "annotation, so whether pgbouncer.ini changed since cannot be told"
    )


def test_rollback_without_history_says_so(emu: Layout, cluster: Cluster, helm: FakeHelm) -> None:
    deploy.apply_env(emu, ApplyRequest(env=ENV, yes=True, skip_helm=True), out=quiet)
    summary = deploy.rollback_env(
        emu, RollbackRequest(env=ENV, yes=True, skip_helm=True), out=quiet
    )
    assert summary.failed is not None
    assert summary.failed.detail == "Deployment/pgbouncer has no revision before 0 to roll back to"
    assert summary.exit_code == 1


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
    monkeypatch.setenv("AKOPS_EMU_AUTHENTIK_TOKEN", TOKEN)
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
    emu_environment(
        repo,
        authentik__outpost__api={
            "enabled": True,
            "url": authentik.url,
            "token": {"env": "AKOPS_EMU_AUTHENTIK_TOKEN"},
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
    emu_environment(
        repo,
        authentik__outpost__api={
            "enabled": True,
            "url": authentik.url,
            "token": {"env": "AKOPS_EMU_AUTHENTIK_TOKEN"},
        },
    )
    monkeypatch.setenv("AKOPS_EMU_AUTHENTIK_TOKEN", "wrong-token-value")
    with pytest.raises(ClusterError) as failed:
        deploy.outpost_patch_env(repo, ENV, yes=True)
    assert str(failed.value).startswith("Authentik API GET /api/v3/outposts/instances/: HTTP 403")
    assert "wrong-token-value" not in str(failed.value)


def test_a_rollback_conflict_names_no_flag_rollback_lacks(
    emu: Layout, cluster: Cluster, helm: FakeHelm
) -> None:
    """rollback has no --force-conflicts: its conflict says which task takes the fields over."""
    from tests.integration.cluster.test_cluster_apply import foreign_apply

    deploy.apply_env(emu, ApplyRequest(env=ENV, yes=True, skip_helm=True), out=quiet)
    old = pgbouncer_template(cluster)
    old["spec"]["containers"][0]["image"] = "edoburu/pgbouncer:v1.23.1-p3"
    record_revisions(cluster, old)
    foreign_apply(
        cluster,
        "kubectl-edit",
        "/apis/apps/v1/namespaces/authentik/deployments/pgbouncer",
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "pgbouncer"},
         "spec": {"replicas": 5}},
    )  # fmt: skip
    summary = deploy.rollback_env(
        emu,
        RollbackRequest(env=ENV, yes=True, skip_helm=True),
        out=quiet,
        hooks=DeployHooks(verify=lambda *a: "ok"),
    )
    assert summary.exit_code == 1, summary.to_text()
    text = summary.to_text()
    assert "fields owned by another field manager (kubectl-edit)" in text
    assert f"`invoke apply --env {ENV} --force-conflicts` takes them over" in text
    assert "pass --force-conflicts" not in text
