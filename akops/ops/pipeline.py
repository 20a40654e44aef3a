"""A pipeline of named stages over one typed run state, with one summary.

Rule: pure orchestration. A stage is a name and a function of the run state returning a
one-line detail; it fails by raising ``AkopsError`` (its ``exit_code`` becomes the
pipeline's, and the error is kept for callers that re-raise it), skips itself by raising
``Skip``, and is skipped when an earlier stage failed or its ``when`` predicate gives a
reason. Nothing here knows what a stage does.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, Literal, TypeVar

from akops.errors import AkopsError

StageStatus = Literal["ok", "failed", "skipped"]
S = TypeVar("S")


class Skip(Exception):
    """Raised by a stage that has nothing to do; the message says why."""


@dataclass(frozen=True)
class Stage(Generic[S]):
    name: str
    run: Callable[[S], str | None]
    when: Callable[[S], str | None] | None = None
    """Returns a reason to skip the stage (``None``: run it)."""


@dataclass(frozen=True)
class StageResult:
    name: str
    status: StageStatus
    detail: str
    seconds: float
    exit_code: int = 0
    error: AkopsError | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Summary:
    results: tuple[StageResult, ...]

    @property
    def exit_code(self) -> int:
        for r in self.results:
            if r.status == "failed":
                return r.exit_code
        return 0

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    @property
    def failed(self) -> StageResult | None:
        return next((r for r in self.results if r.status == "failed"), None)

    def raise_failure(self) -> None:
        """Re-raise the error of the stage that failed, if one did (for single operations)."""
        failed = self.failed
        if failed is not None and failed.error is not None:
            raise failed.error

    def to_text(self) -> str:
        width = max((len(r.name) for r in self.results), default=5)
        lines = ["summary:"]
        for r in self.results:
            took = f"{r.seconds:6.1f}s" if r.status != "skipped" else " " * 7
            lines.append(f"  {r.name:<{width}}  {r.status:<7} {took}  {r.detail}".rstrip())
        failed = self.failed
        if failed is None:
            lines.append("result: ok")
        else:
            lines.append(f"result: failed at {failed.name} (exit {failed.exit_code})")
        return "\n".join(lines) + "\n"


def run_stages(
    stages: Sequence[Stage[S]],
    state: S,
    clock: Callable[[], float] = time.monotonic,
    guard: Callable[[], None] | None = None,
) -> Summary:
    """Run ``stages`` in order on ``state``; after a failure the rest are skipped.

    ``guard`` is called before each stage that runs (the deploy lock: still ours?); when it
    raises, that stage fails with its error, unstarted, and the rest are skipped."""
    results: list[StageResult] = []
    failed: StageResult | None = None
    for stage in stages:
        if failed is not None:
            results.append(StageResult(stage.name, "skipped", f"after {failed.name} failed", 0.0))
            continue
        reason = stage.when(state) if stage.when is not None else None
        if reason:
            results.append(StageResult(stage.name, "skipped", reason, 0.0))
            continue
        start = clock()
        try:
            if guard is not None:
                guard()
        except AkopsError as e:
            failed = StageResult(stage.name, "failed", f"not started: {e}", 0.0, e.exit_code, e)
            results.append(failed)
            continue
        try:
            detail = stage.run(state) or ""
        except Skip as e:
            results.append(StageResult(stage.name, "skipped", str(e), clock() - start))
            continue
        except AkopsError as e:
            failed = StageResult(stage.name, "failed", str(e), clock() - start, e.exit_code, e)
            results.append(failed)
            continue
        results.append(StageResult(stage.name, "ok", detail, clock() - start))
    return Summary(tuple(results))
