"""Lint many files: each read, linted and dropped in a worker process, results cached.

Rule: I/O (files, worker processes, the caches). Small inputs are linted in this
process. Large ones are spread over the machine's cores by a process pool forked
after the imports (so workers start warm); each worker reads its files itself and
sends back only the per-file results (``engine.FileResult``: findings and the few
documents the stack rules need). Workers ignore SIGINT: Ctrl-C stops the parent,
which cancels what is queued and shuts the pool down, so no worker outlives the run.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from itertools import islice

from akops.lint import engine
from akops.lint.cache import ResultCache, StyleCache
from akops.lint.documents import FileRef, read_ref
from akops.lint.index import Settings
from akops.lint.registry import catalogue
from akops.lint.report import LintReport
from akops.lint.style import StyleConfig

# Below this many files a pool costs more than it saves.
MIN_PARALLEL_FILES = 8
FILE_TIMEOUT_S = 300  # one file of a few thousand documents takes seconds
IN_FLIGHT_PER_WORKER = 4


@dataclass(frozen=True)
class Job:
    settings: Settings
    style: StyleConfig
    results: ResultCache | None
    styles: StyleCache | None

    def lint(self, ref: FileRef) -> engine.FileResult:
        text = read_ref(ref)
        if self.results is not None and text.readable:
            cached = self.results.get(ref.label, text.text)
            if isinstance(cached, engine.FileResult):
                return cached
        result = engine.lint_file(text, self.settings, self.style, self.styles)
        if self.results is not None and text.readable:
            self.results.put(ref.label, text.text, result)
        return result


_JOB: Job | None = None  # the forked workers' copy


def _quiet_worker() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _lint_in_worker(ref: FileRef) -> engine.FileResult:
    assert _JOB is not None, "worker started without a job"
    return _JOB.lint(ref)


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _results(job: Job, refs: Sequence[FileRef], jobs: int) -> Iterator[engine.FileResult]:
    if jobs <= 1 or len(refs) < MIN_PARALLEL_FILES:
        for ref in refs:
            yield job.lint(ref)
        return
    global _JOB
    _JOB = job
    pool = ProcessPoolExecutor(
        max_workers=jobs, mp_context=multiprocessing.get_context("fork"), initializer=_quiet_worker
    )
    try:
        # A bounded window of files in flight, each result dropped once handed on: the
        # parent holds a few files' results, not the whole run's.
        pending: deque[Future[engine.FileResult]] = deque()
        todo = iter(refs)
        for ref in islice(todo, IN_FLIGHT_PER_WORKER * jobs):
            pending.append(pool.submit(_lint_in_worker, ref))
        while pending:
            result = pending.popleft().result(timeout=FILE_TIMEOUT_S)
            for ref in islice(todo, 1):
                pending.append(pool.submit(_lint_in_worker, ref))
            yield result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        _JOB = None


def lint_files(
    refs: Sequence[FileRef],
    settings: Settings,
    style: StyleConfig,
    *,
    cache: bool = True,
    jobs: int | None = None,
) -> LintReport:
    """Lint ``refs`` as one stack; ``jobs`` worker processes (default: one per core)."""
    catalogue()  # import every rule module now: forked workers inherit them, warm
    job = Job(
        settings,
        style,
        ResultCache(f"{settings.fingerprint()}\n{style.fingerprint}") if cache else None,
        StyleCache() if cache else None,
    )
    workers = cores() if jobs is None else jobs
    return engine.finish(_results(job, refs, workers), len(refs), settings)
