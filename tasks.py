"""Invoke's index: the task modules of ``akops.tasks``, bound to this repository.

Each group lives in its own module (``akops/tasks/<part>.py``) with an ``invoke.Collection``
named ``ns``; registering a module here is one line. How to add a task: docs/contributing.md.
"""

from __future__ import annotations

from pathlib import Path

from akops.tasks.common import assemble

ns = assemble(
    Path(__file__).resolve().parent,
    "render",  # render
    "lint",  # lint
    "verify",  # verify
    "deploy",  # plan, apply, deploy, rollback, rollout
    "outpost",  # outpost-patch
    "unlock",  # unlock
    "runbook",  # runbook.list, runbook.show, runbook.run
    "images",  # images.pin, images.check
    "chart",  # chart.pull
    "rehearse",  # rehearse
    "cluster",  # cluster.up, cluster.down
)
