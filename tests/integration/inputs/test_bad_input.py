"""Bad input at every entry point: one line naming the file, line, field or flag; exit 2.

Each case sets up one kind of bad input an operator can produce (by classes: syntax,
schema, injection, ranges, non-finite numbers, YAML bombs and depth, binary and unreadable
files, symlink loops, template runtime errors, malformed kubeconfigs, secrets files) and
runs the real `invoke` in a scratch copy of the repository. Every case asserts the exit
code, exactly one stderr line, no traceback, and the parts that locate the problem.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from akops.layout import Layout

CANARY = "canary-Bq7Lm2Xc9"
SECRETS = {"AKOPS_PROD_POSTGRES_PASSWORD": CANARY, "AKOPS_PROD_AUTHENTIK_TOKEN": CANARY}
BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"l{i}: &l{i} [{', '.join([f'*{p}'] * 10)}]\n"
    for i, p in enumerate(["a", "l0", "l1", "l2", "l3", "l4", "l5"])
)
DEEP = "".join("  " * i + "a:\n" for i in range(300)) + "  " * 300 + "b\n"

Setup = Callable[[Layout, Path], dict[str, str] | None]


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]
    parts: tuple[str, ...]
    setup: Setup = field(default=lambda repo, tmp: None)
    code: int = 2


def edit_env(old: str, new: str, env: str = "prod") -> Setup:
    """Replace ``old`` (which must occur) by ``new`` in environments/ENV.yaml."""

    def setup(repo: Layout, tmp: Path) -> None:
        path = repo.environments / f"{env}.yaml"
        text = path.read_text()
        assert old in text, old
        path.write_text(text.replace(old, new, 1))

    return setup


def write_env_tail(text: str) -> Setup:
    """Append ``text`` (top-level fields) to environments/prod.yaml."""

    def setup(repo: Layout, tmp: Path) -> None:
        path = repo.environments / "prod.yaml"
        path.write_text(path.read_text() + text)

    return setup


def write(rel: str, content: str | bytes) -> Setup:
    def setup(repo: Layout, tmp: Path) -> None:
        path = repo.root / rel
        if path.parent.is_file():  # make room: a file where the case wants a directory
            path.parent.unlink()
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)

    return setup


def symlink_loop(rel: str) -> Setup:
    def setup(repo: Layout, tmp: Path) -> None:
        path = repo.root / rel
        if path.exists() or path.is_symlink():
            path.unlink()
        path.symlink_to(path.name)

    return setup


def kubeconfig(content: str | bytes) -> Setup:
    def setup(repo: Layout, tmp: Path) -> dict[str, str]:
        path = tmp / "kubeconfig"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        return {"KUBECONFIG": str(path), **SECRETS}

    return setup


def secrets_file(content: str | bytes) -> Setup:
    """prod's database password read from a secrets file outside the repository.

    ``plan`` resolves it before any API call (``rollout`` needs no secret at all).
    """

    def setup(repo: Layout, tmp: Path) -> dict[str, str]:
        path = tmp / "secrets.yaml"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        edit_env(
            "postgres_password: {env: AKOPS_PROD_POSTGRES_PASSWORD}",
            f"postgres_password: {{file: {path}, key: postgres_password}}",
        )(repo, tmp)
        good = tmp / "kubeconfig"
        good.write_text(GOOD_KUBECONFIG)
        return {"KUBECONFIG": str(good), "AKOPS_PROD_AUTHENTIK_TOKEN": CANARY}

    return setup


GOOD_KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:1"}
users:
- name: u
  user: {token: t}
contexts:
- name: kubernetes-admin@kubernetes
  context: {cluster: c, user: u}
current-context: kubernetes-admin@kubernetes
"""

RENDER = ("render", "--env", "prod", "--check")
ENV = "environments/prod.yaml"

