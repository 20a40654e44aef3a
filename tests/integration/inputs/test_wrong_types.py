"""Values of the wrong type are refused, not coerced, and the line names the field.

YAML's ``true`` is not a replica count, ``"5432"`` not a port, ``3.0`` not an integer, ``1``
not a boolean; a lax schema took each as something else (``replicas: true`` became 1) and the
error that followed named the top level. Every model read from a file is strict, and a
check across fields names the field it is about (``pgbouncer.pdb_min_available``).

The cases cover environment files, runbooks and scenarios from the CLI; Lease fields and
saved plans are held the same way in tests/unit/cluster and tests/integration/cluster, the
registry's and the chart repository's answers here (their peers answer odd JSON/YAML).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from akops.layout import Layout
from tests.integration.inputs.contract import Runner, held
from tests.integration.inputs.peers import static_peer

pytestmark = pytest.mark.integration

Setup = Callable[[Layout], None]
ENV = "environments/prod.yaml"
RENDER = ("render", "--env", "prod", "--check")


def edit(rel: str, old: str, new: str) -> Setup:
    def setup(repo: Layout) -> None:
        path = repo.root / rel
        text = path.read_text()
        assert old in text, old
        path.write_text(text.replace(old, new, 1))

    return setup


def line_of(repo: Layout, rel: str, needle: str) -> int:
    lines = (repo.root / rel).read_text().splitlines()
    return next(i for i, ln in enumerate(lines, 1) if needle in ln)


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]
    field: str
    setup: Setup
    file: str
    needle: str  # text on the line the error must name (after the edit)


PGB_REPLICAS = "  replicas: 3\n  pdb_min_available: 2\n  resources:\n    cpu_request: 50m"


def pgb(value: str) -> Setup:
    return edit(ENV, PGB_REPLICAS, PGB_REPLICAS.replace("replicas: 3", f"replicas: {value}", 1))


CASES = [
    Case(
        "replicas-true",
        RENDER,
        "pgbouncer.replicas: Input should be a valid integer",
        pgb("true"),
        ENV,
        "replicas: true",
    ),
    Case("replicas-float", RENDER, "pgbouncer.replicas", pgb("3.0"), ENV, "replicas: 3.0"),
    Case("replicas-string", RENDER, "pgbouncer.replicas", pgb('"3"'), ENV, 'replicas: "3"'),
    Case(
        "port-string",
        RENDER,
        "upstream.port: Input should be a valid integer",
        edit(ENV, "port: 5432", 'port: "5432"'),
        ENV,
        'port: "5432"',
    ),
    Case(
        "bool-number",
        RENDER,
        "authentik.conn_health_checks: Input should be a valid boolean",
        edit(ENV, "conn_health_checks: true", "conn_health_checks: 1"),
        ENV,
        "conn_health_checks: 1",
    ),
    Case(
        "bool-yes-string",
        RENDER,
        "authentik.conn_health_checks: Input should be a valid boolean",
        edit(ENV, "conn_health_checks: true", 'conn_health_checks: "yes"'),
        ENV,
        'conn_health_checks: "yes"',
    ),
    Case(
        "timeout-string",
        RENDER,
        "kube.api_timeout: Input should be a valid number",
        edit(ENV, "api_timeout: 10", 'api_timeout: "10"'),
        ENV,
        'api_timeout: "10"',
    ),
    Case(
        "cross-field-names-its-field",
        RENDER,
        "pgbouncer.pdb_min_available: 5 exceeds pgbouncer.replicas (3)",
        edit(ENV, "pdb_min_available: 2", "pdb_min_available: 5"),
        ENV,
        "pdb_min_available: 5",
    ),
    Case(
        "runbook-timeout-string",
        ("runbook.show", "deploy"),
        "timeout: Input should be a valid number",
        edit("runbooks/deploy.yaml", "timeout: 120", 'timeout: "120"'),
        "runbooks/deploy.yaml",
        'timeout: "120"',
    ),
    Case(
        "scenario-bool-number",
        ("rehearse", "pool-exhaustion", "--env", "prod"),
        "throughout: Input should be a valid boolean",
        edit("rehearsals/pool-exhaustion.yaml", "throughout: true", "throughout: 1"),
        "rehearsals/pool-exhaustion.yaml",
        "throughout: 1",
    ),
    Case(
        "scenario-factor-string",
        ("rehearse", "pool-exhaustion", "--env", "prod"),
        "time_factor: Input should be a valid number",
        edit("rehearsals/pool-exhaustion.yaml", "time_factor: 10", 'time_factor: "10"'),
        "rehearsals/pool-exhaustion.yaml",
        'time_factor: "10"',
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_wrong_type_is_refused_at_its_line(case: Case, repo: Layout, tmp_path: Path) -> None:
    case.setup(repo)
    where = f"{case.file}:{line_of(repo, case.file, case.needle)}"
    env = {"KUBECONFIG": str(tmp_path / "absent")}
    result = Runner(repo.root)(*case.argv, env=env, guard=120)
    held(result, case.argv[0], (where, case.field))


# --- answers of the wrong shape from a registry and a chart repository ---------------------


@pytest.mark.parametrize(
    ("answer", "parts"),
    [
        (b'{"token": 12345}', ("token: Input should be a valid string",)),
        (b'{"token": "a b\\u001b[2J"}', ("token: String should match pattern",)),
        (b'["token"]', ("is not a token",)),
        (b"{}", ("answered no token",)),
    ],
    ids=["token-number", "token-escape", "token-list", "no-token"],
)
def test_an_odd_token_answer_is_one_line(
    answer: bytes, parts: tuple[str, ...], repo: Layout
) -> None:
    tokens_answers = {"/token": (200, {"Content-Type": "application/json"}, answer)}
    with static_peer(tokens_answers) as tokens:
        realm = f"http://{tokens.host}/token"
        challenge = f'Bearer realm="{realm}",service="s",scope="repository:x:pull"'
        manifest = "/v2/edoburu/pgbouncer/manifests/v1.24.1-p1"
        with static_peer({manifest: (401, {"WWW-Authenticate": challenge}, b"")}) as registry:
            _images_at(repo, registry.host)
            result = Runner(repo.root)(
                "images.pin", "--env", "prod", "--dry-run", "--timeout", "5", guard=60
            )
    held(result, "images.pin", (registry.host, *parts))


def _images_at(repo: Layout, host: str) -> None:
    path = repo.environments / "prod.yaml"
    text = path.read_text()
    for image in ("edoburu/pgbouncer:v1.24.1-p1", "prometheuscommunity/pgbouncer-exporter:v0.12.1"):
        text = text.replace(f"image: {image}", f"image: {host}/{image}", 1)
    tag = "  image_tag: 2026.2.2\n"
    text = text.replace(tag, f"{tag}  image_repository: {host}/goauthentik/server\n", 1)
    path.write_text(text)


@pytest.mark.parametrize(
    ("index", "parts"),
    [
        (b"entries: 5\n", ("index.yaml:1: entries: Input should be a valid dictionary",)),
        (b"entries:\n  authentik: {version: x}\n", ("index.yaml:2: entries.authentik",)),
        (
            b"entries:\n  authentik:\n  - version: 2026.2.2\n    digest: [1]\n",
            ("index.yaml:4: entries.authentik[0].digest",),
        ),
        (b"- a\n- b\n", ("index.yaml:1:", "not a mapping")),
        (b"entries: [\n", ("index.yaml:", "invalid YAML")),
    ],
    ids=["entries-number", "versions-mapping", "digest-list", "a-list", "not-yaml"],
)
def test_an_odd_chart_index_is_one_line_naming_the_field(
    index: bytes, parts: tuple[str, ...], repo: Layout, tmp_path: Path, real_helm: Path
) -> None:
    with static_peer({"/index.yaml": (200, {}, index)}) as peer:
        path = repo.environments / "prod.yaml"
        text = path.read_text().replace("repo: https://charts.goauthentik.io/", f"repo: {peer.url}")
        path.write_text(text)
        env = {
            "PATH": f"{real_helm.parent}{os.pathsep}{os.environ['PATH']}",
            "AKOPS_CACHE_DIR": str(tmp_path / "cache"),
        }
        result = Runner(repo.root)("chart.pull", "--env", "prod", "--timeout", "5", env=env)
    held(result, "chart.pull", parts)
