"""Lint many files: each read, looked up in the result cache, else linted, and dropped.

Rule: I/O (files, worker processes, the caches). This process reads every file and
answers unchanged ones from the result cache. Changed files are linted here while they
are few; from ``MIN_PARALLEL_FILES`` on they go to a process pool forked after the
imports (workers start warm, rule modules loaded), which sends back only the per-file
results (``engine.FileResult``: findings and the few documents the stack rules need).
Workers ignore SIGINT, SIGTERM and SIGHUP: a signal to the process group stops the parent,
which kills the workers, cancels what is queued and shuts the pool down, so the run ends
with the parent's one line and no worker outlives it.
"""

from __future__ import annotations

import contextlib
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


#: What a terminal or a supervisor sends a whole process group.
GROUP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _quiet_worker() -> None:
    # The terminal's Ctrl-C, a TERM or a hangup to the process group reaches the workers too;
    # they leave it to the parent, which stops them and reports once (no traceback per worker).
    # They were forked with these signals blocked (``_forking``): one sent in between is
    # pending, and ignoring it discards it.
    for sig in GROUP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, GROUP_SIGNALS)


@contextlib.contextmanager
def _held() -> Iterator[None]:
    """Hold the group signals for a block; the parent gets them once it ends.

    Around the fork (inside ``submit``): a fork inherits the parent's Python handlers, and a
    signal before ``_quiet_worker`` ran would raise in the worker. Around the stop: a second
    signal must not cut the kill short and leave a worker the interpreter's exit waits for.
    """
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, GROUP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


class _Pool:
    """The worker pool of one run, forked on demand and stopped by the run's owner."""

    def __init__(self, job: Job, jobs: int) -> None:
        self.job, self.jobs = job, jobs
        self.pool: ProcessPoolExecutor | None = None

    def submit(self, text: SourceText) -> Future[engine.FileResult]:
        global _JOB
        with _held():
            if self.pool is None:
                _JOB = self.job
                self.pool = ProcessPoolExecutor(
                    max_workers=self.jobs,
                    mp_context=multiprocessing.get_context("fork"),
                    initializer=_quiet_worker,
                )
            return self.pool.submit(_lint_in_worker, text)

    def stop(self, *, kill: bool) -> None:
        """Shut the pool down; with ``kill`` (a failed or interrupted run) kill the workers
        first (they ignore TERM), so that nothing waits for the files they were on."""
        global _JOB
        with _held():
            pool, self.pool = self.pool, None
            if pool is not None:
                if kill:
                    for proc in list((pool._processes or {}).values()):
                        proc.kill()
                with contextlib.suppress(RuntimeError):  # its manager thread never started
                    pool.shutdown(wait=True, cancel_futures=True)
            _JOB = None


def _lint_in_worker(text: SourceText) -> engine.FileResult:
    assert _JOB is not None, "worker started without a job"
    return _JOB.lint(text)


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _results(
    job: Job, refs: Sequence[FileRef], jobs: int, pool: _Pool
) -> Iterator[engine.FileResult]:
    """Each file's result: from the cache (read here), else linted here while there are few
    to lint, else in ``pool``, forked once there are ``MIN_PARALLEL_FILES`` (an unchanged tree
    never starts one). Results come in file order."""
    # A bounded window in flight, each result dropped once handed on: the parent holds
    # a few files' results, never the whole run's.
    pending: deque[Future[engine.FileResult] | engine.FileResult] = deque()
    misses = 0
    for ref in refs:
        text = read_ref(ref)
        hit = job.cached(text)
        if hit is not None:
            pending.append(hit)
        else:
            misses += 1
            if pool.pool is not None or (jobs > 1 and misses >= MIN_PARALLEL_FILES):
                pending.append(pool.submit(text))
            else:
                pending.append(job.lint(text))
        while len(pending) > IN_FLIGHT_PER_WORKER * max(jobs, 1) or (
            pending and not isinstance(pending[0], Future)
        ):
            yield _take(pending.popleft())
    while pending:
        yield _take(pending.popleft())


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
    pool = _Pool(job, workers)
    # The pool is stopped here, not in the generator: an interrupt while ``finish`` holds a
    # result would otherwise leave the generator (and its workers) for the interpreter's
    # exit, which waits for the pool's threads.
    try:
        report = engine.finish(_results(job, refs, workers, pool), len(refs), settings, extra)
    except BaseException:
        pool.stop(kill=True)
        raise
    pool.stop(kill=False)
    return report
