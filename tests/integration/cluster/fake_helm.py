"""A stand-in ``helm`` program for tests: the subcommands akops uses, state in a JSON file.

It is a real executable run as a subprocess (PATH lookup, argv, exit status, stdout,
stderr), so the wiring of ``akops.cluster.helm`` is exercised end to end without a
cluster. State lives in ``$FAKE_HELM_STATE``; every invocation's argv is recorded.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import yaml


def option(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args else None


def main(argv: list[str]) -> int:
    path = Path(os.environ["FAKE_HELM_STATE"])
    state: dict[str, Any] = (
        json.loads(path.read_text()) if path.exists() else {"calls": [], "history": []}
    )
    state["calls"].append(argv)
    history: list[dict[str, Any]] = state["history"]
    try:
        cmd = argv[0]
        if cmd == "list":
            current = history[-1] if history else None
            out: Any = (
                [
                    {
                        "name": "goauthentik",
                        "chart": f"authentik-{current['version']}",
                        "revision": current["revision"],
                    }
                ]
                if current
                else []
            )
            print(json.dumps(out))
        elif cmd == "get" and argv[1] == "values":
            if not history:
                print("Error: release: not found", file=sys.stderr)
                return 1
            print(json.dumps(history[-1]["values"]))
        elif cmd == "upgrade":
            values = yaml.safe_load(Path(option(argv, "--values") or "").read_text())
            revision = len(history) + 1
            history.append(
                {"revision": revision, "version": option(argv, "--version"), "values": values}
            )
            print(f'Release "goauthentik" has been upgraded. REVISION: {revision}')
        elif cmd == "history":
            print(
                json.dumps(
                    [
                        {"revision": h["revision"], "chart": f"authentik-{h['version']}"}
                        for h in history
                    ]
                )
            )
        elif cmd == "rollback":
            if len(history) < 2:
                print("Error: no revision to roll back to", file=sys.stderr)
                return 1
            prev = history[-2]
            history.append({**prev, "revision": len(history) + 1})
            print("Rollback was a success! Happy Helming!")
        else:
            print(f"Error: unknown command {cmd!r}", file=sys.stderr)
            return 1
    finally:
        path.write_text(json.dumps(state))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
