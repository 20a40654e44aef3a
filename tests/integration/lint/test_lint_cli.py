"""`invoke lint` as operators and CI run it: exit codes, output formats, bad input."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from akops.layout import Layout

SEED = Path(__file__).resolve().parents[2] / "fixtures" / "seed"
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: x}
spec:
  selector: {matchLabels: {app: x}}
  template:
    metadata: {labels: {app: x}}
    spec:
      containers: [{name: x, image: "x:1"}]
"""


def test_prod_lints_clean_in_one_line_and_lists_the_waived_when_asked(
    cli: Callable[..., Any],
) -> None:
    quiet = cli("lint", "--env", "prod")
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    (line,) = quiet.stdout.splitlines()
    assert re.fullmatch(
        r"lint: ok: 0 error\(s\), 0 warning\(s\), \d+ waived \(.*\); --verbose lists the waived",
        line,
    ), line
    result = cli("lint", "--env", "prod", "--verbose")
    assert result.returncode == 0, result.stdout + result.stderr
    # Nothing but what prod waives, each with its reason (docs/guides/security.md): images not yet pinned
    # by digest and the security baseline's open ends.
    findings = [line for line in result.stdout.splitlines() if ": waived " in line]
    assert findings and all(
        re.search(r" (image\.digest|security\.network-policy|security\.read-only-root) ", line)
        for line in findings
    ), findings
    assert re.search(r"lint: ok: 0 error\(s\), 0 warning\(s\), \d+ waived", result.stdout)


def test_lab_passes_with_its_waivers_shown(cli: Callable[..., Any]) -> None:
    result = cli("lint", "--env", "lab", "--verbose")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "waived: two-node lab cluster" in result.stdout
    # lab is not protected: its images without a digest are warnings, not errors.
    warnings = [line for line in result.stdout.splitlines() if ": warning " in line]
    assert warnings and all(" image.digest " in line for line in warnings)
    assert re.search(r"lint: ok: 0 error\(s\), \d+ warning\(s\), \d+ waived", result.stdout)


def test_a_bad_environment_value_fails_with_exit_1(cli: Callable[..., Any], repo: Layout) -> None:
    env = repo.environments / "prod.yaml"
    env.write_text(
        env.read_text().replace("edoburu/pgbouncer:v1.24.1-p1", "edoburu/pgbouncer:latest")
    )
    result = cli("lint", "--env", "prod")
    assert result.returncode == 1
    assert "manifests/prod/pgbouncer-deployment.yaml" in result.stdout
    assert "image.pinned" in result.stdout
    # The finding also names the key the operator edits, proven by re-rendering.
    line = next(
        i for i, text in enumerate(env.read_text().splitlines(), 1) if "edoburu/pgbouncer" in text
    )
    assert f"    set in: environments/prod.yaml:{line} pgbouncer.image" in result.stdout
    assert result.stdout.splitlines()[-1].startswith("lint: failed: 1 error(s)")


def test_paths_and_json(cli: Callable[..., Any]) -> None:
    result = cli("lint", "--path", str(SEED), "--format", "json")
    assert result.returncode == 1
    items = json.loads(result.stdout)
    assert items and {"rule", "severity", "file", "object", "path", "message"} <= set(items[0])
    assert "spread.nodes" in {i["rule"] for i in items}


def test_repeated_path_flags(cli: Callable[..., Any], tmp_path: Path) -> None:
    (tmp_path / "ok.yaml").write_text(DEPLOYMENT)
    result = cli(
        "lint", "--path", str(tmp_path / "ok.yaml"), "--path", str(SEED / "seed-pgbouncer.ini")
    )
    assert result.returncode == 1  # the ini has no idle_transaction_timeout
    assert "2 file(s)" in result.stdout.splitlines()[-1]


def test_max_connections_flag(cli: Callable[..., Any], repo: Layout) -> None:
    prod = str(repo.manifests_for("prod"))
    # --path applies no environment's waivers: prod's waived security findings show as
    # errors here, so only the capacity rule is compared.
    enough = cli("lint", "--path", prod, "--max-connections", "100")
    assert "db.capacity" not in enough.stdout, enough.stdout
    result = cli("lint", "--path", prod, "--max-connections", "50")
    assert result.returncode == 1 and "max_connections is 50" in result.stdout


