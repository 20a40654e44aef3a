"""The exporters the alert tests build are the versions the rendered sidecars run: each
module set in ``tools/go/`` pins its module at the tag of the image every environment names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from akops.environment import known_environments, load_environment
from akops.images.reference import parse_image
from akops.tools.programs import PROGRAMS

ROOT = Path(__file__).resolve().parents[3]

#: Go program -> (its module, the environment's image field it stands for).
SIDECARS = {
    "pgbouncer_exporter": ("github.com/prometheus-community/pgbouncer_exporter", "exporter"),
    "node_exporter": ("github.com/prometheus/node_exporter", "shm_exporter"),
}


def pinned(program: str, module: str) -> str:
    go_mod = (PROGRAMS[program].module_dir / "go.mod").read_text(encoding="utf-8")
    found = re.search(rf"^\s*{re.escape(module)} (v\S+)", go_mod, re.MULTILINE)
    assert found, f"tools/go/{PROGRAMS[program].module_set}/go.mod does not require {module}"
    return found.group(1)


@pytest.mark.parametrize("program", sorted(SIDECARS))
@pytest.mark.parametrize("env_name", known_environments(ROOT / "environments"))
def test_the_module_set_pins_the_sidecar_image_tag(program: str, env_name: str) -> None:
    module, field = SIDECARS[program]
    env = load_environment(env_name, ROOT / "environments")
    assert env.monitoring is not None
    image = getattr(env.monitoring, field).image
    assert parse_image(image).tag == pinned(program, module), (env_name, image)
