"""The Go programs registry: every entry's module set is pinned, and the cache key follows the pins."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from akops.tools import gobuild, gosets, programs
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


GO_MOD = """module x

go 1.24.0

require k8s.io/kubernetes v1.33.13

require (
\tgithub.com/a/b v1.2.0 // indirect
\tk8s.io/api v0.33.0 // indirect
\tk8s.io/apimachinery v0.0.0
)

replace k8s.io/api => k8s.io/api v0.33.13

replace (
\tk8s.io/apimachinery v0.0.0 => k8s.io/apimachinery v0.33.13 // a comment
\tgithub.com/a/b => ./local/b
)
"""


def test_a_go_mod_compiles_the_replacements_version_where_one_names_a_version() -> None:
    assert gosets.compiled_versions(GO_MOD) == {
        "k8s.io/kubernetes": "v1.33.13",
        "github.com/a/b": "v1.2.0",
        "k8s.io/api": "v0.33.13",
        "k8s.io/apimachinery": "v0.33.13",
    }


def test_only_modules_at_another_version_than_the_planes_are_pinned() -> None:
    plane = {"k8s.io/api": "v0.33.13", "x/y": "v1.0.0", "k8s.io/cri-client": "v0.0.0"}
    own = {"k8s.io/api": "v0.33.0", "x/y": "v1.0.0", "k8s.io/cri-client": "v0.33.0", "z": "v2"}
    assert gosets.pins_needed("kwok", own, plane) == {"k8s.io/api": "v0.33.13"}
    kept = {"github.com/prometheus/common": "v0.65.0"}
    plane_common = {"github.com/prometheus/common": "v0.62.0"}
    assert gosets.pins_needed("prometheus-config-reloader", kept, plane_common) == {}
    assert gosets.pins_needed("kwok", kept, plane_common) == plane_common


def _go_mod(module_set: str) -> str:
    return (programs.SETS_DIR / module_set / "go.mod").read_text(encoding="utf-8")


TOOL_SETS = sorted({p.module_set for p in PROGRAMS.values()} - {gosets.PLANE_SET})
SHARING = [s for s in TOOL_SETS if gosets.shares_the_plane(_go_mod(s))]


def test_the_tool_sets_that_compile_kubernetes_libraries_are_known() -> None:
    # The exporters and kubeconform share a few small modules only; they keep their own.
    assert SHARING == ["kwok", "netpol-analyzer", "prometheus-config-reloader"]


@pytest.mark.parametrize("module_set", SHARING)
def test_a_tool_set_compiles_what_it_shares_with_the_plane_at_the_planes_versions(
    module_set: str,
) -> None:
    # Otherwise a first build compiles the shared Kubernetes libraries once per set
    # (docs/guides/local-cluster.md): `python scripts/align_go_sets.py` writes the pins.
    plane = gosets.compiled_versions(_go_mod(gosets.PLANE_SET))
    own = gosets.compiled_versions(_go_mod(module_set))
    assert gosets.pins_needed(module_set, own, plane) == {}
