"""Rehearsals: replay the stack's incidents on real PostgreSQL, PgBouncer and tmpfs, run the
runbook against them, and hold the outcome to the scenario's expectations.

Pure: scenario (the file format), topology (what runs, scaled in time), judge (expectations
against a timeline), steps (which runbook steps a rehearsal can run), report (Markdown and
JSON). I/O: read (scenario files), start (PostgreSQL, PgBouncer, tmpfs), drive (the
Authentik-shaped load), inject (faults), observe (samples and checks), respond (the
runbook), plot (PNG), run (one rehearsal from start to report). Child mains: holder
(a migration that takes the lock and is then frozen), outpost (session files into /dev/shm).
"""

from __future__ import annotations
