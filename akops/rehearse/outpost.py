"""The outpost's session store: session files written into /dev/shm at a steady rate.

Rule: a child main (``python -m akops.rehearse.outpost``), started by ``akops.rehearse.inject``
through the process helper, one per "pod". It writes a ``session_*`` file of ``--size`` bytes
``--rate`` times a second into ``--dir`` and deletes those older than ``--max-age`` seconds,
as the embedded outpost does with its sessions; a write that fails is logged the way the
outpost logs it (``error ... no space left on device``) and the next one is tried.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m akops.rehearse.outpost")
    parser.add_argument("--dir", required=True, type=Path)
    parser.add_argument("--rate", required=True, type=float, help="session files per second")
    parser.add_argument("--size", required=True, type=int, help="bytes per session file")
    parser.add_argument("--max-age", required=True, type=float, help="seconds a session lives")
    args = parser.parse_args(argv)
    payload = b"s" * args.size
    start = time.monotonic()
    written = errors = 0
    last_sweep = start
    print(f"outpost: sessions into {args.dir} at {args.rate:g}/s", flush=True)
    while True:
        due = start + written / args.rate
        time.sleep(max(0.0, due - time.monotonic()))
        path = args.dir / f"session_{os.getpid()}_{written:08d}"
        try:
            with path.open("wb") as f:
                f.write(payload)
        except OSError as e:
            errors += 1
            path.unlink(missing_ok=True)
            print(
                f"error: could not save session {path.name}: {(e.strerror or str(e)).lower()}",
                flush=True,
            )
        written += 1
        now = time.monotonic()
        if now - last_sweep >= 1.0:
            last_sweep = now
            cutoff = time.time() - args.max_age
            for old in args.dir.glob("session_*"):
                try:
                    if old.stat().st_mtime < cutoff:
                        old.unlink()
                except OSError:
                    continue


if __name__ == "__main__":
    sys.exit(main())
