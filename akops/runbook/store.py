"""Writing and finding transcripts in the environment's ``runs_dir``.

Rule: file I/O only. Each run is ``<run-id>.json`` (for tools) and ``<run-id>.md``
(for people), rewritten atomically after every step, so whatever stops the run
(a failure, Ctrl-C, a lost terminal) leaves a transcript on disk.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError

from akops import files
from akops.errors import InputError, RunbookError
from akops.runbook import markdown
from akops.runbook.transcript import RESUMABLE, Transcript


def new_run_id(runs_dir: Path, runbook: str, env: str, now: datetime) -> str:
    base = f"{now:%Y%m%dT%H%M%SZ}-{runbook}-{env}"
    run_id, n = base, 1
    while (runs_dir / f"{run_id}.json").exists():
        n += 1
        run_id = f"{base}-{n}"
    return run_id


def paths(runs_dir: Path, run_id: str) -> tuple[Path, Path]:
    return runs_dir / f"{run_id}.json", runs_dir / f"{run_id}.md"


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def save(t: Transcript, runs_dir: Path) -> tuple[Path, Path]:
    """Write the JSON and Markdown of ``t``; returns their paths."""
    json_path, md_path = paths(runs_dir, t.run_id)
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
        _write(json_path, t.model_dump_json(indent=2) + "\n")
        _write(md_path, markdown.transcript(t))
    except OSError as e:
        raise RunbookError(f"{runs_dir}: cannot write the transcript: {e.strerror}") from e
    return json_path, md_path


def load(path: Path) -> Transcript:
    try:
        return Transcript.model_validate_json(files.read_text(path))
    except InputError as e:
        raise RunbookError(f"cannot read the transcript: {e}") from e
    except ValidationError as e:
        raise RunbookError(
            f"{path}: not a runbook transcript ({e.error_count()} schema errors)"
        ) from e


def latest_resumable(runs_dir: Path, runbook: str, env: str) -> Transcript:
    """The newest transcript of ``runbook`` on ``env`` that stopped before the end."""
    candidates = (
        sorted(runs_dir.glob(f"*-{runbook}-{env}*.json"), reverse=True) if runs_dir.is_dir() else []
    )
    for path in candidates:
        t = load(path)
        if t.runbook != runbook or t.env != env:
            continue
        if t.status in RESUMABLE:
            return t
        break  # the newest run finished: there is nothing to resume
    raise RunbookError(
        f"no stopped run of runbook {runbook!r} on environment {env!r} in {runs_dir} to resume"
    )
