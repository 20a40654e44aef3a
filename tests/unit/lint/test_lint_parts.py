"""The pieces under the rules: schemas, chart keys, pgbouncer.ini, quantities, reports."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from akops.errors import InputError
from akops.layout import Layout
from akops.lint import lint_environment, lint_paths, schema
from akops.lint.documents import SourceText, classify
from akops.lint.pgbouncer import parse_ini
from akops.lint.registry import catalogue, finding
from akops.lint.report import build
from akops.lint.values import chart_keys, unknown_keys
from akops.quantities import parse_quantity, scaled

ROOT = Path(__file__).resolve().parents[3]


def test_environment_api(layout: Layout) -> None:
    prod = lint_environment(layout, "prod")
    # prod's only findings, each waived with its reason: images not yet pinned by digest
    # and the security baseline's open ends (docs/guides/security.md).
    assert prod.ok and {f.rule for f in prod.findings} == {
        "image.digest",
        "security.network-policy",
        "security.read-only-root",
    }
    assert prod.waived == len(prod.findings)
    assert prod.files == len(list(layout.manifests_for("prod").glob("*.yaml")))
    lab = lint_environment(layout, "lab")
    unpinned = [f for f in lab.findings if f.rule == "image.digest"]
    assert unpinned and all(f.severity == "warning" for f in unpinned)  # lab is not protected
    assert lab.ok and lab.waived == len(lab.findings) - len(unpinned) and lab.errors == 0
    assert {f.rule for f in lab.findings} == {
        "replicas.minimum",
        "pdb.budget",
        "image.digest",
        "security.network-policy",
        "security.read-only-root",
    }
    assert all(f.file.startswith("manifests/lab/") for f in lab.findings)


def test_validators_are_compiled_once_per_kind() -> None:
    version = schema.schema_version("1.33")
    first = schema.validator(version, "apps/v1", "Deployment")
    assert first is schema.validator(version, "apps/v1", "Deployment")
    assert schema.validator(version, "example.com/v1", "Gadget") is None


@pytest.mark.parametrize(
    ("wanted", "resolved"), [("1.33", "1.33.0"), ("v1.30", "1.30.0"), ("1.37", "1.37.0")]
)
def test_schema_version(wanted: str, resolved: str) -> None:
    assert schema.schema_version(wanted) == resolved


@pytest.mark.parametrize("wanted", ["1.99", "1.2", "banana"])
def test_schema_version_out_of_range(wanted: str) -> None:
    with pytest.raises(InputError, match="Kubernetes"):
        schema.schema_version(wanted)


def _load_script() -> Any:
    spec = importlib.util.spec_from_file_location("chart_keys", ROOT / "scripts" / "chart_keys.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["chart_keys"] = module
    spec.loader.exec_module(module)
    return module


def test_chart_key_derivation_marks_free_form_paths() -> None:
    script = _load_script()
    keys, open_paths = script.derive(
        {
            "server": {
                "replicas": 1,
                "podAnnotations": {},
                "env": [],
                "livenessProbe": {"periodSeconds": 10},
            },
            "authentik": {"existingSecret": {"secretName": ""}, "postgresql": {"host": ""}},
        }
    )
    assert "server.replicas" in keys and "authentik.existingSecret.secretName" in keys
    assert {
        "server.podAnnotations",
        "server.env",
        "server.livenessProbe",
        "authentik",
        "authentik.postgresql",
    } <= set(open_paths)
    assert "server" not in open_paths and "authentik.existingSecret" not in open_paths


def test_shipped_key_list_is_the_pinned_chart() -> None:
    chart = chart_keys("2026.2.2")
    assert {
        "server.deploymentStrategy",
        "worker.pdb.minAvailable",
        "global.image.tag",
    } <= chart.keys
    assert unknown_keys({"server": {"strategy": {}}}, chart) == [
        (("server", "strategy"), "deploymentStrategy")
    ]
    with pytest.raises(InputError, match=r"no key list for Authentik chart 2099\.1\.0"):
        chart_keys("2099.1.0")


def test_ini_lines_inside_a_configmap() -> None:
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  pgbouncer.ini: |\n    [pgbouncer]\n    pool_mode = session\n"
    (ini,) = classify([SourceText("cm.yaml", text, True)]).inis
    assert ini.object == "ConfigMap/c" and ini.path == "data.pgbouncer.ini"
    assert ini.line_of("pgbouncer", "pool_mode") == 7
    assert ini.integer("default_pool_size") == 20  # PgBouncer's default


def test_ini_errors_never_echo_the_line() -> None:
    ini = parse_ini("[pgbouncer]\nhunter2 password line\n", "x.ini")
    assert [(p.line, p.message) for p in ini.problems] == [
        (2, "syntax error: expected `key = value`")
    ]
    ini = parse_ini("[pgbouncer]\ndefault_pool_size = many\n", "x.ini")
    assert ini.integer("default_pool_size") is None
    assert "default_pool_size = 'many' is not a whole number" in ini.problems[0].message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2Gi", 2 * 2**30),
        ("2560Mi", 2560 * 2**20),
        ("1.5Gi", 1.5 * 2**30),
        ("100m", 0.1),
        ("1G", 1e9),
        (512, 512.0),
        ("lots", None),
        (True, None),
    ],
)
def test_quantities(value: Any, expected: float | None) -> None:
    assert parse_quantity(value) == expected


@pytest.mark.parametrize(
    ("value", "total", "up", "expected"),
    [
        ("25%", 3, True, 1),
        ("25%", 3, False, 0),
        (2, 3, True, 2),
        ("2", 3, True, 2),
        ("x%", 3, True, None),
    ],
)
def test_int_or_percent(value: Any, total: int, up: bool, expected: int | None) -> None:
    assert scaled(value, total, round_up=up) == expected


def test_cross_file_rules_with_a_standalone_ini(tmp_path: Path, layout: Layout) -> None:
    manifests = layout.manifests_for("prod")
    configmap = yaml.safe_load((manifests / "pgbouncer-configmap.yaml").read_text())
    ini = configmap["data"]["pgbouncer.ini"].replace(
        "default_pool_size = 20", "default_pool_size = 5"
    )
    (tmp_path / "pgbouncer.ini").write_text(ini)
    report = lint_paths(
        [
            manifests / "authentik-values.yaml",
            manifests / "pgbouncer-deployment.yaml",
            tmp_path / "pgbouncer.ini",
        ],
        root=layout.root,
    )
    (capacity,) = [f for f in report.findings if f.rule == "db.capacity"]
    assert "PgBouncer's pool is 3 x (5 + 5) = 30" in capacity.message
    assert (
        capacity.file.endswith("pgbouncer.ini")
        and capacity.line == ini.splitlines().index("default_pool_size = 5") + 1
    )


def test_text_output_is_one_line_per_finding_and_explains_once() -> None:
    findings = [
        finding("image.pinned", "one", file="b.yaml", line=3, object="Deployment/x", path="spec"),
        finding("image.pinned", "two", file="b.yaml", line=9, column=7),
        finding("yaml.style", "three", file="a.yaml", line=1),
        finding("lint.unused-waiver", "four", file="env.yaml"),
    ]
    text = build(findings, files=2, documents=2).to_text()
    lines = text.splitlines()
    flush = [line for line in lines if not line.startswith(" ")]
    assert flush[:4] == [
        "a.yaml:1:1: warning yaml.style three",
        "b.yaml:3:1: error image.pinned one [Deployment/x spec]",
        "b.yaml:9:7: error image.pinned two",
        "env.yaml: warning lint.unused-waiver four",
    ]
    assert text.count(f"fix: {catalogue()['image.pinned'].hint}") == 1
    assert "\x1b[" not in text and "\x1b[31merror\x1b[0m" in build(
        findings, files=2, documents=2
    ).to_text(color=True)
    assert (
        text.splitlines()[-1] == "lint: failed: 2 error(s), 2 warning(s) (2 file(s), 2 document(s))"
    )


def test_json_output_is_a_list_of_findings() -> None:
    report = build(
        [finding("yaml.style", "m", file="a.yaml", line=1).waive("accepted for now")],
        files=1,
        documents=1,
    )
    (item,) = json.loads(report.to_json())
    assert item == {
        "rule": "yaml.style",
        "severity": "warning",
        "file": "a.yaml",
        "line": 1,
        "object": None,
        "path": None,
        "message": "m",
        "hint": catalogue()["yaml.style"].hint,
        "motivation": catalogue()["yaml.style"].motivation,
        "waived": "accepted for now",
        "column": None,
        "origin": None,
    }
    assert json.loads(build([], files=0, documents=0).to_json()) == []


def test_every_rule_says_what_it_catches_the_fix_and_why() -> None:
    # The rule reference (docs) is generated from these fields: none may be empty.
    empty = [
        r.id
        for r in catalogue().values()
        if not (r.title.strip() and r.hint.strip() and r.motivation.strip())
    ]
    assert empty == []


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path] if path else []
    items = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else []
    )
    for key, value in items:
        out.extend(_paths(value, (*path, key)))
    return out


@pytest.mark.parametrize("seed", range(10))
def test_malformed_fields_never_crash_the_rules(prod_texts: dict[str, str], seed: int) -> None:
    """Any field replaced by a value of the wrong shape: a report or one InputError, never a crash.

    150 mutations in ten seeded batches, so that parallel runs spread them over workers.
    """
    import copy
    import random

    from akops.lint import engine
    from akops.lint.style import FALLBACK, _config

    rng = random.Random(20260610 + seed)
    docs = {name: yaml.safe_load(text) for name, text in prod_texts.items()}
    odd = ["x", 3, [], {}, None, ["a"], {"a": 1}, True, "1.5Gi", -1, "25%"]
    for _ in range(15):
        name = rng.choice(sorted(docs))
        doc = copy.deepcopy(docs[name])
        *parents, last = rng.choice(_paths(doc))
        node = doc
        for key in parents:
            node = node[key]
        node[last] = rng.choice(odd)
        texts = {**prod_texts, name: yaml.safe_dump(doc)}
        sources = [SourceText(n, t, True) for n, t in texts.items()]
        try:
            engine.run(sources, engine.Settings(max_connections=100), _config(FALLBACK, "t"))
        except InputError as e:
            assert "\n" not in str(e)
