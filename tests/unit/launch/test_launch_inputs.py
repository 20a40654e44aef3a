"""The launcher's inputs: envtest's folder, the pinned Kubernetes release, the kubeconfig merge."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from akops.errors import InputError
from akops.launch import binaries, register
from akops.launch.plane import CONTEXT, kubeconfig_text
from akops.layout import Layout
from akops.tools.programs import KUBE_LDFLAGS, KUBE_VERSION, PROGRAMS


def _exe(path: Path) -> Path:
    path.write_text("#!/bin/sh\n", encoding="utf-8")
    path.chmod(0o755)
    return path


def test_an_envtest_folder_is_used_as_it_is_and_names_what_it_lacks(tmp_path: Path) -> None:
    _exe(tmp_path / "kube-apiserver")
    _exe(tmp_path / "etcd")
    found = binaries.find_binaries({binaries.ASSETS_VAR: str(tmp_path)})
    assert found.kube_apiserver == tmp_path / "kube-apiserver"
    assert found.etcd == tmp_path / "etcd"
    assert found.missing == ("kube-controller-manager", "kube-scheduler", "kwok")
    _exe(tmp_path / "kwok")
    assert binaries.from_assets(str(tmp_path)).kwok == tmp_path / "kwok"


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda d: None, "no executable etcd"),  # an empty folder
        (lambda d: _exe(d / "etcd"), "no executable kube-apiserver"),
        (lambda d: (_exe(d / "etcd"), (d / "kube-apiserver").write_text("x")), "kube-apiserver"),
    ],
)
def test_a_broken_envtest_folder_is_one_line_naming_the_variable(
    tmp_path: Path, make: object, says: str
) -> None:
    make(tmp_path)  # type: ignore[operator]
    with pytest.raises(InputError) as e:
        binaries.find_binaries({binaries.ASSETS_VAR: str(tmp_path)})
    assert f"KUBEBUILDER_ASSETS={tmp_path}" in str(e.value)
    assert says in str(e.value)
    assert e.value.exit_code == 2
    assert "\n" not in str(e.value)


def test_a_path_that_is_no_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a folder"):
        binaries.from_assets(str(tmp_path / "nowhere"))


def test_the_pinned_release_is_the_environments_kubernetes_minor(layout: Layout) -> None:
    go_mod = (PROGRAMS["kube-apiserver"].module_dir / "go.mod").read_text(encoding="utf-8")
    assert f"k8s.io/kubernetes {KUBE_VERSION}\n" in go_mod
    minor = KUBE_VERSION.lstrip("v").rsplit(".", 1)[0]  # 1.33
    staging = f"v0.{minor.split('.')[1]}.{KUBE_VERSION.rsplit('.', 1)[1]}"  # v0.33.13
    replaces = re.findall(r"^\s+(k8s\.io/\S+) => (\S+) (\S+)$", go_mod, re.M)
    assert len(replaces) > 25
    assert {(a, b, v) for a, b, v in replaces} == {(a, a, staging) for a, _, _ in replaces}
    for env in sorted(layout.environments.glob("*.yaml")):
        kube = yaml.safe_load(env.read_text(encoding="utf-8"))["kube"]
        assert str(kube["version"]) == minor, f"{env.name}: kube.version"


def test_the_builds_carry_the_release_version_stamps() -> None:
    for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        assert PROGRAMS[name].ldflags == KUBE_LDFLAGS
    assert f"-X k8s.io/component-base/version.gitVersion={KUBE_VERSION}" in KUBE_LDFLAGS
    assert "-X k8s.io/component-base/version.gitMinor=33" in KUBE_LDFLAGS


def _plane_kubeconfig(tmp_path: Path) -> Path:
    from akops.launch.certs import Pki

    pki = Pki(tmp_path / "pki")
    pki.root.mkdir()
    for name in ("ca.crt", "admin.crt", "admin.key"):
        (pki.root / name).write_text(f"-----{name}-----\n", encoding="utf-8")
    path = tmp_path / "plane.kubeconfig"
    path.write_text(kubeconfig_text("https://127.0.0.1:6443", pki, "admin"), encoding="utf-8")
    return path


def test_the_context_is_added_beside_the_operators_and_removed_again(tmp_path: Path) -> None:
    mine = tmp_path / "config"
    original = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "prod", "cluster": {"server": "https://prod.example:6443"}}],
        "users": [{"name": "prod", "user": {"token": "t"}}],
        "contexts": [{"name": "prod", "context": {"cluster": "prod", "user": "prod"}}],
        "current-context": "prod",
    }
    mine.write_text(yaml.safe_dump(original), encoding="utf-8")
    plane = _plane_kubeconfig(tmp_path)
    register.add(mine, plane, CONTEXT)
    register.add(mine, plane, CONTEXT)  # again: replaced, not doubled
    merged = yaml.safe_load(mine.read_text(encoding="utf-8"))
    assert [c["name"] for c in merged["contexts"]] == ["prod", CONTEXT]
    assert [c["name"] for c in merged["clusters"]] == ["prod", CONTEXT]
    assert merged["current-context"] == "prod"
    assert mine.stat().st_mode & 0o777 == 0o600
    assert register.remove(mine, CONTEXT)
    assert yaml.safe_load(mine.read_text(encoding="utf-8")) == original
    assert not register.remove(mine, CONTEXT)


def test_a_new_kubeconfig_gets_the_context_as_its_current_one(tmp_path: Path) -> None:
    mine = tmp_path / "new" / "config"
    register.add(mine, _plane_kubeconfig(tmp_path), CONTEXT)
    assert yaml.safe_load(mine.read_text(encoding="utf-8"))["current-context"] == CONTEXT
    assert register.remove(mine, CONTEXT)
    assert yaml.safe_load(mine.read_text(encoding="utf-8"))["current-context"] == ""


def test_a_broken_kubeconfig_is_refused_not_overwritten(tmp_path: Path) -> None:
    mine = tmp_path / "config"
    mine.write_text("clusters: 3\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"config:1: clusters: expected a list"):
        register.add(mine, _plane_kubeconfig(tmp_path), CONTEXT)
    assert mine.read_text(encoding="utf-8") == "clusters: 3\n"


def test_the_target_is_kubeconfigs_first_file(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert register.target({"KUBECONFIG": f"{a}:{b}"}) == a
    assert register.target({}) == Path("~/.kube/config").expanduser()
