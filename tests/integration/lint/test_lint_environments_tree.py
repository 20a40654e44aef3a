"""`invoke lint --path manifests/` as an operator runs it: exactly the union of
`--path manifests/prod` and `--path manifests/lab` (text and JSON)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any


def run(cli: Callable[..., Any], *paths: str, fmt: str) -> tuple[int, str]:
    args = [a for p in paths for a in ("--path", p)]
    result = cli("lint", *args, "--format", fmt, "--no-cache")
    assert result.returncode in (0, 1), result.stderr
    assert "Traceback" not in result.stderr
    return result.returncode, result.stdout


def test_the_tree_reports_the_union_of_its_environments_as_json(cli: Callable[..., Any]) -> None:
    code, whole = run(cli, "manifests/", fmt="json")
    parts = [run(cli, f"manifests/{e}", fmt="json") for e in ("prod", "lab")]
    as_set = lambda text: {json.dumps(f, sort_keys=True) for f in json.loads(text)}  # noqa: E731
    assert as_set(whole) == as_set(parts[0][1]) | as_set(parts[1][1])
    assert code == max(c for c, _ in parts)


def test_the_tree_reports_the_union_of_its_environments_as_text(cli: Callable[..., Any]) -> None:
    def findings(text: str) -> set[str]:
        # Finding lines only: the fix/why lines come once per rule, the summary once.
        return {line for line in text.splitlines() if line.startswith("manifests/")}

    _, whole = run(cli, "manifests/", fmt="text")
    prod, lab = (run(cli, f"manifests/{e}", fmt="text")[1] for e in ("prod", "lab"))
    assert findings(whole) == findings(prod) | findings(lab)
    # The tree is read once: its files and documents are the two environments' together.
    counts = [
        tuple(map(int, re.findall(r"\((\d+) file\(s\), (\d+) document\(s\)\)", t)[-1]))
        for t in (whole, prod, lab)
    ]
    assert counts[0] == (counts[1][0] + counts[2][0], counts[1][1] + counts[2][1]), counts
