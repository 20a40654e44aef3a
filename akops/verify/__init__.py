"""Post-deploy verification of the stack: ``invoke verify`` and ``nox -s checks``.

One definition, two runners. Each check (stable ID in ``catalogue``) is a function in
``checks`` that observes through a testinfra host, an HTTP GET, the Kubernetes API or a
query, and hands the observation to a pure verdict (``verdicts``). ``checks/`` runs them
as pytest/testinfra tests; ``run`` runs them concurrently with per-check timeouts,
retries for convergence checks and one exec per pod.

Pure: catalogue, commands, verdicts, plan, results. I/O: execute, fetch, query,
observe, bound, run, show.
"""

from __future__ import annotations

from akops.verify.results import Outcome, Result, Status, VerifyReport
from akops.verify.run import verify_environment

__all__ = ["Outcome", "Result", "Status", "VerifyReport", "verify_environment"]
