"""`invoke images.pin` / `images.check` against a real registry on 127.0.0.1 (skopeo pushes)."""

from __future__ import annotations

import hashlib
import socket
import subprocess
from collections.abc import Callable

import pytest

from akops.errors import RegistryError
from akops.images.reference import parse_image
from akops.images.resolve import resolve_digest
from akops.layout import Layout
from tests.integration.images.conftest import Registry, TokenFront

PGB_TAG = "v1.24.1-p1"
AK_TAG = "2026.2.2"
EXPORTER = "prometheuscommunity/pgbouncer-exporter"
EXPORTER_TAG = "v0.12.1"
SHM = "prometheus/node-exporter"  # the outpost's /dev/shm sidecar, from quay.io
SHM_TAG = "v1.9.1"


def _point_lab_at(
    repo: Layout,
    host: str,
    pgbouncer: str = "edoburu/pgbouncer",
    authentik: str = "goauthentik/server",
    exporter: str = EXPORTER,
    shm: str = SHM,
) -> None:
    """lab's images (PgBouncer, Authentik, the two exporter sidecars), same tags, on ``host``."""
    path = repo.environments / "lab.yaml"
    text = path.read_text(encoding="utf-8")
    old_pgb = f"  image: edoburu/pgbouncer:{PGB_TAG}\n"
    old_ak = f"  image_tag: {AK_TAG}\n"
    old_x = f"    image: {EXPORTER}:{EXPORTER_TAG}\n"
    old_shm = f"    image: quay.io/{SHM}:{SHM_TAG}\n"
    assert old_pgb in text and old_ak in text and old_x in text and old_shm in text
    text = text.replace(old_shm, f"    image: {host}/{shm}:{SHM_TAG}\n")
    text = text.replace(old_pgb, f"  image: {host}/{pgbouncer}:{PGB_TAG}\n")
    text = text.replace(old_x, f"    image: {host}/{exporter}:{EXPORTER_TAG}\n")
    text = text.replace(old_ak, f"  image_repository: {host}/{authentik}\n{old_ak}")
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def pushed(registry: Registry, repo: Layout, request: pytest.FixtureRequest) -> dict[str, str]:
    """lab points at the local registry, where its images were just pushed (own paths)."""
    prefix = "t" + hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:12]
    pgb = registry.push(f"{prefix}/pgbouncer", PGB_TAG, f"{prefix} pgbouncer".encode())
    ak = registry.push(f"{prefix}/goauthentik/server", AK_TAG, f"{prefix} authentik".encode())
    x = registry.push(f"{prefix}/{EXPORTER}", EXPORTER_TAG, f"{prefix} exporter".encode())
    shm = registry.push(f"{prefix}/{SHM}", SHM_TAG, f"{prefix} shm exporter".encode())
    _point_lab_at(
        repo,
        registry.host,
        f"{prefix}/pgbouncer",
        f"{prefix}/goauthentik/server",
        f"{prefix}/{EXPORTER}",
        f"{prefix}/{SHM}",
    )
    return {
        "pgbouncer": pgb,
        "authentik": ak,
        "exporter": x,
        "shm": shm,
        "prefix": prefix,
        "host": registry.host,
    }


def test_resolve_answers_the_digest_the_client_pushed(registry: Registry) -> None:
    digest = registry.push("lib/app", "v1", b"one")
    assert resolve_digest(parse_image(f"{registry.host}/lib/app:v1"), timeout=5) == digest
    # And the registry's own view through skopeo agrees: an independent client.
    inspected = subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", "--format", "{{.Digest}}",
         f"docker://{registry.host}/lib/app:v1"],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    assert inspected.stdout.strip() == digest


def test_a_multi_platform_tag_resolves_to_its_index(registry: Registry) -> None:
    # The digest a node pulls by: the index, not one platform's manifest.
    digest = registry.push("lib/multi", "v1", b"many platforms", index=True)
    assert resolve_digest(parse_image(f"{registry.host}/lib/multi:v1"), timeout=5) == digest


