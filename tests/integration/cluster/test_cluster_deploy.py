"""Helm release, outpost patches, the deploy pipeline and rollback, end to end."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from akops.cluster import deploy
from akops.cluster.deploy import DeployHooks
from akops.errors import ClusterError, StepFailed, ToolMissingError
from akops.layout import Layout
from akops.render import render_env

from .conftest import CANARY, ENV, FakeHelm, emu_environment
from .emulator import Cluster

pytestmark = pytest.mark.integration
TOKEN = "authentik-token-canary-9f2c"


def quiet(_: str) -> None:
    pass


def test_release_is_planned_then_installed_with_the_pinned_chart(
    emu: Layout, cluster: Cluster, helm: FakeHelm
) -> None:
    first = deploy.plan_env(emu, ENV)
    assert first.release is not None and first.release.action == "add"
    assert first.summary() == "Plan: 6 to add, 0 to change, 0 to destroy."
    assert (
        "+ helm release authentik/goauthentik (chart authentik 2026.2.2) will be created"
        in first.to_text()
    )

    deploy.apply_env(emu, ENV, yes=True, out=quiet)
    (upgrade,) = helm.calls("upgrade")
    assert upgrade[:4] == ["upgrade", "--install", "goauthentik", "authentik"]
    assert upgrade[upgrade.index("--version") + 1] == "2026.2.2"
    assert upgrade[upgrade.index("--repo") + 1] == "https://charts.goauthentik.io/"
    assert upgrade[upgrade.index("--kube-context") + 1] == "emulator"
    assert upgrade[upgrade.index("--namespace") + 1] == "authentik"
    assert "--atomic" in upgrade and "--wait" in upgrade
    assert not Path(upgrade[upgrade.index("--values") + 1]).exists()  # temp values removed
    _, stack = render_env(emu, ENV)
    assert helm.state()["history"][-1]["values"] == yaml.safe_load(
        stack.by_name()["authentik-values.yaml"]
    )

    again = deploy.plan_env(emu, ENV)
    assert again.summary() == "Plan: 0 to add, 0 to change, 0 to destroy."


def test_release_values_drift_is_a_change_with_the_field(
    emu: Layout, cluster: Cluster, helm: FakeHelm
) -> None:
    deploy.apply_env(emu, ENV, yes=True, out=quiet)
    env_file = emu.environments / f"{ENV}.yaml"
    data = yaml.safe_load(env_file.read_text())
    data["authentik"]["server"]["replicas"] = 3
    env_file.write_text(yaml.safe_dump(data))
    result = deploy.plan_env(emu, ENV)
    assert result.release is not None and result.release.action == "change"
    assert "    ~ server.replicas: 2 → 3" in result.to_text()


def test_missing_helm_is_one_clear_error_before_any_request(
    emu: Layout, cluster: Cluster, no_helm: str
) -> None:
    with pytest.raises(ToolMissingError) as missing:
        deploy.plan_env(emu, ENV)
    assert str(missing.value) == (
        "helm is not on PATH: the Authentik release needs it; install Helm 3 "
        "(https://helm.sh/docs/intro/install/) or pass --skip-helm"
    )
    assert missing.value.exit_code == 2
    assert cluster.requests() == []


def test_deploy_runs_every_stage_and_a_second_deploy_changes_nothing(
    emu: Layout, cluster: Cluster, helm: FakeHelm
) -> None:
    seen: list[str] = []

    def lint(layout: Layout, env: str, out: Any) -> str:
        seen.append(f"lint {env}")
        return "no errors"

    def verify(layout: Layout, env: str, context: str | None, out: Any) -> str:
        seen.append(f"verify {env}")
        return "all checks passed"

    hooks = DeployHooks(lint=lint, verify=verify)
    lines: list[str] = []
    summary = deploy.deploy_env(emu, ENV, yes=True, out=lines.append, hooks=hooks, console=None)
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
    assert summary.results[2].detail == "Plan: 6 to add, 0 to change, 0 to destroy."
    assert summary.results[5].detail == "pgbouncer 2/2"
    assert seen == ["lint emu", "verify emu"]

    second = deploy.deploy_env(emu, ENV, yes=True, out=lines.append, hooks=hooks)
    assert second.results[2].detail == "Plan: 0 to add, 0 to change, 0 to destroy."
    assert [(r.name, r.status) for r in second.results][3:] == [
        ("confirm", "skipped"),
        ("apply", "skipped"),
        ("rollout", "skipped"),
        ("verify", "ok"),
    ]
    assert CANARY not in "\n".join(lines) + second.to_text()


def test_deploy_stops_at_lint_errors_with_its_exit_code(
    emu: Layout, cluster: Cluster, helm: FakeHelm
) -> None:
    def failing_lint(layout: Layout, env: str, out: Any) -> str:
        raise StepFailed("lint found errors")

    summary = deploy.deploy_env(emu, ENV, yes=True, out=quiet, hooks=DeployHooks(lint=failing_lint))
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
    summary = deploy.deploy_env(emu, ENV, out=quiet, hooks=hooks, interactive=False)
    failed = summary.failed
    assert failed is not None and failed.name == "confirm" and failed.exit_code == 2
    assert "pass --yes" in failed.detail
    assert cluster.requests("PATCH") and all(
        r.params.get("dryRun") == "All" for r in cluster.requests("PATCH")
    )


def test_rollback_restores_the_previous_pod_template_and_release(
    emu: Layout, cluster: Cluster, helm: FakeHelm
) -> None:
    deploy.apply_env(emu, ENV, yes=True, out=quiet)
    env_file = emu.environments / f"{ENV}.yaml"
    env_file.write_text(env_file.read_text().replace("web_workers: 2", "web_workers: 3"))
    deploy.apply_env(emu, ENV, yes=True, out=quiet)  # a second release revision
    assert len(helm.state()["history"]) == 2
    live = cluster.get("deployments", "pgbouncer", api_version="apps/v1")
    assert live is not None
    old_template = json.loads(json.dumps(live["spec"]["template"]))
    old_template["metadata"]["labels"]["pod-template-hash"] = "5d8f"
    old_template["spec"]["containers"][0]["image"] = "edoburu/pgbouncer:v1.23.1-p3"
    live["metadata"].setdefault("annotations", {})["deployment.kubernetes.io/revision"] = "2"
    cluster.put(live, "deployments")
    for revision, template in ((1, old_template), (2, live["spec"]["template"])):
        cluster.put(
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {
                    "name": f"pgbouncer-{revision}",
                    "namespace": "authentik",
                    "labels": {"app": "pgbouncer"},
                    "annotations": {"deployment.kubernetes.io/revision": str(revision)},
                    "ownerReferences": [{"kind": "Deployment", "name": "pgbouncer"}],
                },
                "spec": {"template": template},
            },
            "replicasets",
        )
    hooks = DeployHooks(verify=lambda *a: "ok")
    lines: list[str] = []
    summary = deploy.rollback_env(emu, ENV, yes=True, out=lines.append, hooks=hooks)
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
    assert helm.calls("rollback")
    assert [(r.name, r.status) for r in summary.results] == [
        ("plan", "ok"),
        ("confirm", "ok"),
        ("rollback", "ok"),
        ("rollout", "ok"),
        ("verify", "ok"),
    ]


def test_rollback_without_history_says_so(emu: Layout, cluster: Cluster, helm: FakeHelm) -> None:
    deploy.apply_env(emu, ENV, yes=True, out=quiet, skip_helm=True)
    summary = deploy.rollback_env(emu, ENV, yes=True, skip_helm=True, out=quiet)
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
    dry = deploy.outpost_patch_env(repo, ENV, dry_run=True)
    assert dry.endswith("kubernetes_json_patches patched (--dry-run: nothing sent)")
    assert authentik.patches == []
    assert deploy.outpost_patch_env(repo, ENV) == (
        "outpost authentik-embedded-outpost (0b6e-uuid): kubernetes_json_patches patched"
    )
    (sent,) = authentik.patches
    patches = sent["config"]["kubernetes_json_patches"]["deployment"]
    assert {
        "op": "add",
        "path": "/spec/template/spec/volumes/-",
        "value": {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "512Mi"}},
    } in patches
    assert sent["config"]["authentik_host"] == "https://auth.example"  # the rest of the config kept
    assert ("PATCH", "/api/v3/outposts/instances/0b6e-uuid/", f"Bearer {TOKEN}") in authentik.seen
    assert deploy.outpost_patch_env(repo, ENV).endswith("already up to date")
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
        deploy.outpost_patch_env(repo, ENV)
    assert str(failed.value).startswith("Authentik API GET /api/v3/outposts/instances/: HTTP 403")
    assert "wrong-token-value" not in str(failed.value)
