"""What a running Prometheus says is firing for the stack, and the verdict verify reports.

Rule: pure (JSON text in, frozen values out). The stack's alerts are those with the label
``stack: authentik`` (every rule of templates/alerts/ sets it) whose ``namespace`` label,
when present, is the environment's. A firing critical alert fails; firing warnings and
pending alerts are listed and pass. Each alert names its runbook and how to run it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from akops.alerts.rules import runbook_of

STACK_LABEL = "stack"
STACK = "authentik"


@dataclass(frozen=True)
class ActiveAlert:
    """One alert of Prometheus's ``/api/v1/alerts``: pending or firing."""

    name: str
    state: str  # "firing" or "pending"
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "")

    @property
    def firing(self) -> bool:
        return self.state == "firing"


def parse(text: str) -> tuple[ActiveAlert, ...]:
    """The alerts of an ``/api/v1/alerts`` answer; ``ValueError`` (one line) when it is not one."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"not JSON ({e.msg} at line {e.lineno})") from e
    if not isinstance(doc, dict) or doc.get("status") != "success":
        error = doc.get("error") if isinstance(doc, dict) else None
        raise ValueError(f"Prometheus answered an error: {error or 'no status success'}")
    data = doc.get("data")
    alerts = data.get("alerts") if isinstance(data, dict) else None
    if not isinstance(alerts, list):
        raise ValueError("no data.alerts list in the answer")
    out = []
    for item in alerts:
        if not isinstance(item, dict):
            continue
        labels = _strings(item.get("labels"))
        out.append(
            ActiveAlert(
                name=labels.get("alertname", "(unnamed)"),
                state=str(item.get("state", "")),
                labels=labels,
                annotations=_strings(item.get("annotations")),
            )
        )
    return tuple(out)


def _strings(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def of_stack(alerts: Iterable[ActiveAlert], namespace: str) -> list[ActiveAlert]:
    """The stack's alerts of this environment's namespace, firing first, then by name."""
    mine = [
        a
        for a in alerts
        if a.labels.get(STACK_LABEL) == STACK and a.labels.get("namespace", namespace) == namespace
    ]
    return sorted(mine, key=lambda a: (not a.firing, a.severity != "critical", a.name))


@dataclass(frozen=True)
class Verdict:
    ok: bool
    detail: str


def runbook_hint(alert: ActiveAlert, url_template: str | None, env: str) -> str:
    url = alert.annotations.get("runbook_url", "")
    name = runbook_of(url, url_template) if url and url_template else None
    if name:
        return f"runbook {name}: invoke runbook.run {name} --env {env}"
    return f"runbook {url}" if url else "no runbook_url"


def describe(alert: ActiveAlert, url_template: str | None, env: str) -> str:
    where = alert.labels.get("pod") or alert.labels.get("deployment") or ""
    at = f" ({where})" if where else ""
    return f"{alert.name}{at} [{alert.severity or 'no severity'}] -> " + runbook_hint(
        alert, url_template, env
    )


def verdict(
    alerts: Sequence[ActiveAlert], namespace: str, url_template: str | None, env: str
) -> Verdict:
    """Fail on a firing critical alert of the stack; list every firing and pending one."""
    mine = of_stack(alerts, namespace)
    firing = [a for a in mine if a.firing]
    pending = [a for a in mine if not a.firing]
    critical = [a for a in firing if a.severity == "critical"]
    parts = []
    if firing:
        parts.append("firing: " + "; ".join(describe(a, url_template, env) for a in firing))
    if pending:
        parts.append("pending: " + ", ".join(sorted({a.name for a in pending})))
    if critical:
        return Verdict(False, f"{len(critical)} critical alert(s) firing; " + " | ".join(parts))
    if not parts:
        return Verdict(True, "no alert of the stack is firing or pending")
    return Verdict(True, "no critical alert firing; " + " | ".join(parts))
