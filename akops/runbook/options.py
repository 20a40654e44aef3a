"""What a runbook run is asked to do, and what it gives back.

Rule: pure values. ``RunOptions`` is everything a caller decides (``invoke runbook.run``'s flags,
or a rehearsal's); ``RunResult`` is the transcript and where it was written.
"""

from __future__ import annotations

import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from akops.ask import parse_answers
from akops.environment import Environment
from akops.layout import Layout
from akops.requests import RunbookRunRequest
from akops.runbook.commands import PROGRAMS
from akops.runbook.template import parse_assignments
from akops.runbook.transcript import EXIT_CODES, RunStatus, Transcript


@dataclass(frozen=True)
class RunOptions:
    env: Environment
    root: Path
    runs_dir: Path
    inputs: Mapping[str, str] = field(default_factory=dict)
    yes: bool = False
    dry_run: bool = False
    resume: bool = False
    skip: frozenset[str] = frozenset()
    #: ``--from STEP``: start at this step; the steps before it are recorded as skipped.
    start_at: str | None = None
    #: ``--answer STEP=CHOICE``: answers given in advance (checked against the questions).
    answers: Mapping[str, str] = field(default_factory=dict)
    #: Appended to every check step's ``invoke verify`` (e.g. ``--target local`` and its addresses).
    verify_args: tuple[str, ...] = ()
    #: The process environment steps inherit and secrets resolve from (default: ``os.environ``).
    environ: Mapping[str, str] | None = None
    #: Where the runbook was read from, when not the repository's ``runbooks/`` (``--runbooks``).
    runbooks: Path | None = None
    #: The programs a command step may run (its rendered argv[0], exactly), checked as it runs.
    programs: frozenset[str] = PROGRAMS

    @classmethod
    def of(
        cls, layout: Layout, req: RunbookRunRequest, env: Environment, runbooks: Path
    ) -> RunOptions:
        """The options of ``invoke runbook.run``'s request; ``runbooks``: where it was read."""
        # --runs-dir is relative to where the operator is; the environment's, to the repository.
        runs = Path(req.runs_dir).resolve() if req.runs_dir else layout.root / env.runs_dir
        return cls(
            env=env,
            root=layout.root,
            runs_dir=runs,
            inputs=parse_assignments(list(req.input), "--input"),
            yes=req.yes,
            dry_run=req.dry_run,
            resume=req.resume,
            skip=frozenset(req.skip),
            start_at=req.from_ or None,
            answers=parse_answers(req.answer),
            verify_args=req.verify_args,
            runbooks=runbooks if req.runbooks else None,
        )


@dataclass(frozen=True)
class RunResult:
    transcript: Transcript
    json_path: Path
    md_path: Path

    @property
    def status(self) -> RunStatus:
        return self.transcript.status

    @property
    def exit_code(self) -> int:
        """0 succeeded, 1 failed or stopped, 2 refused (could not run), 128+N interrupted by
        signal N (130 for Ctrl-C), as a shell reports it."""
        attempt = self.transcript.attempts[-1] if self.transcript.attempts else None
        if self.status == "interrupted" and attempt is not None and attempt.signal:
            return 128 + int(signal.Signals[attempt.signal])
        return EXIT_CODES[self.status]
