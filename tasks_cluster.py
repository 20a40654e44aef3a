"""``invoke cluster.up`` / ``cluster.down``: a real Kubernetes control plane on this machine.

Thin adapters over ``akops.launch``: parse flags, call one library function, map errors to exit
codes (``tasks.exits``). Registered in the index (tasks.py) with one line. The kubeconfig path
goes to stdout alone (``export KUBECONFIG=$(invoke cluster.up)``), everything else to stderr.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from invoke import Collection, Context, task

if TYPE_CHECKING:
    from akops.launch import ControlPlane

DIR_HELP = "the plane's folder (default: <akops cache>/cluster/akops-local)"


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _root(dir: str) -> Path:
    from akops.launch import CONTEXT
    from akops.layout import user_cache

    return Path(dir).expanduser().resolve() if dir else user_cache("cluster", CONTEXT)


def _expected_namespaces() -> set[str]:
    """The namespaces environments/*.yaml expect a cluster to have besides their own
    (Prometheus's, the database's): a deploy to the plane then meets what it meets there."""
    from akops.environment import known_environments, load_environment
    from akops.errors import AkopsError
    from tasks import LAYOUT

    found: set[str] = set()
    for name in known_environments(LAYOUT.environments):
        try:
            env = load_environment(name, LAYOUT.environments)
        except AkopsError:
            continue  # a broken environment file is `invoke lint`'s to report, not ours
        found.update(env.other_namespaces)
        if env.upstream.namespace:
            found.add(env.upstream.namespace)
    return found


def _register(plane: ControlPlane, merge: bool) -> None:
    from akops.launch import register

    if merge:
        where = register.target()
        register.add(where, plane.kubeconfig, plane.context)
        _say(f"context {plane.context} is in {where}")


@task(
    name="up",
    help={
        "dir": DIR_HELP,
        "merge": "add the akops-local context to your kubeconfig (KUBECONFIG's first file, "
        "else ~/.kube/config); --no-merge leaves that file alone",
        "dry_run": "say where the programs come from and what would start; start nothing",
    },
)
def up(c: Context, dir: str = "", merge: bool = True, dry_run: bool = False) -> None:
    """Start etcd, kube-apiserver, controllers, scheduler and 4 kwok nodes on loopback."""
    from akops import launch
    from akops.launch import binaries, register
    from tasks import exits

    with exits():
        root = _root(dir)
        running = launch.load(root)
        if running is not None and running.healthy() and not dry_run:
            _say(f"a control plane already runs in {root} ({running.server}, {running.version})")
            _register(running, merge)
            print(running.kubeconfig)
            return
        if dry_run:
            folder = binaries.assets_folder()
            # A broken KUBEBUILDER_ASSETS is refused here too (one line, exit 2).
            source = binaries.from_assets(folder).source if folder else "tools/go (built once)"
            _say(f"would start a control plane in {root} with the programs from {source}")
            _say(f"would write {root / 'kubeconfig'} (context {launch.CONTEXT})")
            if merge:
                _say(f"would add context {launch.CONTEXT} to {register.target()}")
            return
        launch.stop(root)  # what a crashed plane left (idempotent)
        found = launch.find_binaries(on_line=_say)
        plane = launch.start(root, found, say=_say)
        ran = ", ".join(c.name for c in plane.components)
        _say(f"control plane {plane.version} at {plane.server}: {ran}")
        if plane.nodes:
            _say(f"nodes (kwok): {', '.join(plane.nodes)}")
        if plane.missing:
            _say(f"not started ({found.source} has no such program): {', '.join(plane.missing)}")
        made = launch.make_namespaces(plane, _expected_namespaces())
        if made:
            _say(f"namespaces the environments expect to find: {', '.join(made)}")
        _register(plane, merge)
        _say(f"kubeconfig (context {plane.context}); stop it with `invoke cluster.down`:")
        print(plane.kubeconfig)


@task(
    name="down",
    help={
        "dir": DIR_HELP,
        "dry_run": "say what would be stopped; stop nothing",
    },
)
def down(c: Context, dir: str = "", dry_run: bool = False) -> None:
    """Stop the local control plane and remove its context; nothing is left running."""
    from akops import launch
    from akops.launch import register
    from tasks import exits

    with exits():
        root = _root(dir)
        plane = launch.load(root)
        if dry_run:
            names = ", ".join(plane.running()) if plane else ""
            _say(f"would stop: {names or 'nothing (no control plane runs in ' + str(root) + ')'}")
            return
        stopped = launch.stop(root)
        removed = register.remove(register.target(), launch.CONTEXT)
        if root.is_dir() and not (root / "state.json").exists():
            import shutil

            shutil.rmtree(root, ignore_errors=True)
        _say(f"stopped: {', '.join(stopped)}" if stopped else f"no control plane ran in {root}")
        if removed:
            _say(f"context {launch.CONTEXT} removed from {register.target()}")


cluster = Collection("cluster", up, down)