@pytest.mark.parametrize(
    ("name", "content", "code", "line"),
    [
        ("broken.yaml", "a: [1\n", 1, "broken.yaml:2:1: error yaml.syntax invalid YAML"),
        (
            "kind.yaml",
            "apiVersion: example.com/v1\nkind: Gadget\nmetadata: {name: g}\n",
            0,
            "kind.yaml:1:1: warning schema.unchecked Gadget (example.com/v1): no schema",
        ),
        (
            "half.yaml",
            "kind: Deployment\nmetadata: {name: g}\n",
            1,
            "half.yaml:1:1: error schema.invalid (top level): Kubernetes object Deployment without apiVersion",
        ),
        ("list.yaml", "- a\n- b\n", 0, "list.yaml:1:1: note input.skipped a YAML list"),
        ("empty.yaml", "# nothing\n", 0, "empty.yaml: note input.skipped no YAML document"),
        ("blank.yaml", "", 0, "blank.yaml: note input.skipped empty file"),
        (
            "userlist.txt",
            '"a" "b"\n',
            0,
            "userlist.txt: note input.skipped lint does not read .txt",
        ),
    ],
)
def test_odd_files_are_findings_not_bad_input(
    cli: Callable[..., Any], tmp_path: Path, name: str, content: str, code: int, line: str
) -> None:
    (tmp_path / name).write_text(content)
    result = cli("lint", "--path", str(tmp_path / name))
    assert result.returncode == code, result.stdout + result.stderr
    assert any(out.endswith(line) or line in out for out in result.stdout.splitlines()), (
        result.stdout
    )
    assert result.stdout.splitlines()[-1].startswith("lint: ")


def test_unreadable_files_exit_2(
    cli: Callable[..., Any], one_line_error: Callable[..., str], tmp_path: Path
) -> None:
    one_line_error(
        cli("lint", "--path", str(tmp_path / "missing.yaml")), ["missing.yaml: no such file"]
    )
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe\x00kind")
    one_line_error(cli("lint", "--path", str(tmp_path / "binary.yaml")), ["binary.yaml: not UTF-8"])
    (tmp_path / "empty").mkdir()
    one_line_error(cli("lint", "--path", str(tmp_path / "empty")), ["directory holds no file"])


@pytest.mark.parametrize(
    ("args", "parts"),
    [
        (
            ["--env", "prod", "--format", "xml"],
            ["--format must be one of text, json, sarif, junit"],
        ),
        ([], ["give either --env ENV or --path P"]),
        (["--env", "nope"], ["unknown environment 'nope'"]),
        (
            ["--path", str(SEED), "--kube-version", "1.99"],
            ["no Kubernetes schemas for version 1.99"],
        ),
    ],
)
def test_bad_flags_exit_2(
    cli: Callable[..., Any], one_line_error: Callable[..., str], args: list[str], parts: list[str]
) -> None:
    one_line_error(cli("lint", *args), parts)


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test's yamllint cache in its own directory, never the user's."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("AKOPS_CACHE_DIR", str(cache))
    return cache


def test_path_mode_takes_the_chart_version_from_the_rendered_header(
    cli: Callable[..., Any], repo: Layout, tmp_path: Path
) -> None:
    rendered = (repo.manifests_for("prod") / "authentik-values.yaml").read_text()
    assert "\n# chart: authentik 2026.2.2 " in rendered
    newer = tmp_path / "newer" / "authentik-values.yaml"
    newer.parent.mkdir()
    newer.write_text(
        rendered.replace("# chart: authentik 2026.2.2 ", "# chart: authentik 2099.1.0 ")
    )
    result = cli("lint", "--path", str(newer))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "no key list for Authentik chart 2099.1.0" in result.stderr
    # --chart-version overrides the header.
    result = cli("lint", "--path", str(newer), "--chart-version", "2026.2.2")
    # (prod's values alone, without prod's waivers, have the baseline's open ends: exit 1)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "values.unknown-key" not in result.stdout and not result.stderr
    # Two rendered values files for different charts: which keys apply is not lint's guess.
    result = cli("lint", "--path", str(newer), "--path", str(repo.manifests_for("prod")))
    assert result.returncode == 2
    assert "values files name different chart versions" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
