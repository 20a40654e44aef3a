"""The Go programs registry: every entry's module set is pinned, and the cache key follows the pins."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from akops.tools import gobuild, programs
from akops.tools.programs import PROGRAMS, GoProgram


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_every_program_has_a_pinned_module_set(name: str) -> None:
    program = PROGRAMS[name]
    assert program.name == name
    go_mod = (program.module_dir / "go.mod").read_text(encoding="utf-8")
    module = program.package.split("/cmd/")[0]
    assert module in go_mod, f"{program.module_dir}/go.mod does not require {module}"
    assert (program.module_dir / "go.sum").stat().st_size > 0


def test_the_cache_key_changes_with_the_pins_the_package_and_the_toolchain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "go.mod").write_text("module x\n", encoding="utf-8")
    (tmp_path / "go.sum").write_text("a v1 h1:x\n", encoding="utf-8")
    program = dataclasses.replace(PROGRAMS["kubeconform"], module_set=tmp_path.name)
    monkeypatch.setattr(programs, "SETS_DIR", tmp_path.parent)
    key = gobuild.cache_key(program, "go1.26.8")
    assert gobuild.cache_key(program, "go1.26.8") == key
    assert gobuild.cache_key(program, "go1.24.0") != key
    assert gobuild.cache_key(dataclasses.replace(program, package="y/cmd/z"), "go1.26.8") != key
    (tmp_path / "go.sum").write_text("a v1 h1:y\n", encoding="utf-8")
    assert gobuild.cache_key(program, "go1.26.8") != key


def test_the_control_planes_kubernetes_binaries_are_one_go_build() -> None:
    plane = [
        PROGRAMS[n]
        for n in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
    ]
    groups = [[p.name for p in g] for g in gobuild.build_groups(plane)]
    assert groups == [
        ["etcd"],  # its own link flags, and `go build -o DIR/` would name it "v3"
        ["kube-apiserver", "kube-controller-manager", "kube-scheduler"],
        ["kwok"],  # another module set
    ]


def test_a_binary_not_named_as_its_package_is_built_alone() -> None:
    a = GoProgram("a", "set", "example.com/cmd/a")
    b = GoProgram("b", "set", "example.com/cmd/b")
    renamed = GoProgram("c", "set", "example.com/cmd/other")
    flagged = GoProgram("d", "set", "example.com/cmd/d", "-s -w")
    groups = gobuild.build_groups([a, renamed, b, flagged])
    assert groups == [(a, b), (renamed,), (flagged,)]
