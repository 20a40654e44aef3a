"""``runbook.list``: the runbooks as rows for people, lines for pipes, JSON for tools.

Rule: pure. Nothing is cut short: a pipe gets one tab-separated line per runbook with every
alert name whole (``grep``/``cut`` friendly), a tool gets JSON, and ``for_alert`` finds the
runbooks an alert points to (alert names compare without regard to case).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from akops.runbook.schema import RunbookDoc


def entry(rb: RunbookDoc) -> dict[str, object]:
    r = rb.runbook
    return {
        "name": r.name,
        "title": r.title,
        "summary": r.summary.strip(),
        "symptoms": [s.strip() for s in r.when.symptoms],
        "alerts": list(r.when.alerts),
        "source": rb.source,
        "run": f"invoke runbook.run {r.name} --env ENV",
    }


def for_alert(docs: Sequence[RunbookDoc], alert: str) -> list[RunbookDoc]:
    """The runbooks whose ``when.alerts`` name ``alert``."""
    want = alert.strip().lower()
    return [rb for rb in docs if want in {a.lower() for a in rb.runbook.when.alerts}]


def to_json(docs: Sequence[RunbookDoc]) -> str:
    return json.dumps([entry(rb) for rb in docs], indent=2) + "\n"


def to_lines(docs: Sequence[RunbookDoc]) -> str:
    """One line per runbook: name, title, summary, alerts (comma-separated), tab-separated."""
    out = []
    for rb in docs:
        r = rb.runbook
        fields = (r.name, r.title, r.summary, ",".join(r.when.alerts))
        out.append("\t".join(" ".join(f.split()) for f in fields))
    return "".join(line + "\n" for line in out)
