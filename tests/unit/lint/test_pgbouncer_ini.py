"""pgbouncer.ini parsing as PgBouncer does it, per release (the real-PgBouncer oracle is in
tests/integration/lint/test_pgbouncer_oracle.py; these pin the parser's pieces)."""

from __future__ import annotations

import math

import pytest

from akops.lint.pgbouncer import RELEASES, Included, image_version, parse_ini, strtod, strtol


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("20", 20),
        ("0x10", 16),
        ("010", 8),
        ("-1", -1),
        ("+5", 5),
        ("0", 0),
        ("08", None),
        ("1.5", None),
        ("1k", None),
        ("", None),
        ("0x", None),
        ("2 0", None),
    ],
)
def test_strtol(text: str, value: int | None) -> None:
    assert strtol(text) == value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1.5", 1.5),
        (".5", 0.5),
        ("1e3", 1000.0),
        ("0x10", 16.0),
        ("inf", math.inf),
        ("5s", None),
        ("1.5e", None),
        ("", None),
        ("1_0", None),
    ],
)
def test_strtod(text: str, value: float | None) -> None:
    assert strtod(text) == value


def test_include_carries_the_section_both_ways() -> None:
    base = "/etc/pgbouncer"
    includes = {
        "/etc/pgbouncer/pools.ini": Included("pools.ini", "default_pool_size = 7\n[databases]\n"),
    }
    ini = parse_ini(
        "[pgbouncer]\n%include pools.ini\nx = host=db\n",
        "pgbouncer.ini",
        base=base,
        includes=includes,
    )
    assert ini.problems == ()
    assert ini.integer("default_pool_size") == 7
    assert ini.where("pgbouncer", "default_pool_size") == ("pools.ini", 1)
    assert ini.databases == {"x": "host=db"}


def test_include_cycles_and_missing_files_are_refused() -> None:
    base = "/etc/pgbouncer"
    cyc = {"/etc/pgbouncer/a.ini": Included("a.ini", "%include pgbouncer.ini\n")}
    ini = parse_ini("[pgbouncer]\n%include a.ini\n", "pgbouncer.ini", base=base, includes=cyc)
    assert ["cycle" in p.message for p in ini.problems] == [True]
    ini = parse_ini("[pgbouncer]\n%include gone.ini\n", "pgbouncer.ini", base=base, includes={})
    assert [p.message for p in ini.problems] == ["%include gone.ini: no such file"]


def test_include_inside_a_configmap_is_not_followed() -> None:
    ini = parse_ini("[pgbouncer]\n%include /etc/extra.ini\n", "cm.yaml", first_line=6)
    assert ini.problems == ()
    assert [(p.line, "not checked" in p.message) for p in ini.unfollowed] == [(7, True)]


def test_secret_values_are_never_echoed() -> None:
    ini = parse_ini("[databases]\nx = host=db password='hunter2' bogus=1\n[pgbouncer]\n", "p.ini")
    (problem,) = ini.problems
    assert "unknown database parameter bogus" in problem.message
    assert "hunter2" not in problem.message


@pytest.mark.parametrize(
    ("image", "version"),
    [
        ("edoburu/pgbouncer:v1.24.1-p1", "1.24.1"),
        ("edoburu/pgbouncer:v1.24.1-p1@sha256:" + "a" * 64, "1.24.1"),
        ("registry.local:5000/pgbouncer:1.18.0", "1.18.0"),
        ("registry.local:5000/pgbouncer", None),
        ("edoburu/pgbouncer:latest", None),
        ("edoburu/pgbouncer@sha256:" + "a" * 64, None),
        ("edoburu/pgbouncer:1.24.1.2", None),
        ("edoburu/pgbouncer:1.24", None),
    ],
)
def test_image_version_reads_the_tag(image: str, version: str | None) -> None:
    assert image_version(image) == version


def test_each_release_reads_the_ini_its_own_way() -> None:
    old, new = RELEASES
    text = "[pgbouncer]\nmax_prepared_statements = 100\n[peers]\n1 = host=10.0.0.1\n"
    ini = parse_ini(text, "p.ini", release=new)
    assert ini.problems == () and ini.settings["max_prepared_statements"] == "100"
    assert [p.message for p in ini.for_release(old).problems] == [
        "unknown parameter max_prepared_statements: PgBouncer 1.18.0 refuses to start"
        " (a PgBouncer 1.24 parameter)",
        "invalid section [peers] (PgBouncer 1.18.0 knows [databases], [pgbouncer], [users])",
    ]
    assert ini.for_release(new) is ini


def test_every_table_has_a_real_pgbouncer_to_check_it() -> None:
    """Lint's tables and the binaries the oracle runs name the same versions."""
    from akops.tools.pgbouncer import SUPPORTED

    assert [r.tested for r in RELEASES] == [v.version for v in SUPPORTED]
