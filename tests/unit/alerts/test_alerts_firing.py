"""The verdict of ``alerts.firing`` on what Prometheus's /api/v1/alerts answers (pure)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from akops.alerts.firing import ActiveAlert, of_stack, parse, verdict

URL = "https://git.example/ops/runbooks/{runbook}.yaml"


def answer(*alerts: dict[str, Any]) -> str:
    return json.dumps({"status": "success", "data": {"alerts": list(alerts)}})


def alert(name: str, state: str = "firing", severity: str = "critical", **labels: str) -> Any:
    return {
        "labels": {"alertname": name, "severity": severity, "stack": "authentik", **labels},
        "annotations": {
            "summary": f"{name} summary",
            "runbook_url": URL.replace("{runbook}", "db-boot-storm"),
        },
        "state": state,
        "activeAt": "2026-11-30T09:00:00Z",
        "value": "4e+00",
    }


def test_a_firing_critical_alert_fails_naming_its_runbook() -> None:
    found = parse(answer(alert("PgBouncerClientsWaiting", namespace="authentik", pod="pgb-1")))
    v = verdict(found, "authentik", URL, "prod")
    assert not v.ok
    assert "1 critical alert(s) firing" in v.detail
    assert "PgBouncerClientsWaiting (pgb-1) [critical]" in v.detail
    assert "invoke runbook.run db-boot-storm --env prod" in v.detail


def test_warnings_and_pending_alerts_are_listed_and_pass() -> None:
    found = parse(
        answer(
            alert("AuthentikContainerRestarts", severity="warning", namespace="authentik"),
            alert("PgBouncerDown", state="pending", deployment="pgbouncer"),
        )
    )
    v = verdict(found, "authentik", URL, "prod")
    assert v.ok
    assert "firing: AuthentikContainerRestarts" in v.detail
    assert "pending: PgBouncerDown" in v.detail


def test_other_stacks_and_namespaces_are_not_ours() -> None:
    other = alert("KubeNodeNotReady")
    other["labels"].pop("stack")
    found = parse(
        answer(other, alert("AuthentikDown", namespace="staging"), alert("AuthentikDown"))
    )
    mine = of_stack(found, "authentik")
    assert [a.name for a in mine] == ["AuthentikDown"]  # no namespace label: the stack's own
    assert verdict(parse(answer(other)), "authentik", URL, "prod").detail == (
        "no alert of the stack is firing or pending"
    )


def test_without_a_url_form_the_runbook_url_is_shown() -> None:
    (a,) = parse(answer(alert("AuthentikDown")))
    v = verdict([a], "authentik", None, "prod")
    assert "runbook https://git.example/ops/runbooks/db-boot-storm.yaml" in v.detail


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<html>", "not JSON"),
        ('{"status": "error", "error": "bad"}', "Prometheus answered an error: bad"),
        ('{"status": "success", "data": {}}', "no data.alerts list"),
    ],
)
def test_answers_that_are_not_alerts_are_one_line_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse(text)


def test_odd_items_are_skipped_not_crashed_on() -> None:
    found = parse(answer(alert("AuthentikDown"), "x", {"labels": []}))  # type: ignore[arg-type]
    assert [a.name for a in found] == ["AuthentikDown", "(unnamed)"]
    assert isinstance(found[0], ActiveAlert)
