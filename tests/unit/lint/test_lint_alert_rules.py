"""The alert rules of lint at their edges, on a small stack: rule files that are not
one, summaries without numbers, runbook links of every wrong kind, runbooks naming
alerts no rule defines (exact messages and lines)."""

from __future__ import annotations

import pytest

from akops.alerts.rules import RunbookAlerts, Runbooks
from tests.unit.lint.small import lint

HEADER = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: rules\ndata:\n"


def rules(*alerts: str) -> str:
    body = "".join(alerts)
    return f"{HEADER}  a.rules.yml: |\n    groups:\n    - name: g\n      rules:\n{body}"


def alert(name: str, summary: str | None = "{{ $value }} waiting", url: str | None = None) -> str:
    text = f"      - alert: {name}\n        expr: up == 0\n        annotations:\n"
    if summary is not None:
        text += f"          summary: '{summary}'\n"
    if url is not None:
        text += f"          runbook_url: {url}\n"
    if summary is None and url is None:
        text += "          other: x\n"
    return text


POOL = RunbookAlerts("pool", "runbooks/pool.yaml", (("PoolWaiting", 7),))
BOOKS = Runbooks((POOL,), "https://x/rb/{runbook}.yaml")


def test_a_rule_file_that_is_not_one_is_a_finding_at_its_first_line() -> None:
    found = lint(f"{HEADER}  a.rules.yml: |\n    groups: 3\n").one("alerts.promtool")
    assert (
        found.message
        == "stack/doc0.yaml (ConfigMap/rules data.a.rules.yml): a rule file needs a 'groups' list"
    )
    assert (found.line, found.object, found.path) == (7, "ConfigMap/rules", "data.a.rules.yml")


@pytest.mark.parametrize(
    ("summary", "message"),
    [
        (None, "alert A has no summary annotation"),
        ("", "alert A has no summary annotation"),
        (
            "pool is busy",
            "alert A: summary 'pool is busy' gives no number (the value, a threshold or a duration)",
        ),
        ("{{$value}} clients", None),
        ("over 5 minutes", None),
    ],
)
def test_summaries_say_a_number(summary: str | None, message: str | None) -> None:
    found = lint(rules(alert("A", summary))).findings("alerts.summary")
    if message is None:
        assert found == []
        return
    (f,) = found
    assert (f.message, f.line, f.path) == (message, 10, "alert A")


def test_runbook_links_are_checked_only_with_runbooks() -> None:
    assert lint(rules(alert("A"))).findings("alerts.runbook") == []


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (None, "alert PoolWaiting has no runbook_url annotation"),
        (
            "https://x/other/pool.yaml",
            "alert PoolWaiting: runbook_url 'https://x/other/pool.yaml' is not of the form "
            "'https://x/rb/{runbook}.yaml' (monitoring.runbook_url)",
        ),
        (
            "https://x/rb/gone.yaml",
            "alert PoolWaiting: runbook_url names runbook 'gone', which does not exist (known: pool)",
        ),
        ("https://x/rb/pool.yaml", None),
    ],
)
def test_runbook_links(url: str | None, message: str | None) -> None:
    found = lint(rules(alert("PoolWaiting", url=url)), runbooks=BOOKS).findings("alerts.runbook")
    if message is None:
        assert found == []
        return
    (f,) = found
    assert (f.message, f.line, f.path, f.object) == (
        message,
        10,
        "alert PoolWaiting",
        "ConfigMap/rules",
    )


def test_a_runbook_that_does_not_list_the_alert_is_named() -> None:
    found = lint(rules(alert("Other", url="https://x/rb/pool.yaml")), runbooks=BOOKS)
    assert found.messages("alerts.runbook") == [
        "alert Other: its runbook 'pool' does not list it under when.alerts (runbooks/pool.yaml)"
    ]
    none = Runbooks((), "https://x/rb/{runbook}.yaml")
    assert lint(rules(alert("Other", url="https://x/rb/pool.yaml")), runbooks=none).messages(
        "alerts.runbook"
    ) == ["alert Other: runbook_url names runbook 'pool', which does not exist (known: none)"]


def test_a_runbook_naming_an_undefined_alert_is_found_at_its_line() -> None:
    found = lint(rules(alert("A", url="https://x/rb/pool.yaml")), runbooks=BOOKS)
    f = found.one("runbooks.alerts")
    assert f.message == (
        "runbook pool names alert 'PoolWaiting' under when.alerts, but no rendered rule "
        "defines it (1 alerts defined)"
    )
    assert (f.file, f.line, f.path) == ("runbooks/pool.yaml", 7, "when.alerts")
    assert lint(rules(alert("PoolWaiting")), runbooks=BOOKS).findings("runbooks.alerts") == []
