"""Alerts <-> runbooks, both ways, as lint rules (pure): each direction is shown to fail."""

from __future__ import annotations

import dataclasses

import pytest

from akops.alerts.rules import Alert, RunbookAlerts, Runbooks
from akops.layout import Layout
from akops.lint.documents import KubeObject, SourceText, classify
from akops.lint.findings import Finding
from akops.lint.rules.alerts import (
    alerts_in,
    check_links,
    check_runbooks,
    check_summaries,
    rule_files_in,
)
from akops.render import render_env
from akops.runbook.load import alert_links

URL = "https://git.example/ops/runbooks/{runbook}.yaml"


@pytest.fixture(scope="module")
def objects(layout: Layout) -> tuple[KubeObject, ...]:
    _, stack = render_env(layout, "prod")
    return classify(SourceText(f.name, f.text, True) for f in stack.files).objects


@pytest.fixture(scope="module")
def books(layout: Layout) -> Runbooks:
    books = alert_links(
        layout.runbooks,
        "runbooks",
        "https://git.viktorbarzin.me/infra/authentik-ops/src/branch/main/runbooks/{runbook}.yaml",
    )
    return books


@pytest.fixture(scope="module")
def alerts(objects: tuple[KubeObject, ...]) -> list[Alert]:
    found, broken = alerts_in(rule_files_in(objects))
    assert not broken
    return found


def rules_of(findings: list[Finding]) -> list[str]:
    return sorted(f.rule for f in findings)


def check(objects: tuple[KubeObject, ...], books: Runbooks) -> list[Finding]:
    alerts, broken = alerts_in(rule_files_in(objects))
    if not alerts and not broken:
        return []
    return [
        *broken,
        *check_summaries(alerts),
        *check_links(alerts, books),
        *check_runbooks(alerts, books),
    ]


def test_the_repository_is_consistent_both_ways(
    objects: tuple[KubeObject, ...], books: Runbooks
) -> None:
    assert check(objects, books) == []


def test_every_incident_runbook_names_an_alert_that_exists(
    books: Runbooks, alerts: list[Alert]
) -> None:
    defined = {a.name for a in alerts}
    for name in ("db-boot-storm", "outpost-shm-full", "pgbouncer-down", "node-drain", "rollback"):
        book = books.named(name)
        assert book is not None and book.alerts, name
        assert {n for n, _ in book.alerts} <= defined, name


def test_a_runbook_naming_a_missing_alert_is_found_at_its_line(
    objects: tuple[KubeObject, ...], books: Runbooks
) -> None:
    ghost = RunbookAlerts(
        "outpost-shm-full", "runbooks/outpost-shm-full.yaml", (("AuthentikOutpostGone", 17),)
    )
    found = check(objects, dataclasses.replace(books, books=(*books.books, ghost)))
    (f,) = found
    assert (f.rule, f.file, f.line) == ("runbooks.alerts", "runbooks/outpost-shm-full.yaml", 17)
    assert "AuthentikOutpostGone" in f.message


def test_an_alert_its_runbook_does_not_list_is_found(
    objects: tuple[KubeObject, ...], books: Runbooks
) -> None:
    trimmed = tuple(
        dataclasses.replace(
            b, alerts=tuple(a for a in b.alerts if a[0] != "PgBouncerClientsWaiting")
        )
        for b in books.books
    )
    found = check(objects, dataclasses.replace(books, books=trimmed))
    (f,) = found
    assert f.rule == "alerts.runbook" and f.file == "alerts-rules.yaml"
    assert "PgBouncerClientsWaiting" in f.message and "db-boot-storm" in f.message
    assert f.line is not None and f.object == "ConfigMap/authentik-alerts"


def test_an_alert_linking_a_missing_runbook_is_found(
    objects: tuple[KubeObject, ...], books: Runbooks
) -> None:
    without = tuple(b for b in books.books if b.runbook != "pgbouncer-down")
    found = check(objects, dataclasses.replace(books, books=without))
    assert set(rules_of(found)) == {"alerts.runbook"}
    assert any("'pgbouncer-down', which does not exist" in f.message for f in found)


def test_an_alert_url_not_of_the_environment_form_is_found(
    objects: tuple[KubeObject, ...], books: Runbooks
) -> None:
    found = check(objects, dataclasses.replace(books, url_template=URL))
    assert found and set(rules_of(found)) == {"alerts.runbook"}
    assert "is not of the form" in found[0].message


def test_summary_and_runbook_url_are_required(alerts: list[Alert], books: Runbooks) -> None:
    def check_alerts(some: list[Alert], books: Runbooks) -> list[Finding]:
        return [*check_summaries(some), *check_links(some, books)]

    a = alerts[0]
    bare = dataclasses.replace(a, annotations={})
    vague = dataclasses.replace(a, annotations={**a.annotations, "summary": "Authentik is down"})
    assert rules_of(list(check_alerts([bare], books))) == ["alerts.runbook", "alerts.summary"]
    (f,) = check_alerts([vague], books)
    assert f.rule == "alerts.summary" and "gives no number" in f.message


def test_without_rule_files_there_is_nothing_to_cross_check(books: Runbooks) -> None:
    assert check((), books) == []
