"""`invoke render` as operators run it: drift gate, secrets, and one-line errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from akops.layout import Layout
from akops.secrets import Secrets

CANARY = "canary-Zq8vX3pL0w9"


def test_render_then_check_is_clean(cli: Callable[..., object], repo: Layout) -> None:
    rendered = cli("render", "--env", "prod")
    assert rendered.returncode == 0, rendered.stderr
    checked = cli("render", "--env", "prod", "--check")
    assert checked.returncode == 0, checked.stderr
    assert "up to date" in checked.stdout


@pytest.mark.parametrize(
    "name",
    [
        "pgbouncer-deployment.yaml",
        "pgbouncer-configmap.yaml",
        "authentik-values.yaml",
        "outpost-patches.yaml",
        "pgbouncer-secret.yaml",
        "pgbouncer-pdb.yaml",
        "pgbouncer-service.yaml",
    ],
)
def test_editing_a_manifest_fails_the_check_with_a_diff(
    cli: Callable[..., object], repo: Layout, name: str
) -> None:
    path = repo.manifests_for("prod") / name
    path.write_text(path.read_text() + "# hand edit\n")
    result = cli("render", "--env", "prod", "--check")
    assert result.returncode == 1
    assert f"--- manifests/prod/{name} (committed)" in result.stdout
    assert "-# hand edit" in result.stdout
    assert name in result.stderr and "invoke render --env prod" in result.stderr


def test_dry_run_shows_the_diff_and_writes_nothing(
    cli: Callable[..., object], repo: Layout
) -> None:
    path = repo.manifests_for("prod") / "pgbouncer-pdb.yaml"
    edited = path.read_text() + "# hand edit\n"
    path.write_text(edited)
    result = cli("render", "--env", "prod", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "-# hand edit" in result.stdout
    assert "would change 1 file(s)" in result.stdout
    assert path.read_text() == edited


def test_missing_and_stale_manifests_are_drift(cli: Callable[..., object], repo: Layout) -> None:
    target = repo.manifests_for("prod")
    (target / "pgbouncer-pdb.yaml").unlink()
    (target / "leftover.yaml").write_text("kind: ConfigMap\n")
    result = cli("render", "--env", "prod", "--check")
    assert result.returncode == 1
    assert "+++ manifests/prod/pgbouncer-pdb.yaml (rendered)" in result.stdout
    assert "+++ /dev/null" in result.stdout and "leftover.yaml" in result.stdout
    # render itself repairs both
    assert cli("render", "--env", "prod").returncode == 0
    assert not (target / "leftover.yaml").exists()
    assert cli("render", "--env", "prod", "--check").returncode == 0


def test_no_secret_reaches_manifests(cli: Callable[..., object], repo: Layout) -> None:
    # The canary is what apply would inject; render must never see or write it.
    env = {
        "AKOPS_PROD_POSTGRES_PASSWORD": CANARY,
        "AKOPS_PROD_AUTHENTIK_TOKEN": CANARY + "t",
        "AKOPS_PROD_STATS_PASSWORD": CANARY + "s",
    }
    for name in ("prod", "lab"):
        result = cli("render", "--env", name, env=env)
        assert result.returncode == 0, result.stderr
        assert CANARY not in result.stdout + result.stderr
    files = [p for p in repo.manifests.rglob("*") if p.is_file()]
    assert len(files) >= 14
    for path in files:
        text = path.read_text()
        assert CANARY not in text, path
    secret = (repo.manifests_for("prod") / "pgbouncer-secret.yaml").read_text()
    # ...and the placeholder it leaves is the one apply replaces with the real value.
    injected = Secrets({"postgres_password": CANARY, "stats_password": CANARY + "s"}).inject(secret)
    assert CANARY in injected
    # The exporter's key holds the stats-only user's password, never the application's.
    stats = yaml.safe_load(injected)["stringData"]["stats-password"]
    assert stats == CANARY + "s"


def test_unknown_environment_lists_the_known_ones(
    cli: Callable[..., object], one_line_error: Callable[..., str]
) -> None:
    one_line_error(
        cli("render", "--env", "staging"), ["unknown environment 'staging'", "known: lab, prod"]
    )


def test_malformed_yaml_names_file_and_line(
    cli: Callable[..., object], repo: Layout, one_line_error: Callable[..., str]
) -> None:
    path = repo.environments / "prod.yaml"
    lines = path.read_text().splitlines()
    lines.insert(4, "kube: [unclosed")
    path.write_text("\n".join(lines) + "\n")
    one_line_error(cli("render", "--env", "prod"), ["environments/prod.yaml:6", "invalid YAML"])


def test_empty_environment_file(
    cli: Callable[..., object], repo: Layout, one_line_error: Callable[..., str]
) -> None:
    (repo.environments / "prod.yaml").write_text("# nothing\n")
    one_line_error(
        cli("render", "--env", "prod"), ["environments/prod.yaml", "expected one YAML document"]
    )


@pytest.mark.parametrize(
    ("old", "new", "parts"),
    [
        (
            "  replicas: 3\n  pdb_min_available: 2\n  resources:\n    cpu_request: 50m",
            "  replicas: three\n  pdb_min_available: 2\n  resources:\n    cpu_request: 50m",
            ["environments/prod.yaml:24", "pgbouncer.replicas", "integer"],
        ),
        (
            "    pool_mode: session",
            "    pool_mode: sessions",
            ["environments/prod.yaml:", "pgbouncer.settings.pool_mode", "'session'"],
        ),
        (
            "  tier: 1-cluster\n",
            "  tier: 1-cluster\n  teir: 2\n",
            ["environments/prod.yaml:9", "kube.teir", "unknown field"],
        ),
        (
            "upstream:\n  host: postgresql.dbaas\n",
            "upstream:\n",
            ["environments/prod.yaml:13", "upstream.host", "required field is missing"],
        ),
        (
            "      token: {env: AKOPS_PROD_AUTHENTIK_TOKEN}",
            "      token: {}",
            ["authentik.outpost.api.token", "exactly one of 'env' or 'file'"],
        ),
    ],
    ids=["wrong-type", "bad-choice", "unknown-field", "missing-field", "bad-secret-ref"],
)
def test_schema_violation_names_field_and_line(
    cli: Callable[..., object],
    repo: Layout,
    one_line_error: Callable[..., str],
    old: str,
    new: str,
    parts: list[str],
) -> None:
    path = repo.environments / "prod.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    one_line_error(cli("render", "--env", "prod"), parts)


def test_undefined_template_variable_names_template_line_and_name(
    cli: Callable[..., object], repo: Layout, one_line_error: Callable[..., str]
) -> None:
    path = repo.templates / "pgbouncer" / "service.yaml.j2"
    lines = path.read_text().splitlines()
    lines.insert(10, "  clusterIP: {{ env.pgbouncer.cluster_ip }}")
    path.write_text("\n".join(lines) + "\n")
    one_line_error(
        cli("render", "--env", "prod"),
        ["templates/pgbouncer/service.yaml.j2:11", "undefined variable", "cluster_ip"],
    )


def test_template_syntax_error_names_template_and_line(
    cli: Callable[..., object], repo: Layout, one_line_error: Callable[..., str]
) -> None:
    path = repo.templates / "pgbouncer" / "pdb.yaml.j2"
    path.write_text(
        path.read_text().replace(
            "{{ env.pgbouncer.pdb_min_available }}", "{{ env.pgbouncer.pdb_min_available }"
        )
    )
    one_line_error(
        cli("render", "--env", "prod"),
        ["templates/pgbouncer/pdb.yaml.j2:10", "template syntax error"],
    )


def test_undefined_secret_in_a_template(
    cli: Callable[..., object], repo: Layout, one_line_error: Callable[..., str]
) -> None:
    path: Path = repo.templates / "pgbouncer" / "userlist.txt.j2"
    path.write_text(path.read_text() + '"admin" "{{ secret("admin_password") }}"\n')
    one_line_error(
        cli("render", "--env", "prod"), ["secret 'admin_password'", "not defined under 'secrets:'"]
    )


def test_secrets_file_inside_the_repository_is_refused(
    cli: Callable[..., object], repo: Layout, one_line_error: Callable[..., str]
) -> None:
    path = repo.environments / "lab.yaml"
    text = path.read_text()
    path.write_text(
        text.replace("~/.config/akops/lab-secrets.yaml", "environments/lab-secrets.yaml")
    )
    one_line_error(
        cli("render", "--env", "lab"),
        ["environments/lab.yaml:", "secrets.postgres_password.file", "outside the repository"],
    )


def _set_image_tag(repo: Layout, env: str, tag: str, reason: str | None = None) -> None:
    path = repo.environments / f"{env}.yaml"
    text = path.read_text(encoding="utf-8")
    assert "  image_tag: 2026.2.2\n" in text
    extra = f"  version_split_reason: {reason}\n" if reason else ""
    path.write_text(text.replace("  image_tag: 2026.2.2\n", f"  image_tag: {tag}\n{extra}"))


def test_a_chart_image_version_split_is_refused_naming_file_line_and_both_versions(
    cli: Callable[..., object], repo: Layout, one_line_error: Callable[..., str]
) -> None:
    _set_image_tag(repo, "prod", "2026.2.1")
    line_no = next(
        i
        for i, line in enumerate((repo.environments / "prod.yaml").read_text().splitlines(), 1)
        if line.startswith("  image_tag:")
    )
    for task in ("render", "lint"):
        result = cli(task, "--env", "prod")
        one_line_error(
            result,
            [
                f"environments/prod.yaml:{line_no}: authentik.image_tag",
                "chart 2026.2.2 and image 2026.2.1 differ",
                "authentik.version_split_reason",
            ],
        )
    assert "2026.2.1" not in (repo.manifests_for("prod") / "authentik-values.yaml").read_text()


def test_a_split_with_a_stated_reason_renders(cli: Callable[..., object], repo: Layout) -> None:
    _set_image_tag(repo, "lab", "2026.2.3", reason="rehearsing the 2026.2.3 image before its chart")
    result = cli("render", "--env", "lab")
    assert result.returncode == 0, result.stderr
    assert '"2026.2.3"' in (repo.manifests_for("lab") / "authentik-values.yaml").read_text()


def test_a_stale_split_reason_is_refused(
    cli: Callable[..., object], repo: Layout, one_line_error: Callable[..., str]
) -> None:
    _set_image_tag(repo, "lab", "2026.2.2", reason="left over from an earlier split")
    one_line_error(
        cli("render", "--env", "lab"),
        ["environments/lab.yaml:", "authentik.version_split_reason", "remove the stale reason"],
    )
