"""`invoke lint --env` judges pgbouncer.ini by the PgBouncer release of the environment's image.

A 1.24 parameter (``max_prepared_statements``) added through ``pgbouncer.settings.extra``
passes on prod's image (``edoburu/pgbouncer:v1.24.1-p1``) and fails, naming the version, on an
image whose tag says 1.18. The same rendered pgbouncer.ini is then started in the real program
at both versions: lint's verdict is what PgBouncer does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import pytest

from akops.errors import AkopsError
from akops.layout import Layout
from akops.rehearse import start, topology
from tests.integration.conftest import pgbouncer_binary, rendered_pgbouncer_files

EXTRA = "    extra: {max_prepared_statements: 100}\n"
ANCHOR = "    ignore_startup_parameters: [extra_float_digits]\n"
MESSAGE = (
    "unknown parameter max_prepared_statements: PgBouncer 1.18.0 refuses to start "
    "(a PgBouncer 1.24 parameter)"
)


def _edit(repo: Layout, *, image: str | None = None) -> None:
    env = repo.environments / "prod.yaml"
    text = env.read_text()
    assert ANCHOR in text
    text = text.replace(ANCHOR, ANCHOR + EXTRA)
    if image is not None:
        text = text.replace("edoburu/pgbouncer:v1.24.1-p1", image)
    env.write_text(text)


def _starts(repo: Layout, version: str) -> bool:
    """Whether the real PgBouncer ``version`` starts with prod's rendered pgbouncer.ini."""
    pgbouncer_binary(version)  # builds or finds it, or fails the test saying how
    ini, userlist = rendered_pgbouncer_files(repo)
    with contextlib.ExitStack() as stack, start.workdir("akops-pgb-versions-") as root:

        def adjust(text: str, local: dict[str, str]) -> str:
            return topology.adjust_ini(text, local, ("127.0.0.1", 5432))

        try:
            start.start_pgbouncer(stack, root, 0, ini, userlist, "x", adjust, version=version)
        except AkopsError as e:
            assert "exited at start" in str(e), e
            return False
        return True


def test_a_124_parameter_passes_on_prods_image(cli: Callable[..., Any], repo: Layout) -> None:
    _edit(repo)
    result = cli("lint", "--env", "prod")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "max_prepared_statements" not in result.stdout
    assert "pgbouncer.version" not in result.stdout  # the tag names 1.24.1: nothing assumed
    assert _starts(repo, "1.24.1")


def test_the_same_parameter_on_a_118_image_fails_naming_the_version(
    cli: Callable[..., Any], repo: Layout
) -> None:
    _edit(repo, image="edoburu/pgbouncer:1.18.0")
    result = cli("lint", "--env", "prod")
    assert result.returncode == 1, result.stdout + result.stderr
    line = next(ln for ln in result.stdout.splitlines() if "pgbouncer.invalid" in ln)
    assert "manifests/prod/pgbouncer-configmap.yaml" in line and MESSAGE in line, line
    assert result.stdout.splitlines()[-1].startswith("lint: failed: 1 error(s)")
    assert not _starts(repo, "1.18.0")


@pytest.mark.parametrize(
    ("image", "said"),
    [
        ("edoburu/pgbouncer:latest", "names no PgBouncer version"),
        ("edoburu/pgbouncer:v1.99.0-p0", "which lint has no parameter table for"),
    ],
)
def test_an_unknown_version_is_judged_as_prods_and_said_once(
    cli: Callable[..., Any], repo: Layout, image: str, said: str
) -> None:
    _edit(repo, image=image)
    result = cli("lint", "--env", "prod")
    notes = [ln for ln in result.stdout.splitlines() if "pgbouncer.version" in ln]
    assert len(notes) == 1 and said in notes[0] and "PgBouncer 1.24.1" in notes[0], notes
    assert "pgbouncer.invalid" not in result.stdout
