"""Registering the local plane's context in the operator's kubeconfig, and removing it again.

Rule: I/O (one kubeconfig file, written atomically, mode 0600). What ``kind create cluster``
does for its clusters: ``invoke cluster.up`` adds the cluster, user and context named
``akops-local`` to the file ``kubectl`` writes to (the first of ``KUBECONFIG``, else
``~/.kube/config``), so ``invoke deploy --context akops-local`` finds it; every other entry is
kept as it was and the current context is not changed (a deploy still names its context), unless
the file names none (the Kubernetes client refuses a kubeconfig without one). ``invoke
cluster.down`` removes exactly those three entries, and hands a current context that was ours to
the first one left.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from akops.errors import InputError
from akops.kubeconfig import check_kubeconfig
from akops.yamldoc import read_text

SECTIONS = ("clusters", "users", "contexts")


def target(environ: Mapping[str, str] | None = None) -> Path:
    """The kubeconfig file new entries go to: ``KUBECONFIG``'s first file, else ~/.kube/config."""
    raw = (os.environ if environ is None else environ).get("KUBECONFIG", "")
    first = next((p for p in raw.split(os.pathsep) if p), "~/.kube/config")
    return Path(first).expanduser()


def _load(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {"apiVersion": "v1", "kind": "Config", "preferences": {}}
    text = read_text(path)
    check_kubeconfig(text, f"kubeconfig {path}")
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        raise InputError(f"kubeconfig {path}: expected a mapping at the top level")
    return data


def _write(path: Path, data: dict[str, Any]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.akops-tmp")
        tmp.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        tmp.chmod(0o600)
        os.replace(tmp, path)
    except OSError as e:
        raise InputError(f"kubeconfig {path}: cannot write: {e.strerror}") from e


def add(path: Path, plane_kubeconfig: Path, name: str) -> None:
    """Put the entries named ``name`` of ``plane_kubeconfig`` into ``path`` (replacing any)."""
    ours = yaml.safe_load(plane_kubeconfig.read_text(encoding="utf-8"))
    data = _load(path)
    for section in SECTIONS:
        kept = [e for e in data.get(section) or [] if e.get("name") != name]
        data[section] = kept + [e for e in ours[section] if e.get("name") == name]
    if not data.get("current-context"):
        data["current-context"] = name
    _write(path, data)


def remove(path: Path, name: str) -> bool:
    """Take the entries named ``name`` out of ``path``; False when there were none."""
    if not path.exists():
        return False
    data = _load(path)
    found = False
    for section in SECTIONS:
        entries = data.get(section) or []
        kept = [e for e in entries if e.get("name") != name]
        found = found or len(kept) != len(entries)
        data[section] = kept
    if data.get("current-context") == name:
        left = [e.get("name") for e in data.get("contexts") or []]
        data["current-context"] = left[0] if left else ""
        found = True
    if found:
        _write(path, data)
    return found
