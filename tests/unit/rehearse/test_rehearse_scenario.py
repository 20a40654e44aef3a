"""Scenario files: what validates, and one-line errors naming file:line and field."""

from __future__ import annotations

import pytest

from akops.errors import ScenarioError
from akops.layout import Layout
from akops.rehearse import read
from akops.rehearse.scenario import parse

GOOD = """\
title: T
summary: s
runbook: db-boot-storm
time_factor: 10
defence: something
acts:
  - id: one
    title: One
    duration: 60
    fault: {kind: boot-storm}
    run_runbook: true
    expect:
      - {id: seen, title: seen, check: db.pool-waiting, is: fail, within: 30}
      - {id: ran, title: ran, runbook: succeeded}
      - {id: gone, title: gone, metric: ghosts, at_most: 0,
         within: {setting: pgbouncer.settings.idle_transaction_timeout, plus: 30}}
"""


def parse_text(text: str):
    return parse(text, "rehearsals/t.yaml", "t")[0]


def test_a_good_scenario_parses() -> None:
    s = parse_text(GOOD)
    assert s.name == "t"
    assert [e.kind for e in s.acts[0].expect] == ["check", "runbook", "metric"]
    assert s.acts[0].expect[0].is_ == "fail"


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ("time_factor: 10", "time_factor: 0", "rehearsals/t.yaml:4: time_factor:"),
        ("is: fail", "is: broken", "rehearsals/t.yaml:13: acts[0].expect[0].is:"),
        (
            "check: db.pool-waiting",
            "check: http.ready",
            "rehearsals/t.yaml:13: acts[0].expect[0].check:",
        ),
        ("kind: boot-storm", "kind: meteor", "rehearsals/t.yaml:10: acts[0].fault.kind:"),
        (
            "    duration: 60\n",
            "",
            "rehearsals/t.yaml:7: acts[0].duration: required field is missing",
        ),
        ("title: T\n", "title: T\ncolour: red\n", "rehearsals/t.yaml:2: colour: unknown field"),
    ],
)
def test_errors_name_file_line_and_field(old: str, new: str, where: str) -> None:
    assert old in GOOD
    with pytest.raises(ScenarioError) as e:
        parse_text(GOOD.replace(old, new, 1))
    assert str(e.value).startswith(where), str(e.value)
    assert "\n" not in str(e.value)


def test_an_expectation_is_exactly_one_kind() -> None:
    bad = GOOD.replace("runbook: succeeded}", "runbook: succeeded, metric: ghosts, above: 0}")
    with pytest.raises(
        ScenarioError, match=r"acts\[0\]\.expect\[1\]: an expectation is exactly one"
    ):
        parse_text(bad)


def test_runbook_expectations_need_the_runbook_to_run() -> None:
    with pytest.raises(ScenarioError, match="run_runbook: true"):
        parse_text(GOOD.replace("run_runbook: true", "run_runbook: false"))


def test_a_deadline_is_required_where_time_matters() -> None:
    with pytest.raises(ScenarioError, match="needs a deadline"):
        parse_text(GOOD.replace(", within: 30}", "}"))


def test_the_name_must_match_the_file() -> None:
    with pytest.raises(ScenarioError, match=r"rehearsals/t.yaml:1: name: 'x' does not match"):
        parse_text("name: x\n" + GOOD)


def test_every_repository_scenario_validates_and_names_an_existing_runbook(
    layout: Layout,
) -> None:
    scenarios = read.load_all(layout.rehearsals)
    assert {s.name for s in scenarios} >= {"boot-storm"}
    runbooks = {p.stem for p in layout.runbooks.glob("*.yaml")}
    for s in scenarios:
        assert s.runbook is None or s.runbook in runbooks, s.name


def test_an_unknown_scenario_lists_the_known_ones(layout: Layout) -> None:
    with pytest.raises(
        ScenarioError, match=r"unknown scenario 'nope' \(known in rehearsals: .*boot-storm"
    ):
        read.find(layout.rehearsals, "nope")


def test_a_check_the_rehearsal_cannot_run_is_refused() -> None:
    from akops.verify import registry

    cluster = next(c.id for c in registry.REGISTRY if c.scope == "cluster")
    with pytest.raises(ScenarioError, match="cannot run against a rehearsal"):
        parse_text(GOOD.replace("check: db.pool-waiting", f"check: {cluster}"))
    with pytest.raises(ScenarioError, match=r"no such check 'db\.nope'"):
        parse_text(GOOD.replace("check: db.pool-waiting", "check: db.nope"))
