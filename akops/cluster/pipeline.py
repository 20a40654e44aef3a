"""A pipeline of named stages with one summary and the exit code of the first failure.

Rule: pure orchestration. A stage is a name and a function returning a one-line
detail; it fails by raising ``AkopsError`` (its ``exit_code`` becomes the
pipeline's), skips itself by raising ``Skip``, and is skipped when an earlier stage
failed or its ``when`` predicate says no. Nothing here knows what a stage does.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from akops.errors import AkopsError

Status = Literal["ok", "failed", "skipped"]


class Skip(Exception):
    """Raised by a stage that has nothing to do; the message says why."""


@dataclass(frozen=True)
class Stage:
    name: str
    run: Callable[[], str | None]
    when: Callable[[], str | None] | None = None
    """Returns a reason to skip the stage (``None``: run it)."""


@dataclass(frozen=True)
class StageResult:
    name: str
    status: Status
    detail: str
    seconds: float
    exit_code: int = 0


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


def run_stages(stages: Sequence[Stage], clock: Callable[[], float] = time.monotonic) -> Summary:
    """Run ``stages`` in order; after a failure the rest are skipped."""
    results: list[StageResult] = []
    failed: StageResult | None = None
    for stage in stages:
        if failed is not None:
            results.append(StageResult(stage.name, "skipped", f"after {failed.name} failed", 0.0))
            continue
        reason = stage.when() if stage.when is not None else None
        if reason:
            results.append(StageResult(stage.name, "skipped", reason, 0.0))
            continue
        start = clock()
        try:
            detail = stage.run() or ""
        except Skip as e:
            results.append(StageResult(stage.name, "skipped", str(e), clock() - start))
            continue
        except AkopsError as e:
            failed = StageResult(stage.name, "failed", str(e), clock() - start, e.exit_code)
            results.append(failed)
            continue
        results.append(StageResult(stage.name, "ok", detail, clock() - start))
    return Summary(tuple(results))
