"""A runbook ``check`` step: the verify registry, in this process, for one check ID.

Rule: I/O (through ``akops.verify.run``: the cluster API, execs via ``akops.process``, HTTP,
SQL). What ``invoke verify --env ENV --only ID FLAGS`` would report, without starting a new
Python and Invoke for every step: the same ``prepare`` and ``execute``, each result streamed as
one line. The step's timeout bounds the whole check; past it (or on an interrupt) every child
the check started, and only those, is stopped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from pathlib import Path

from akops import process
from akops.layout import Layout
from akops.requests import VerifyRequest
from akops.verify.results import Result, VerifyReport


def line(r: Result) -> str:
    return f"{r.status.value:<5} {r.check} [{r.target}] {r.detail}".rstrip()


def run_check(
    root: Path,
    req: VerifyRequest,
    *,
    timeout: float,
    on_line: Callable[[str], None],
    environ: Mapping[str, str] | None = None,
) -> VerifyReport | None:
    """The verify report of ``req`` (None: no report within ``timeout`` seconds). Secrets
    (the database password of the db.* checks) resolve from ``environ``, the run's own.

    Raises ``AkopsError`` when the check cannot run (exit 2 for ``invoke verify``): an unknown
    environment, an unreachable cluster, a bad flag."""
    from akops.verify import run

    done: list[VerifyReport] = []
    failed: list[BaseException] = []

    # Only what this check starts is stopped: the caller may run services of its own (a
    # rehearsal's outpost writer), started on other threads while the check runs.
    owner = process.Owner(f"check {','.join(req.only)}")

    def work() -> None:
        try:
            with process.owned(owner):
                prepared = run.prepare(Layout(root), req, environ=environ)
                done.append(run.execute(prepared, on_result=lambda r: on_line(line(r))))
        except BaseException as e:  # handed to the caller's thread, which decides
            failed.append(e)

    def stop_ours() -> None:
        process.stop_owned(owner)

    worker = threading.Thread(target=work, name=f"akops-check-{','.join(req.only)}", daemon=True)
    worker.start()
    try:
        worker.join(timeout)
    except BaseException:  # an interrupt: the execs run on worker threads, stop them here
        stop_ours()
        raise
    if worker.is_alive():
        stop_ours()
        return None
    if failed:
        raise failed[0]
    return done[0]