CASES = [
    # --- the environment file: syntax and schema ---
    Case("env-unknown", ("render", "--env", "nope"), ("unknown environment 'nope'", "prod")),
    Case("env-traversal", ("render", "--env", "../etc/passwd"), ("unknown environment",)),
    Case("env-yaml-syntax", RENDER, (f"{ENV}:7", "invalid YAML"), edit_env("kube:", "kube: [")),
    Case(
        "env-unknown-field",
        RENDER,
        (f"{ENV}:", "pgbouncer.replica", "unknown field"),
        edit_env("  replicas: 3\n  pdb", "  replica: 3\n  replicas: 3\n  pdb"),
    ),
    Case(
        "env-missing-field",
        RENDER,
        ("upstream.max_connections", "required field is missing"),
        edit_env("  max_connections: 100\n", ""),
    ),
    Case(
        "env-wrong-type",
        RENDER,
        (f"{ENV}:", "pgbouncer.replicas"),
        edit_env(
            "  replicas: 3\n  pdb_min_available: 2\n  resources:\n    cpu_request: 50m",
            "  replicas: three\n  pdb_min_available: 2\n  resources:\n    cpu_request: 50m",
        ),
    ),
    Case("env-top-level-list", RENDER, (f"{ENV}:", "expected a mapping"), write(ENV, "- a\n- b\n")),
    Case("env-empty", RENDER, (ENV, "expected one YAML document"), write(ENV, "")),
    Case(
        "env-name-mismatch",
        RENDER,
        (f"{ENV}:", "does not match the file name"),
        edit_env("name: prod", "name: staging"),
    ),
    Case(
        "env-secrets-file-in-repo",
        RENDER,
        ("secrets.postgres_password.file", "must be outside the repository"),
        edit_env(
            "{env: AKOPS_PROD_POSTGRES_PASSWORD}", "{file: secrets.yaml, key: postgres_password}"
        ),
    ),
    # --- injection: strings that would add lines or labels to rendered files ---
    Case(
        "inject-newline-upstream-host",
        RENDER,
        (f"{ENV}:", "upstream.host", "must be a DNS name"),
        edit_env("host: postgresql.dbaas", 'host: "postgresql.dbaas\\nauth_type = trust"'),
    ),
    Case(
        "inject-newline-authentik-host",
        RENDER,
        ("authentik.host", "DNS name"),
        edit_env("host: authentik.viktorbarzin.me", 'host: "a.example\\nb"'),
    ),
    Case(
        "inject-newline-runs-dir",
        RENDER,
        ("runs_dir", "U+000A"),
        write_env_tail('runs_dir: "runs\\nx"\n'),
    ),
    Case(
        "inject-bell-kube-context",
        RENDER,
        ("kube.context", "U+0007"),
        edit_env("context: kubernetes-admin@kubernetes", 'context: "admin\\a"'),
    ),
    Case(
        "inject-nul-description",
        RENDER,
        ("description", "U+0000"),
        edit_env(
            "description: Production cluster;",
            'description: "Production \\0 cluster"\n#',
        ),
    ),
    Case(
        "inject-line-separator-waiver-reason",
        ("render", "--env", "lab", "--check"),
        ("lint.waivers[0].reason", "U+2028"),
        edit_env(
            "reason: two-node lab cluster;",
            'reason: "two-node lab cluster\\L more"\n      #',
            env="lab",
        ),
    ),
    Case(
        "inject-folded-reason-newline",
        ("render", "--env", "lab", "--check"),
        ("lint.waivers[0].reason", "U+000A", "'>-'"),
        edit_env(
            "reason: two-node lab cluster;",
            "reason: >\n        two-node lab cluster;",
            env="lab",
        ),
    ),
    Case(
        "inject-tab-in-secret-name",
        RENDER,
        ("secrets", "U+0009"),
        edit_env(
            "  postgres_password: {env",
            '  "postgres_password\\t": {env: X}\n  postgres_password: {env',
        ),
    ),
    Case(
        "label-value-outpost-name",
        RENDER,
        ("authentik.outpost.name", "should match pattern"),
        edit_env("name: authentik-embedded-outpost", "name: embedded outpost"),
    ),
    Case(
        "label-value-tier",
        RENDER,
        ("kube.tier",),
        edit_env("tier: 1-cluster", "tier: 1-cluster-"),
    ),
    Case(
        "image-reference",
        RENDER,
        ("pgbouncer.image", "should match pattern"),
        edit_env("image: edoburu/pgbouncer:v1.24.1-p1", 'image: "edoburu/pgbouncer:v1 latest"'),
    ),
    Case(
        "image-uppercase-repo",
        RENDER,
        ("pgbouncer.image",),
        edit_env("image: edoburu/pgbouncer:v1.24.1-p1", "image: Edoburu/PgBouncer:v1"),
    ),
    Case(
        "dns-namespace",
        RENDER,
        ("kube.namespace", "should match pattern"),
        edit_env("namespace: authentik", "namespace: Auth_NS"),
    ),
    Case(
        "sql-identifier-database",
        RENDER,
        ("upstream.database", "should match pattern"),
        edit_env("database: authentik", 'database: "authentik pool_mode=transaction"'),
    ),
    Case(
        "url-outpost-api",
        RENDER,
        ("authentik.outpost.api.url", "http:// or https://"),
        edit_env("url: https://authentik.viktorbarzin.me", "url: ftp://authentik"),
    ),
    Case(
        "url-protected-service",
        RENDER,
        ("verify.protected_services", "http:// or https://"),
        edit_env("- https://wealthfolio.viktorbarzin.me/", "- wealthfolio"),
    ),
    # --- ranges and numbers ---
    Case(
        "int32-replicas",
        RENDER,
        ("pgbouncer.replicas", "int32"),
        edit_env(
            "  replicas: 3\n  pdb_min_available: 2\n  resources:\n    cpu_request: 50m",
            "  replicas: 3000000000\n  pdb_min_available: 2\n  resources:\n    cpu_request: 50m",
        ),
    ),
    Case(
        "port-range",
        RENDER,
        ("upstream.port", "less than or equal to 65535"),
        edit_env("port: 5432", "port: 70000"),
    ),
    Case(
        "non-finite-inf",
        RENDER,
        ("kube.api_timeout", "finite"),
        edit_env("api_timeout: 10", "api_timeout: .inf"),
    ),
    Case(
        "non-finite-nan",
        RENDER,
        ("kube.rollout_timeout", "finite"),
        edit_env("rollout_timeout: 600", "rollout_timeout: .nan"),
    ),
    # --- YAML bombs, depth, binary, unreadable ---
    Case("env-alias-bomb", RENDER, (f"{ENV}:1", "alias bomb"), write(ENV, BOMB)),
    Case("env-too-deep", RENDER, (f"{ENV}:", "nested deeper than"), write(ENV, DEEP)),
    Case("env-binary", RENDER, (ENV, "not UTF-8"), write(ENV, b"\xff\xfe\x00binary\x8f")),
    Case("env-symlink-loop", RENDER, (ENV, "symbolic links"), symlink_loop(ENV)),
    Case("env-is-directory", RENDER, (ENV, "is a directory"), write(f"{ENV}/x", "x")),
    # --- templates ---
    Case(
        "template-undefined",
        RENDER,
        ("templates/pgbouncer/pgbouncer.ini.j2:", "undefined variable"),
        write("templates/pgbouncer/pgbouncer.ini.j2", "a = {{ env.nope }}\n"),
    ),
    Case(
        "template-syntax",
        RENDER,
        ("templates/pgbouncer/pgbouncer.ini.j2:2", "template syntax error"),
        write("templates/pgbouncer/pgbouncer.ini.j2", "ok\n{% if %}\n"),
    ),
    Case(
        "template-runtime-error",
        RENDER,
        ("templates/pgbouncer/pgbouncer.ini.j2:2", "ZeroDivisionError"),
        write("templates/pgbouncer/pgbouncer.ini.j2", "ok\n{{ 1 // 0 }}\n"),
    ),
    Case(
        "template-bad-call",
        RENDER,
        ("templates/pgbouncer/pgbouncer.ini.j2:1", "template error", "TypeError"),
        write("templates/pgbouncer/pgbouncer.ini.j2", "{{ env.upstream.host.split(1, 2, 3) }}\n"),
    ),
    Case(
        "template-binary",
        RENDER,
        ("templates/pgbouncer/pgbouncer.ini.j2", "not UTF-8"),
        write("templates/pgbouncer/pgbouncer.ini.j2", b"\xff\xfe{{ x }}\x8f"),
    ),
    # --- kubeconfig (before any network call) ---
    Case(
        "kubeconfig-yaml-syntax",
        ("rollout", "--env", "prod"),
        ("kubeconfig", ":3", "invalid YAML"),
        kubeconfig("apiVersion: v1\nclusters: [\n"),
    ),
    Case(
        "kubeconfig-contexts-not-a-list",
        ("rollout", "--env", "prod"),
        ("kubeconfig", ":2", "contexts: expected a list"),
        kubeconfig("apiVersion: v1\ncontexts: 5\n"),
    ),
    Case(
        "kubeconfig-context-without-mapping",
        ("rollout", "--env", "prod"),
        ("kubeconfig", "contexts[0].context: expected a mapping"),
        kubeconfig("contexts:\n- name: kubernetes-admin@kubernetes\n  context: oops\n"),
    ),
    Case(
        "kubeconfig-dangling-cluster",
        ("rollout", "--env", "prod"),
        ("kubeconfig", "Expected object with name nope"),
        kubeconfig(GOOD_KUBECONFIG.replace("cluster: c, user: u", "cluster: nope, user: u")),
    ),
    Case(
        "kubeconfig-binary",
        ("rollout", "--env", "prod"),
        ("kubeconfig", "not UTF-8"),
        kubeconfig(b"\x8f\xff\x00\x01"),
    ),
    Case(
        "kubeconfig-alias-bomb",
        ("rollout", "--env", "prod"),
        ("kubeconfig", "alias bomb"),
        kubeconfig(BOMB),
    ),
    Case(
        "kubeconfig-wrong-context",
        ("rollout", "--env", "prod"),
        ("current kube context is 'other'", "--context"),
        kubeconfig(
            GOOD_KUBECONFIG.replace(
                "current-context: kubernetes-admin@kubernetes", "current-context: other"
            ).replace("- name: kubernetes-admin@kubernetes", "- name: other")
        ),
    ),
    # --- secrets files ---
    Case(
        "secrets-file-binary",
        ("plan", "--env", "prod", "--skip-helm"),
        ("secret 'postgres_password'", "not UTF-8"),
        secrets_file(b"\xff\xfepassword\x8f"),
    ),
    Case(
        "secrets-file-missing-key",
        ("plan", "--env", "prod", "--skip-helm"),
        ("secret 'postgres_password'", "no non-empty string at key"),
        secrets_file("other: x\n"),
    ),
    Case(
        "secrets-file-bad-yaml",
        ("plan", "--env", "prod", "--skip-helm"),
        ("secret 'postgres_password'", "cannot read secrets file"),
        secrets_file(f"postgres_password: [{CANARY}\n"),
    ),
    # --- lint --path inputs ---
    Case("lint-missing-path", ("lint", "--path", "no/such/file.yaml"), ("no/such/file.yaml",)),
    Case(
        "lint-alias-bomb",
        ("lint", "--path", "x.yaml"),
        ("x.yaml:1", "alias bomb"),
        write("x.yaml", BOMB),
    ),
    Case(
        "lint-too-deep",
        ("lint", "--path", "x.yaml"),
        ("x.yaml:", "nested deeper than"),
        write("x.yaml", DEEP),
    ),
    Case(
        "lint-binary",
        ("lint", "--path", "x.yaml"),
        ("x.yaml", "not UTF-8"),
        write("x.yaml", b"\xff\xfe\x00\x8f"),
    ),
    Case("lint-symlink-loop", ("lint", "--path", "x.yaml"), ("x.yaml",), symlink_loop("x.yaml")),
    # --- runbooks ---
    Case("runbook-unknown", ("runbook.show", "nope"), ("nope",)),
    Case(
        "runbook-alias-bomb",
        ("runbook.show", "deploy"),
        ("runbooks/deploy.yaml:1", "alias bomb"),
        write("runbooks/deploy.yaml", BOMB),
    ),
    Case(
        "runbook-binary",
        ("runbook.show", "deploy"),
        ("runbooks/deploy.yaml", "not UTF-8"),
        write("runbooks/deploy.yaml", b"\xff\xfe\x00\x8f"),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_line(
    case: Case,
    cli: Callable[..., object],
    repo: Layout,
    tmp_path: Path,
    one_line_error: Callable[..., str],
) -> None:
    extra = case.setup(repo, tmp_path) or {}
    # No ambient credentials or kubeconfig leak into a case that did not ask for them.
    env = {"KUBECONFIG": str(tmp_path / "absent"), **extra}
    result = cli(*case.argv, env=env, timeout=60)
    line = one_line_error(result, case.parts, code=case.code)
    assert CANARY not in result.stdout + result.stderr, line


def test_the_suite_covers_every_entry_point_class() -> None:
    assert len(CASES) >= 40
    assert {c.argv[0] for c in CASES} >= {"render", "rollout", "lint", "runbook.show"}
