"""Whether a rolled-back pod template would run the config it was made for (pure)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from akops.cluster.revisions import config_drift, config_maps
from akops.layout import Layout
from akops.render import render_env
from akops.stack import checksum

INI = "[pgbouncer]\ndefault_pool_size = 20\n"
ROOT = Path(__file__).resolve().parents[3]


def template(annotation: str | None = checksum(INI)) -> dict[str, Any]:
    meta: dict[str, Any] = {"labels": {"app": "pgbouncer"}}
    if annotation is not None:
        meta["annotations"] = {"checksum/config": annotation}
    return {
        "metadata": meta,
        "spec": {
            "volumes": [
                {"name": "config", "configMap": {"name": "pgbouncer-config"}},
                {"name": "auth", "secret": {"secretName": "pgbouncer-auth"}},
            ]
        },
    }


def config_map(ini: str) -> dict[str, Any]:
    return {"kind": "ConfigMap", "data": {"pgbouncer.ini": ini}}


def test_same_config_is_no_drift() -> None:
    assert config_drift(3, template(), config_map(INI), name="pgbouncer-config") is None


def test_changed_config_names_the_file_the_revision_and_both_checksums() -> None:
    changed = INI.replace("20", "15")
    assert config_drift(3, template(), config_map(changed), name="pgbouncer-config") == (
        f"pgbouncer.ini in ConfigMap/pgbouncer-config changed since revision 3 "
        f"(checksum/config {checksum(INI)[:12]}, live {checksum(changed)[:12]})"
    )


def test_even_a_whitespace_change_counts() -> None:
    assert config_drift(3, template(), config_map(INI + "\n"), name="pgbouncer-config")


@pytest.mark.parametrize(
    ("tmpl", "live", "reason"),
    [
        (
            template(None),
            config_map(INI),
            "revision 3 records no checksum/config annotation, so whether pgbouncer.ini "
            "changed since cannot be told",
        ),
        (template(), None, "ConfigMap/pgbouncer-config does not exist"),
        (template(), {"data": {"other": "x"}}, "ConfigMap/pgbouncer-config has no pgbouncer.ini"),
    ],
    ids=["no annotation", "no config map", "no key"],
)
def test_what_cannot_be_compared_is_drift_too(
    tmpl: dict[str, Any], live: dict[str, Any] | None, reason: str
) -> None:
    assert config_drift(3, tmpl, live, name="pgbouncer-config") == reason


def test_config_maps_are_read_from_the_template_volumes() -> None:
    assert config_maps(template()) == ["pgbouncer-config"]
    assert config_maps({"spec": {}}) == []


@pytest.mark.parametrize("env", ["prod", "lab"])
def test_rendered_annotation_matches_the_rendered_config_map(env: str) -> None:
    """The contract rollback relies on: the checksum is of exactly what the ConfigMap holds."""
    _, stack = render_env(Layout(ROOT), env)
    files = stack.by_name()
    deployment = yaml.safe_load(files["pgbouncer-deployment.yaml"])
    live = yaml.safe_load(files["pgbouncer-configmap.yaml"])
    tmpl = deployment["spec"]["template"]
    (name,) = config_maps(tmpl)
    assert name == live["metadata"]["name"]
    assert config_drift(1, tmpl, live, name=name) is None
