"""Peers that never answer: every network call has a deadline, and a signal ends it at once.

The chart repository (the index GET and the real ``helm pull``), an image registry, the
Kubernetes API: each is pointed at a real socket that accepts and says nothing, trickles, or
streams without end (``peers.py``). With a short ``--timeout`` the task gives up with one line
naming the peer and the deadline (exit 2); with a long one, SIGINT, SIGTERM or SIGHUP to the
process group ends it with one line and 128 + n while the call is still waiting, and no
process of the run (helm included) is left in /proc. Subprocess timeouts are guards only:
with ``--timeout 600`` a run that waited for its own deadline would trip them.
"""

from __future__ import annotations

import hashlib
import os
import signal
from pathlib import Path

import pytest
import yaml

from akops.layout import Layout
from tests.integration.inputs.contract import SIGNALS, Runner, held, start, wait_until
from tests.integration.inputs.peers import (
    endless_peer,
    silent_peer,
    static_peer,
    trickle_peer,
)

pytestmark = pytest.mark.integration

PGB = "edoburu/pgbouncer:v1.24.1-p1"


def chart_env(repo: Layout, tmp: Path, url: str, helm: Path) -> dict[str, str]:
    """prod's chart repository at ``url``; real helm on PATH; caches in ``tmp``."""
    path = repo.environments / "prod.yaml"
    text = path.read_text()
    old = "repo: https://charts.goauthentik.io/"
    assert old in text
    path.write_text(text.replace(old, f"repo: {url}"))
    home = tmp / "helm-home"
    return {
        "PATH": f"{helm.parent}{os.pathsep}{os.environ['PATH']}",
        "AKOPS_CACHE_DIR": str(tmp / "cache"),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }


EXPORTER = "prometheuscommunity/pgbouncer-exporter:v0.12.1"


def registry_at(repo: Layout, host: str) -> None:
    """Every image of prod (PgBouncer, the exporter, Authentik) on ``host``."""
    path = repo.environments / "prod.yaml"
    text = path.read_text()
    for image in (PGB, EXPORTER):
        assert f"image: {image}" in text
        text = text.replace(f"image: {image}", f"image: {host}/{image}", 1)
    tag = "  image_tag: 2026.2.2\n"
    assert tag in text
    text = text.replace(tag, f"{tag}  image_repository: {host}/goauthentik/server\n", 1)
    path.write_text(text)


def api_at(repo: Layout, tmp: Path, server: str, api_timeout: int = 2) -> dict[str, str]:
    """A kubeconfig whose prod context talks to ``server``; prod's api_timeout shortened."""
    path = repo.environments / "prod.yaml"
    text = path.read_text()
    assert "api_timeout: 10" in text
    path.write_text(text.replace("api_timeout: 10", f"api_timeout: {api_timeout}"))
    kubeconfig = tmp / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": server}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [
                    {
                        "name": "kubernetes-admin@kubernetes",
                        "context": {"cluster": "c", "user": "u"},
                    }
                ],
                "current-context": "kubernetes-admin@kubernetes",
            }
        )
    )
    return {"KUBECONFIG": str(kubeconfig), "AKOPS_PROD_POSTGRES_PASSWORD": "x"}


# --- the chart repository ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("peer", "parts"),
    [
        (silent_peer, ("index.yaml", "no answer within 2s")),
        (trickle_peer, ("index.yaml", "no answer within 2s")),
        (endless_peer, ("index.yaml", "answer larger than 32 MiB")),
    ],
    ids=["silent", "trickle", "endless"],
)
def test_a_chart_repository_that_misbehaves_is_one_line(
    peer: object, parts: tuple[str, ...], repo: Layout, tmp_path: Path, real_helm: Path
) -> None:
    with peer() as p:  # type: ignore[operator]
        env = chart_env(repo, tmp_path, p.url, real_helm)
        result = Runner(repo.root)("chart.pull", "--env", "prod", "--timeout", "2", env=env)
    held(result, "chart.pull", (p.url, *parts))


def _index(archive_url: str) -> bytes:
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "entries": {
                "authentik": [
                    {
                        "name": "authentik",
                        "version": "2026.2.2",
                        "digest": hashlib.sha256(b"never sent").hexdigest(),
                        "urls": [archive_url],
                    }
                ]
            },
        }
    ).encode()


