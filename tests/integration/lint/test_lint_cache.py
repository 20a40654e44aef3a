"""Lint over many files: worker processes, the result caches, and the corpus generator."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from yamllint import linter

from akops.lint import lint_paths
from akops.lint.cache import StyleCache
from akops.lint.style import config_for, problems

ROOT = Path(__file__).resolve().parents[3]


def _corpus_module() -> Any:
    spec = importlib.util.spec_from_file_location(
        "lint_corpus", ROOT / "scripts" / "lint_corpus.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["lint_corpus"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    out = tmp_path / "corpus"
    assert _corpus_module().write(out, 600) == 12  # 50 documents a file
    # One app breaks a rule, so the comparison has a finding to carry.
    first = out / "apps-0001.yaml"
    first.write_text(
        first.read_text().replace(
            "image: registry.example.com/team-0/app-00000:1.0.0", "image: nginx"
        )
    )
    return out


def test_generated_apps_are_distinct(corpus: Path) -> None:
    text = "".join(p.read_text() for p in sorted(corpus.iterdir()))
    assert text.count("kind: PodDisruptionBudget") == 150
    assert (
        len({line.strip() for line in text.splitlines() if "app.kubernetes.io/name: app-" in line})
        == 150
    )


def test_workers_and_caches_give_the_same_report(corpus: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    mp = pytest.MonkeyPatch()
    mp.setenv("AKOPS_CACHE_DIR", str(cache))
    try:
        one = lint_paths([corpus], jobs=1, cache=False, root=ROOT)
        cold = lint_paths([corpus], jobs=2, root=ROOT)
        warm = lint_paths([corpus], jobs=2, root=ROOT)
    finally:
        mp.undo()
    assert one.documents == 600 and one.files == 12
    assert [f.rule for f in one.findings] == ["image.pinned"]
    assert one.findings == cold.findings == warm.findings
    assert len(list((cache / "results").rglob("*.pickle"))) == 12
    assert len(list((cache / "yamllint").rglob("*.json"))) == 12


def test_a_changed_file_misses_the_cache(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AKOPS_CACHE_DIR", str(tmp_path / "cache"))
    assert not lint_paths([corpus], root=ROOT).ok
    first = corpus / "apps-0001.yaml"
    first.write_text(first.read_text().replace("image: nginx", "image: nginx:1.27.3"))
    assert lint_paths([corpus], root=ROOT).ok


def test_style_cache_round_trip_and_unwritable(tmp_path: Path) -> None:
    cache = StyleCache(tmp_path)
    assert cache.get("ab" * 32) is None
    cache.put("ab" * 32, [(1, 2, "trailing spaces", "trailing-spaces")])
    assert cache.get("ab" * 32) == [(1, 2, "trailing spaces", "trailing-spaces")]
    blocked = tmp_path / "file"
    blocked.write_text("")
    broken = StyleCache(blocked)  # its directory cannot be created
    broken.put("cd" * 32, [])
    assert broken.get("cd" * 32) is None


def test_cosmetic_pass_matches_yamllint(corpus: Path) -> None:
    """Skipping yamllint's second (syntax) parse changes nothing for a file that parses."""
    style = config_for(ROOT)
    text = (corpus / "apps-0002.yaml").read_text().replace("kind: Service", "kind:   Service  ")
    expected = [
        (p.line, p.column, p.desc, p.rule) for p in linter.run(text, style.config) if p.rule
    ]
    assert expected and problems(text, style.config) == expected


def _survivors(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline:
            found.append(int(entry.name))
    return found


def test_ctrl_c_leaves_no_worker_behind(tmp_path: Path) -> None:
    corpus = tmp_path / "big"
    _corpus_module().write(corpus, 5000)  # minutes of work: the interrupt lands mid-run
    env = {**os.environ, "AKOPS_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "invoke", "lint", "--path", str(corpus), "--no-cache"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    # Interrupt once the workers run (they carry the parent's command line).
    while len(_survivors(str(corpus))) < 2 and proc.poll() is None:
        assert time.monotonic() < deadline, "the workers never started"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (proc.returncode, out, err)
    assert "Traceback" not in err and "interrupted" in err
    assert _survivors(str(corpus)) == []
