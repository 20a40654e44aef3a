"""Post-deploy verification of the stack: ``invoke verify``, ``nox -s checks``, runbook checks.

One registry, three runners. Each check is one ``Check`` value (``check``) in its family
module (``checks/<family>.py``): its ID, scope, how it builds its probes, how it observes
(a testinfra host, an HTTP GET, the Kubernetes API or a query) and its pure verdict.
``registry`` gathers them; ``run`` runs them concurrently with per-check timeouts,
retries for convergence checks and one exec per pod; ``checks/`` (pytest) runs one probe
per test through the same runner.

Pure: check, checks/*, registry, probes, commands, results. I/O: execute, fetch, query,
observe, bound, run, show. The package imports nothing eagerly, so that reading the
registry (``invoke --help verify``) stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from akops.verify.results import Outcome, Result, Status, VerifyReport
    from akops.verify.run import verify_environment

__all__ = ["Outcome", "Result", "Status", "VerifyReport", "verify_environment"]


def __getattr__(name: str) -> Any:
    if name == "verify_environment":
        from akops.verify.run import verify_environment

        return verify_environment
    if name in ("Outcome", "Result", "Status", "VerifyReport"):
        from akops.verify import results

        return getattr(results, name)
    raise AttributeError(name)