def test_pin_dry_run_shows_the_change_and_writes_nothing(
    cli: Callable[..., subprocess.CompletedProcess[str]], repo: Layout, pushed: dict[str, str]
) -> None:
    path = repo.environments / "lab.yaml"
    before = path.read_text(encoding="utf-8")
    result = cli("images.pin", "--env", "lab", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert f"+  image_tag: {AK_TAG}@{pushed['authentik']}" in result.stdout
    assert f"pgbouncer:{PGB_TAG}@{pushed['pgbouncer']}" in result.stdout
    assert f"{EXPORTER}:{EXPORTER_TAG}@{pushed['exporter']}" in result.stdout
    assert f"{SHM}:{SHM_TAG}@{pushed['shm']}" in result.stdout
    assert "would pin 4 image(s); nothing written" in result.stdout
    assert path.read_text(encoding="utf-8") == before


def test_pin_writes_the_digests_keeping_every_other_line(
    cli: Callable[..., subprocess.CompletedProcess[str]], repo: Layout, pushed: dict[str, str]
) -> None:
    path = repo.environments / "lab.yaml"
    before = path.read_text(encoding="utf-8").splitlines()
    result = cli("images.pin", "--env", "lab")
    assert result.returncode == 0, result.stderr
    after = path.read_text(encoding="utf-8").splitlines()
    changed = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
    assert [b for _, b in changed] == [
        f"  image: {pushed['host']}/{pushed['prefix']}/pgbouncer:{PGB_TAG}@{pushed['pgbouncer']}",
        f"  image_tag: {AK_TAG}@{pushed['authentik']}",
        f"    image: {pushed['host']}/{pushed['prefix']}/{EXPORTER}:{EXPORTER_TAG}@{pushed['exporter']}",
        f"    image: {pushed['host']}/{pushed['prefix']}/{SHM}:{SHM_TAG}@{pushed['shm']}",
    ]
    assert before[0].startswith("# Lab:")  # comments, order and style kept (zip is strict)
    # The pinned environment renders the digests into the manifests the cluster gets.
    rendered = cli("render", "--env", "lab")
    assert rendered.returncode == 0, rendered.stderr
    values = (repo.manifests_for("lab") / "authentik-values.yaml").read_text()
    assert f'digest: "{pushed["authentik"]}"' in values and f'tag: "{AK_TAG}"' in values
    deployment = (repo.manifests_for("lab") / "pgbouncer-deployment.yaml").read_text()
    assert f"{PGB_TAG}@{pushed['pgbouncer']}" in deployment
    assert f"{EXPORTER_TAG}@{pushed['exporter']}" in deployment
    # A second pin finds nothing to do.
    again = cli("images.pin", "--env", "lab")
    assert again.returncode == 0, again.stderr
    assert "every image already pinned" in again.stdout


def test_check_sees_a_repushed_tag_move(
    cli: Callable[..., subprocess.CompletedProcess[str]],
    repo: Layout,
    registry: Registry,
    pushed: dict[str, str],
) -> None:
    assert cli("images.pin", "--env", "lab").returncode == 0
    clean = cli("images.check", "--env", "lab")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "images: 0 moved, 4 pinned and unmoved, 0 not pinned (lab)" in clean.stdout
    moved_to = registry.push(f"{pushed['prefix']}/pgbouncer", PGB_TAG, b"rebuilt upstream")
    assert moved_to != pushed["pgbouncer"]
    moved = cli("images.check", "--env", "lab")
    assert moved.returncode == 1, moved.stdout + moved.stderr
    line = next(x for x in moved.stdout.splitlines() if x.startswith("MOVED"))
    assert "pgbouncer.image" in line
    assert f"pinned {pushed['pgbouncer']}" in line and f"now serves {moved_to}" in line
    assert "images: 1 moved, 3 pinned and unmoved" in moved.stdout


def test_check_without_pins_reports_them_unpinned_and_passes(
    cli: Callable[..., subprocess.CompletedProcess[str]], repo: Layout, pushed: dict[str, str]
) -> None:
    result = cli("images.check", "--env", "lab")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("unpinned  lab") == 4


def test_an_unknown_image_is_one_line_and_exit_2(
    cli: Callable[..., subprocess.CompletedProcess[str]],
    repo: Layout,
    registry: Registry,
    one_line_error: Callable[..., str],
) -> None:
    _point_lab_at(repo, registry.host, pgbouncer="nobody/pushed-this")
    for task in ("images.pin", "images.check"):
        one_line_error(
            cli(task, "--env", "lab"),
            [f"{registry.host}/nobody/pushed-this:{PGB_TAG}", "no such image or tag (HTTP 404)"],
        )


def test_an_unreachable_registry_is_one_line_and_exit_2(
    cli: Callable[..., subprocess.CompletedProcess[str]],
    repo: Layout,
    one_line_error: Callable[..., str],
) -> None:
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        host = f"127.0.0.1:{s.getsockname()[1]}"
    _point_lab_at(repo, host)
    one_line_error(cli("images.pin", "--env", "lab"), [host, "cannot reach the registry"])


def test_a_registry_that_never_answers_is_bounded_by_the_timeout(
    cli: Callable[..., subprocess.CompletedProcess[str]],
    repo: Layout,
    stalling_registry: str,
    one_line_error: Callable[..., str],
) -> None:
    _point_lab_at(repo, stalling_registry)
    path = repo.environments / "lab.yaml"
    before = path.read_text(encoding="utf-8")
    result = cli("images.pin", "--env", "lab", "--timeout", "1", timeout=30)
    one_line_error(result, [stalling_registry, "no answer within 1s"])
    assert path.read_text(encoding="utf-8") == before


def test_resolve_gives_up_on_a_silent_registry(stalling_registry: str) -> None:
    with pytest.raises(RegistryError, match=r"no answer within 0\.5s"):
        resolve_digest(parse_image(f"{stalling_registry}/lib/app:v1"), timeout=0.5)


def test_the_anonymous_token_flow(registry: Registry, token_registry: TokenFront) -> None:
    digest = registry.push("tokens/app", "v1", b"behind a token")
    got = resolve_digest(parse_image(f"{token_registry.host}/tokens/app:v1"), timeout=5)
    assert got == digest
    asked = token_registry.token_requests[-1]
    assert asked == {"scope": ["repository:tokens/app:pull"], "service": ["test-registry"]}
