"""The registry, `invoke verify --help`, the checks/ adapter and the runbooks agree on check IDs."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from akops.runbook import load
from akops.verify import registry

pytestmark = pytest.mark.integration


def listed(help_text: str, flag: str) -> list[str]:
    text = re.sub(r"-\s+", "-", " ".join(help_text.split()))  # undo the help's line wrapping
    found = re.search(rf"{flag} .*?one of: (.*?); repeatable", text)
    assert found, text
    return [i.strip() for i in found.group(1).split(",")]


def test_verify_help_lists_the_registry(cli) -> None:
    result = cli("--help", "verify")
    assert result.returncode == 0, result.stderr
    assert listed(result.stdout, "--only") == list(registry.IDS)
    assert listed(result.stdout, "--skip") == list(registry.IDS)


def test_checks_adapter_collects_one_test_per_probe_of_the_registry(repo) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "checks", "--collect-only", "-q", "-p", "no:cacheprovider",
         "--env", "prod", "--target", "local", "--pgbouncer", "127.0.0.1:6432"],
        cwd=repo.root, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    collected = {m.group(1) for m in re.finditer(r"test_check\[([a-z.-]+):", result.stdout)}
    # the local target runs every check that does not need the Kubernetes API
    assert collected == {c.id for c in registry.REGISTRY if c.scope == "any"}
    assert not re.search(
        r"\b(rollout|spread|pdb)\.",
        " ".join(p.read_text() for p in (repo.root / "checks").glob("*.py")),
    )


def test_runbook_check_steps_name_registered_checks(layout) -> None:
    steps = [
        step.check
        for rb in load.load_all(layout.runbooks, "runbooks")
        for step in rb.runbook.steps
        if step.check is not None
    ]
    assert steps  # the runbooks do use checks
    assert set(steps) <= set(registry.IDS)
