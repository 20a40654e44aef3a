"""``python -m akops.launch binaries | up DIR | down DIR | watch ...``: the plane from a shell.

Rule: entry point (parses argv, maps errors to exit codes). ``binaries`` is what the noxfile
runs before the tests (find or build once); ``watch`` is the watchdog ``start`` spawns.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from akops import process
from akops.errors import AkopsError, Interrupted

USAGE = "python -m akops.launch binaries | up DIR | down DIR"


def _say(line: str) -> None:
    print(line, file=sys.stderr)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m akops.launch", usage=USAGE)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("binaries", help="find (KUBEBUILDER_ASSETS) or build the programs")
    for name in ("up", "down"):
        sub.add_parser(name).add_argument("dir", type=Path, help="the plane's folder")
    watch = sub.add_parser("watch", help="stop the plane in DIR when the owner process is gone")
    watch.add_argument("--owner", type=int, required=True)
    watch.add_argument("--owner-started", type=int, required=True)
    watch.add_argument("dir", type=Path)
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return 2 if e.code else 0

    from akops import launch
    from akops.launch import plane

    try:
        if args.command == "binaries":
            found = launch.find_binaries(on_line=_say)
            for name in ("etcd", "kube-apiserver", *launch.binaries.OPTIONAL):
                print(f"{name}: {found.path(name) or 'missing'}")
        elif args.command == "up":
            started = launch.start(args.dir, launch.find_binaries(on_line=_say), say=_say)
            print(started.kubeconfig)
        elif args.command == "down":
            stopped = launch.stop(args.dir)
            _say(f"stopped: {', '.join(stopped) or 'nothing was running'}")
        else:
            # The watchdog is the plane's guarantee not to outlive its owner: stopping the
            # watchdog (SIGTERM, SIGHUP) stops the plane first instead of orphaning it.
            try:
                with process.signal_guard(exiting=True):
                    plane.watch(args.dir, args.owner, args.owner_started)
            except Interrupted as e:
                plane.stop(args.dir)
                return e.exit_code
    except AkopsError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
