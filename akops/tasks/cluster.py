"""``cluster.up`` / ``cluster.down``: a real Kubernetes control plane on this machine.

Rule: adapter (parse flags, call one library function, map errors to exit codes). The library is
``akops.launch`` (docs/guides/local-cluster.md). ``cluster.up`` prints the kubeconfig's path on
stdout, alone (``export KUBECONFIG=$(invoke cluster.up)``); everything else goes to stderr.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from invoke.collection import Collection
from invoke.context import Context

from akops.requests import ClusterDownRequest, ClusterUpRequest
from akops.tasks.common import exits, layout, operation

if TYPE_CHECKING:
    from akops.launch import ControlPlane
    from akops.layout import Layout


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _root(dir: str) -> Path:
    from akops.launch import CONTEXT
    from akops.layout import user_cache

    return Path(dir).expanduser().resolve() if dir else user_cache("cluster", CONTEXT)


def _expected_namespaces(repo: Layout) -> set[str]:
    """The namespaces environments/*.yaml expect a cluster to have besides their own
    (Prometheus's, the database's): a deploy to the plane then meets what it meets there."""
    from akops.environment import known_environments, load_environment
    from akops.errors import AkopsError

    found: set[str] = set()
    for name in known_environments(repo.environments):
        try:
            env = load_environment(name, repo.environments)
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


@operation(ClusterUpRequest, name="up")
def up(c: Context, req: ClusterUpRequest) -> None:
    """Start etcd, kube-apiserver, controllers, scheduler and 4 kwok nodes on loopback."""
    from akops import launch
    from akops.launch import binaries, register

    with exits():
        root = _root(req.dir)
        running = launch.load(root)
        if running is not None and running.healthy() and not req.dry_run:
            _say(f"a control plane already runs in {root} ({running.server}, {running.version})")
            _register(running, req.merge)
            print(running.kubeconfig)
            return
        if req.dry_run:
            folder = binaries.assets_folder()
            # A broken KUBEBUILDER_ASSETS is refused here too (one line, exit 2).
            source = binaries.from_assets(folder).source if folder else "tools/go (built once)"
            _say(f"would start a control plane in {root} with the programs from {source}")
            _say(f"would write {root / 'kubeconfig'} (context {launch.CONTEXT})")
            if req.merge:
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
        made = launch.make_namespaces(plane, _expected_namespaces(layout(c)))
        if made:
            _say(f"namespaces the environments expect to find: {', '.join(made)}")
        _register(plane, req.merge)
        _say(f"kubeconfig (context {plane.context}); stop it with `invoke cluster.down`:")
        print(plane.kubeconfig)


@operation(ClusterDownRequest, name="down")
def down(c: Context, req: ClusterDownRequest) -> None:
    """Stop the local control plane and remove its context; nothing is left running."""
    import shutil

    from akops import launch
    from akops.launch import register

    with exits():
        root = _root(req.dir)
        plane = launch.load(root)
        if req.dry_run:
            names = ", ".join(plane.running()) if plane else ""
            _say(f"would stop: {names or f'nothing (no control plane runs in {root})'}")
            return
        stopped = launch.stop(root)
        removed = register.remove(register.target(), launch.CONTEXT)
        if root.is_dir() and not (root / "state.json").exists():
            shutil.rmtree(root, ignore_errors=True)
        _say(f"stopped: {', '.join(stopped)}" if stopped else f"no control plane ran in {root}")
        if removed:
            _say(f"context {launch.CONTEXT} removed from {register.target()}")


ns = Collection("cluster", up, down)
