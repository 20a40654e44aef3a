"""`invoke lint --env prod` holds the security baseline: remove any one field, it fails.

Each case edits one template of a scratch copy of the repository, removing exactly one
security setting, and runs the real command. Every removal of an error-severity field
exits 1 naming its rule; the read-only root filesystem is a warning by design (exit 0,
reported), as docs/guides/security.md says.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from akops.layout import Layout

PGB = "pgbouncer/deployment.yaml.j2"
VALUES = "authentik/values.yaml.j2"
OUTPOST = "outpost/patches.yaml.j2"
SA = "authentik/serviceaccount.yaml.j2"
NP = "pgbouncer/networkpolicy.yaml.j2"

# (template, exact text removed, rule that must fail)
FIELDS = [
    (PGB, "        runAsNonRoot: true\n", "security.non-root"),
    (PGB, "        seccompProfile:\n          type: RuntimeDefault\n", "security.seccomp"),
    (PGB, "      automountServiceAccountToken: false\n", "security.sa-token"),
    (PGB, "allowPrivilegeEscalation: false\n", "security.privilege-escalation"),
    (PGB, "capabilities:\n  drop: [ALL]\n", "security.capabilities"),
    (VALUES, "    runAsNonRoot: true\n", "security.non-root"),
    (VALUES, "    seccompProfile:\n      type: RuntimeDefault\n", "security.seccomp"),
    (VALUES, "  serviceAccountName: {{ a.chart.server }}\n", "security.sa-token"),
    (VALUES, "allowPrivilegeEscalation: false\n", "security.privilege-escalation"),
    (VALUES, "capabilities:\n  drop: [ALL]\n", "security.capabilities"),
    (SA, "automountServiceAccountToken: false\n", "security.sa-token"),
    (
        OUTPOST,
        "    - op: add\n      path: /spec/template/spec/automountServiceAccountToken\n"
        "      value: false\n",
        "security.sa-token",
    ),
    (OUTPOST, "        runAsNonRoot: true\n", "security.non-root"),
    (OUTPOST, "        seccompProfile:\n          type: RuntimeDefault\n", "security.seccomp"),
    (OUTPOST, "\n        allowPrivilegeEscalation: false\n", "security.privilege-escalation"),
    (OUTPOST, "        capabilities:\n          drop: [ALL]\n", "security.capabilities"),
    # The /dev/shm sidecar the patches add beside the proxy container.
    (OUTPOST, "\n          allowPrivilegeEscalation: false\n", "security.privilege-escalation"),
    (OUTPOST, "          capabilities:\n            drop: [ALL]\n", "security.capabilities"),
    (NP, "    - from:\n", "security.network-policy"),
]


def remove(repo: Layout, template: str, text: str) -> None:
    path = repo.templates / template
    before = path.read_text()
    assert before.count(text) == 1, f"{template}: {text!r} must occur exactly once"
    # A text that starts on a line break names an indentation exactly; the break stays.
    kept = "    -\n" if "from" in text else "\n" if text.startswith("\n") else ""
    path.write_text(before.replace(text, kept))


@pytest.mark.parametrize(
    ("template", "text", "rule"),
    FIELDS,
    ids=[f"{t.split('/')[0]}-{r.split('.')[1]}-{i}" for i, (t, _, r) in enumerate(FIELDS)],
)
def test_prod_fails_without_any_one_security_field(
    cli: Callable[..., Any], repo: Layout, template: str, text: str, rule: str
) -> None:
    remove(repo, template, text)
    result = cli("lint", "--env", "prod")
    assert result.returncode == 1, result.stdout + result.stderr
    assert re.search(rf"error {re.escape(rule)} ", result.stdout), result.stdout


def test_a_writable_root_is_reported_as_a_warning(cli: Callable[..., Any], repo: Layout) -> None:
    remove(repo, PGB, "readOnlyRootFilesystem: true\n")
    result = cli("lint", "--env", "prod")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "warning security.read-only-root Deployment/pgbouncer" in result.stdout


def test_without_the_network_policy_file_prod_fails(cli: Callable[..., Any], repo: Layout) -> None:
    (repo.templates / NP).unlink()
    result = cli("lint", "--env", "prod")
    assert result.returncode == 1
    assert "error security.network-policy Deployment/pgbouncer" in result.stdout
