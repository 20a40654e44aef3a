"""`invoke lint --path` on a tree as real repositories hold them: the stack among custom
resources, other charts' values, empty files, templates that do not parse, a lone
pgbouncer.ini with %include, and files lint does not read."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from akops.layout import Layout

KYVERNO = """\
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata:
  name: add-ndots
spec:
  rules:
    - name: ndots
      match: {any: [{resources: {kinds: [Pod]}}]}
      mutate:
        patchStrategicMerge:
          spec:
            dnsConfig:
              options: [{name: ndots, value: "2"}]
---
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata:
  name: require-requests
spec:
  rules: []
"""
SERVICE_MONITORS = """\
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: traefik}
spec:
  selector: {matchLabels: {app: traefik}}
  endpoints: [{port: metrics}]
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: crowdsec}
spec:
  selector: {matchLabels: {app: crowdsec}}
  endpoints: [{port: metrics}]
"""
GRAFANA_VALUES = """\
replicas: 1
kind: Deployment
image:
  repository: grafana/grafana
  tag: 11.2.0
persistence:
  enabled: true
"""
TERRAFORM = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: ${name}
data:
%{ for k, v in settings ~}
  ${k}: ${v}
%{ endfor ~}
"""
INI = "[pgbouncer]\nlisten_port = 6432\nidle_transaction_timeout = 300\n%include pools.ini\n"
POOLS = "default_pool_size = 20\nquery_wait_timeout = 1.5\n"


@pytest.fixture
def tree(repo: Layout, tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    shutil.copytree(repo.manifests_for("prod"), root / "authentik")
    (root / "policies").mkdir()
    (root / "policies" / "ndots.yaml").write_text(KYVERNO)
    (root / "monitoring").mkdir()
    (root / "monitoring" / "monitors.yaml").write_text(SERVICE_MONITORS)
    (root / "grafana").mkdir()
    (root / "grafana" / "values.yaml").write_text(GRAFANA_VALUES)
    (root / "grafana" / "empty.yaml").write_text("")
    (root / "terraform").mkdir()
    (root / "terraform" / "configmap.yaml.tftpl").write_text(TERRAFORM)
    (root / "terraform" / "configmap.yaml").write_text(TERRAFORM)
    (root / "pgbouncer").mkdir()
    (root / "pgbouncer" / "pgbouncer.ini").write_text(INI)
    (root / "pgbouncer" / "pools.ini").write_text(POOLS)
    (root / "pgbouncer" / "userlist.txt").write_text('"authentik" "md5abc"\n')
    return root


def findings(result: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads(result.stdout)
    return items


def test_every_file_is_accounted_for_and_nothing_is_bad_input(
    cli: Callable[..., Any], tree: Path
) -> None:
    result = cli("lint", "--path", str(tree))
    assert result.returncode == 1, result.stdout + result.stderr  # the template does not parse
    out = result.stdout
    summary = out.splitlines()[-1]
    files = sum(1 for p in tree.rglob("*") if p.is_file())
    assert f"({files} file(s), 4 skipped," in summary, summary
    assert "terraform/configmap.yaml:6:2: error yaml.syntax" in out
    assert "terraform/configmap.yaml.tftpl: note input.skipped lint does not read .tftpl" in out
    assert "pgbouncer/userlist.txt: note input.skipped lint does not read .txt" in out
    assert "pgbouncer/pools.ini: note input.skipped included by" in out
    assert "grafana/empty.yaml: note input.skipped empty file" in out
    assert (
        "grafana/values.yaml:1:1: note input.skipped a mapping (image, kind, persistence, replicas)"
        in out
    )
    assert "ClusterPolicy (kyverno.io/v1): no schema" in out
    # Two ClusterPolicies, one warning naming the second.
    assert out.count("warning schema.unchecked ClusterPolicy") == 1
    assert "(and 1 more object(s) of this kind)" in out
    # The ServiceMonitors are checked against akops's own schema, and are valid.
    assert "ServiceMonitor" not in out
    assert "pgbouncer.invalid" not in out  # the lone ini and its include are valid
    # The stack itself is clean but for what prod's environment waives (--path applies no
    # environment's waivers): the chart's and the outpost's NetworkPolicy and read-only root.
    stack_lines = [line for line in out.splitlines() if "authentik/" in line]
    assert stack_lines and all(
        "security.network-policy" in line or "security.read-only-root" in line
        for line in stack_lines
    ), stack_lines


def test_the_stack_decides_the_exit(cli: Callable[..., Any], tree: Path) -> None:
    (tree / "terraform" / "configmap.yaml").unlink()
    before = cli("lint", "--path", str(tree), "--format", "json")
    # Without prod's waivers only the baseline's open ends are errors (docs/guides/security.md).
    assert {f["rule"] for f in findings(before) if f["severity"] == "error"} == {
        "security.network-policy"
    }
    deployment = tree / "authentik" / "pgbouncer-deployment.yaml"
    deployment.write_text(deployment.read_text().replace("replicas: 3", "replicas: 1"))
    result = cli("lint", "--path", str(tree), "--format", "json")
    assert result.returncode == 1
    rules = {f["rule"] for f in findings(result) if f["severity"] == "error"}
    assert {"replicas.minimum", "pdb.budget"} <= rules
    assert all(
        f["file"].startswith(str(tree / "authentik")) or "authentik/" in f["file"]
        for f in findings(result)
        if f["severity"] == "error"
    )


def test_strict_kinds_and_values_flags(cli: Callable[..., Any], tree: Path) -> None:
    (tree / "terraform" / "configmap.yaml").unlink()
    result = cli("lint", "--path", str(tree), "--strict-kinds")
    assert result.returncode == 1
    assert "error schema.unchecked ClusterPolicy" in result.stdout
    # Named with --values, grafana's file is judged as Authentik values: its keys are wrong.
    result = cli("lint", "--path", str(tree), "--values", str(tree / "grafana" / "values.yaml"))
    assert result.returncode == 1
    assert "values.unknown-key kind: the Authentik chart" in result.stdout
