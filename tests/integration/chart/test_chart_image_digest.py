"""A pinned Authentik image reaches the pods: the real chart renders repository:tag@digest."""

from __future__ import annotations

from pathlib import Path

import yaml

from akops import chart as charts
from akops.layout import Layout
from akops.render import render_env

DIGEST = "sha256:" + "9" * 64


def test_the_chart_renders_the_pinned_digest(
    real_helm: Path, pinned_chart: Path, repo: Layout
) -> None:
    env_file = repo.environments / "lab.yaml"
    text = env_file.read_text(encoding="utf-8")
    env_file.write_text(
        text.replace("  image_tag: 2026.2.2\n", f"  image_tag: 2026.2.2@{DIGEST}\n")
    )
    _, stack = render_env(repo, "lab")
    values = stack.by_name()["authentik-values.yaml"]
    out = charts.template(
        str(real_helm), pinned_chart, release="goauthentik", namespace="authentik",
        values_text=values,
    )  # fmt: skip
    images = {
        d["metadata"]["name"]: [c["image"] for c in d["spec"]["template"]["spec"]["containers"]]
        for d in yaml.safe_load_all(out)
        if d and d.get("kind") == "Deployment"
    }
    want = [f"ghcr.io/goauthentik/server:2026.2.2@{DIGEST}"]
    assert images == {"goauthentik-server": want, "goauthentik-worker": want}
