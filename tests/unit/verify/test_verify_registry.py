"""The registry: one Check per ID, in the module of its family, and nowhere else."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from akops.verify import registry
from akops.verify.check import Check, Observation, Shell
from akops.verify.checks import pgbouncer

ROOT = Path(__file__).resolve().parents[3]
FAMILY_DIR = ROOT / "akops" / "verify" / "checks"


def test_each_check_lives_in_the_module_of_its_family() -> None:
    for family in registry.FAMILIES:
        name = family.__name__.rsplit(".", 1)[1]
        assert family.CHECKS, name
        assert all(c.id.split(".", 1)[0] == name for c in family.CHECKS), name


def test_every_family_module_is_registered() -> None:
    modules = {p.stem for p in FAMILY_DIR.glob("*.py") if p.stem != "__init__"}
    assert modules == {f.__name__.rsplit(".", 1)[1] for f in registry.FAMILIES}


def test_ids_are_unique_and_well_formed() -> None:
    ids = [c.id for c in registry.REGISTRY]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z]+\.[a-z][a-z-]*", i) for i in ids)


def test_each_id_is_written_once_in_the_code() -> None:
    # Lint rule IDs are a namespace of their own (akops/lint); everything else reaches a check
    # through the registry, so a check's ID is spelt out only in its family module.
    sources = [
        p
        for p in [*ROOT.glob("akops/**/*.py"), *ROOT.glob("checks/*.py"), ROOT / "tasks.py"]
        if "lint" not in p.relative_to(ROOT).parts
    ]
    texts = {p: p.read_text(encoding="utf-8") for p in sources}
    for cid in registry.IDS:
        found = {p.relative_to(ROOT).as_posix(): t.count(f'"{cid}"') for p, t in texts.items()}
        found = {p: n for p, n in found.items() if n}
        family = f"akops/verify/checks/{cid.split('.', 1)[0]}.py"
        assert found == {family: 1}, (cid, found)


def test_a_check_has_exactly_one_way_to_observe() -> None:
    def probes(cid, s):
        return []

    with pytest.raises(ValueError, match="exactly one of observe and shell"):
        Check("x.y", "d", "any", probes)
    shell = Shell(lambda a, t: "true", lambda r, a: pgbouncer.reachable(r, "x:1"))
    with pytest.raises(ValueError, match="exactly one of observe and shell"):
        Check(
            "x.y",
            "d",
            "any",
            probes,
            observe=Observation("answer", lambda answer, probe: pgbouncer.reachable(None, "")),
            shell=shell,
        )


def test_exec_checks_name_the_pod_roles_they_need() -> None:
    for c in registry.REGISTRY:
        assert bool(c.shell) == bool(c.roles), c.id


def test_image_drift_is_computed_in_one_place() -> None:
    # Before: invoke plan (ops/stages.py) and images.pinned each compared the running images
    # with the pins; now the plan asks the check.
    users = {
        p.relative_to(ROOT).as_posix()
        for p in ROOT.glob("akops/**/*.py")
        if "compare_running(" in p.read_text(encoding="utf-8")
        and "akops/images/" not in p.as_posix()
    }
    assert users == {"akops/verify/checks/images.py"}
