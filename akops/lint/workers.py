"""Lint many files: each read, looked up in the result cache, else linted, and dropped.

Rule: I/O (files, worker processes, the caches). This process reads every file and
answers unchanged ones from the result cache. Changed files are linted here while they
are few; from ``MIN_PARALLEL_FILES`` on they go to a process pool forked after the
imports (workers start warm, rule modules loaded), which sends back only the per-file
results (``engine.FileResult``: findings and the few documents the stack rules need).
Workers ignore SIGINT: Ctrl-C stops the parent, which cancels what is queued and shuts
the pool down, so no worker outlives the run.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass

from akops.lint import engine
from akops.lint.cache import ResultCache, StyleCache
from akops.lint.documents import FileRef, SourceText, read_ref
from akops.lint.findings import Finding
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

    def cached(self, text: SourceText) -> engine.FileResult | None:
        if self.results is None or not text.readable:
            return None
        found = self.results.get(text.file, text.text)
        return found if isinstance(found, engine.FileResult) else None

    def lint(self, text: SourceText) -> engine.FileResult:
        result = engine.lint_file(text, self.settings, self.style, self.styles)
        if self.results is not None and text.readable:
            self.results.put(text.file, text.text, result)
        return result


_JOB: Job | None = None  # the forked workers' copy


def _quiet_worker() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _lint_in_worker(text: SourceText) -> engine.FileResult:
    assert _JOB is not None, "worker started without a job"
    return _JOB.lint(text)


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _results(job: Job, refs: Sequence[FileRef], jobs: int) -> Iterator[engine.FileResult]:
    """Each file's result: from the cache (read here), else linted here while there are few
    to lint, else in a pool forked once there are ``MIN_PARALLEL_FILES`` (an unchanged tree
    never starts one). Results come in file order."""
    global _JOB
    pool: ProcessPoolExecutor | None = None
    # A bounded window in flight, each result dropped once handed on: the parent holds
    # a few files' results, never the whole run's.
    pending: deque[Future[engine.FileResult] | engine.FileResult] = deque()
    misses = 0
    try:
        for ref in refs:
            text = read_ref(ref)
            hit = job.cached(text)
            if hit is not None:
                pending.append(hit)
            else:
                misses += 1
                if pool is None and jobs > 1 and misses >= MIN_PARALLEL_FILES:
                    _JOB = job
                    pool = ProcessPoolExecutor(
                        max_workers=jobs,
                        mp_context=multiprocessing.get_context("fork"),
                        initializer=_quiet_worker,
                    )
                pending.append(
                    pool.submit(_lint_in_worker, text) if pool is not None else job.lint(text)
                )
            while len(pending) > IN_FLIGHT_PER_WORKER * max(jobs, 1) or (
                pending and not isinstance(pending[0], Future)
            ):
                yield _take(pending.popleft())
        while pending:
            yield _take(pending.popleft())
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        _JOB = None


def _take(item: Future[engine.FileResult] | engine.FileResult) -> engine.FileResult:
    return item.result(timeout=FILE_TIMEOUT_S) if isinstance(item, Future) else item


def lint_files(
    refs: Sequence[FileRef],
    settings: Settings,
    style: StyleConfig,
    *,
    cache: bool = True,
    jobs: int | None = None,
    extra: Sequence[Finding] = (),
) -> LintReport:
    """Lint ``refs`` as one stack; ``jobs`` worker processes (default: one per core).

    ``extra`` are findings an I/O step made about the same files (promtool on rule files).
    """
    catalogue()  # import every rule module now: forked workers inherit them, warm
    job = Job(
        settings,
        style,
        ResultCache(f"{settings.fingerprint()}\n{style.fingerprint}") if cache else None,
        StyleCache() if cache else None,
    )
    workers = cores() if jobs is None else jobs
    return engine.finish(_results(job, refs, workers), len(refs), settings, extra)
