"""The docs' reference pages are generated from the registries and say all of them: every task
and flag, lint rule, verify check, exit status, alert and runbook; the site's nav lists every
page there is (``mkdocs build --strict`` in ``nox -s docs`` then proves every link)."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from akops.errors import EXIT_STATUSES
from akops.lint.registry import catalogue
from akops.verify.registry import IDS

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def reference() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "docs_reference", ROOT / "scripts" / "docs_reference.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_task_and_flag(reference: ModuleType) -> None:
    page = reference.tasks_page()
    ns = reference._collection()
    assert len(ns.task_names) >= 15
    for name in ns.task_names:
        assert f"## `invoke {name}`" in page
        for argument in ns[name].get_arguments():
            long = max(argument.names, key=len).replace("_", "-")
            assert f"`--{long}`" in page, (name, long)


def test_every_lint_rule(reference: ModuleType) -> None:
    page = reference.lint_rules_page()
    for rule in catalogue().values():
        assert f"### `{rule.id}`" in page
        assert rule.hint.split()[0] in page and f"lint.akops.io/waive.{rule.id}" in page


def test_every_verify_check(reference: ModuleType) -> None:
    page = reference.checks_page()
    assert all(f"| `{check}` |" in page for check in IDS)


def test_the_exit_contract(reference: ModuleType) -> None:
    page = reference.exit_codes_page()
    assert all(f"| {s.code} | {s.meaning} |" in page for s in EXIT_STATUSES)
    assert "--detailed-exitcode" in page


def test_every_alert_names_its_runbook(reference: ModuleType) -> None:
    page = reference.alerts_page()
    alerts = re.findall(
        r"^\| `(\w+)` \| (critical|warning|info) \|.* \| `([a-z0-9-]+)` \|$", page, re.M
    )
    assert len(alerts) >= 10
    assert "not a runbook URL" not in page
    for runbook in (ROOT / "runbooks").glob("*.yaml"):
        assert f"| `{runbook.stem}` |" in page


def test_the_command_prints_a_page_and_refuses_an_unknown_one() -> None:
    script = str(ROOT / "scripts" / "docs_reference.py")
    done = subprocess.run(
        [sys.executable, script, "exit-codes"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and done.stdout.startswith("# Exit codes")
    bad = subprocess.run(
        [sys.executable, script, "nope"], capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2 and len(bad.stderr.splitlines()) == 1


def _nav_pages(node: object) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, list):
        return [p for item in node for p in _nav_pages(item)]
    if isinstance(node, dict):
        return [p for value in node.values() for p in _nav_pages(value)]
    return []


def test_the_nav_lists_every_page_and_every_generated_one(reference: ModuleType) -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    nav = _nav_pages(config["nav"])
    written = {p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").rglob("*.md")}
    generated = {f"reference/{name}.md" for name in reference.PAGES}
    assert not written & generated, "a generated page is also written by hand"
    assert sorted(nav) == sorted(written | generated)
    assert json.dumps(config["hooks"]) == json.dumps(["scripts/docs_reference.py"])


def test_every_layer_and_module_of_the_contract(reference: ModuleType) -> None:
    import tomllib

    with (ROOT / "pyproject.toml").open("rb") as f:
        contracts = tomllib.load(f)["tool"]["importlinter"]["contracts"]
    (layered,) = [c for c in contracts if c["type"] == "layers"]
    page = reference.layers_page()
    for depth, layer in enumerate(layered["layers"], start=1):
        for module in layer.split("|"):
            assert f"| {depth} | `{module.strip()}` |" in page


def test_the_host_changes_page_shows_the_noxfiles_own_package_table(
    reference: ModuleType,
) -> None:
    page = (ROOT / "docs" / "getting-started.md").read_text(encoding="utf-8")
    assert "<!-- akops:system-packages -->" in page
    filled = reference.on_page_markdown(page)
    assert "<!-- akops:" not in filled
    for name in ("postgresql", "pgbouncer", "prometheus", "skopeo", "docker-registry"):
        assert f"`{name}`" in filled