def test_a_chart_download_that_never_comes_stops_helm(
    repo: Layout, tmp_path: Path, real_helm: Path
) -> None:
    with silent_peer() as archive:
        body = _index(f"{archive.url}authentik-2026.2.2.tgz")
        with static_peer({"/index.yaml": (200, {}, body)}) as served:
            env = chart_env(repo, tmp_path, served.url, real_helm)
            result = Runner(repo.root)("chart.pull", "--env", "prod", "--timeout", "3", env=env)
    held(result, "chart.pull", ("helm pull authentik 2026.2.2", "no answer within 3s"))


@pytest.mark.parametrize("sig", SIGNALS, ids=[s.name for s in SIGNALS])
def test_a_signal_ends_a_chart_pull_waiting_on_the_index(
    sig: signal.Signals, repo: Layout, tmp_path: Path, real_helm: Path
) -> None:
    with silent_peer() as p:
        env = chart_env(repo, tmp_path, p.url, real_helm)
        run = start(repo.root, "chart.pull", "--env", "prod", "--timeout", "600", env=env)
        wait_until(lambda: p.accepted >= 1 or run.proc.poll() is not None, "the GET of the index")
        run.signal_group(sig)
        result = run.finish(guard=60)
    held(result, "chart.pull", (f"interrupted by {sig.name}",), code=128 + sig)


def test_a_signal_ends_helm_waiting_on_the_archive(
    repo: Layout, tmp_path: Path, real_helm: Path
) -> None:
    with silent_peer() as archive:
        body = _index(f"{archive.url}authentik-2026.2.2.tgz")
        with static_peer({"/index.yaml": (200, {}, body)}) as served:
            env = chart_env(repo, tmp_path, served.url, real_helm)
            run = start(repo.root, "chart.pull", "--env", "prod", "--timeout", "600", env=env)
            wait_until(lambda: archive.accepted >= 1 or run.proc.poll() is not None, "helm pull")
            run.signal_group(signal.SIGTERM)
            result = run.finish(guard=60)
    held(result, "chart.pull", ("interrupted by SIGTERM",), code=143)


# --- an image registry -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("peer", "parts"),
    [
        (silent_peer, ("no answer within 1s",)),
        (trickle_peer, ("no answer within 1s",)),
        (endless_peer, ("answer larger than 4 MiB",)),
    ],
    ids=["silent", "trickle", "endless"],
)
def test_a_registry_that_misbehaves_is_one_line(
    peer: object, parts: tuple[str, ...], repo: Layout
) -> None:
    with peer() as p:  # type: ignore[operator]
        registry_at(repo, p.host)
        result = Runner(repo.root)(
            "images.pin", "--env", "prod", "--dry-run", "--timeout", "1", guard=60
        )
    held(result, "images.pin", (p.host, *parts))


@pytest.mark.parametrize("sig", SIGNALS, ids=[s.name for s in SIGNALS])
def test_a_signal_ends_images_pin_waiting_on_a_registry(sig: signal.Signals, repo: Layout) -> None:
    with silent_peer() as p:
        registry_at(repo, p.host)
        run = start(repo.root, "images.pin", "--env", "prod", "--dry-run", "--timeout", "600")
        wait_until(lambda: p.accepted >= 1 or run.proc.poll() is not None, "the registry GET")
        run.signal_group(sig)
        result = run.finish(guard=60)
    held(result, "images.pin", (f"interrupted by {sig.name}",), code=128 + sig)


# --- the Kubernetes API ------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_an_api_server_that_never_answers_is_one_line(
    scheme: str, repo: Layout, tmp_path: Path
) -> None:
    with silent_peer() as p:
        env = api_at(repo, tmp_path, f"{scheme}://{p.host}")
        result = Runner(repo.root)("rollout", "--env", "prod", env=env, guard=60)
    held(result, "rollout", (p.host, "2s"))


@pytest.mark.parametrize("sig", SIGNALS, ids=[s.name for s in SIGNALS])
def test_a_signal_ends_a_call_to_a_silent_api_server(
    sig: signal.Signals, repo: Layout, tmp_path: Path
) -> None:
    with silent_peer() as p:
        env = api_at(repo, tmp_path, f"https://{p.host}", api_timeout=600)
        run = start(repo.root, "rollout", "--env", "prod", env=env)
        wait_until(lambda: p.accepted >= 1 or run.proc.poll() is not None, "the API call")
        run.signal_group(sig)
        result = run.finish(guard=60)
    held(result, "rollout", (f"interrupted by {sig.name}",), code=128 + sig)
