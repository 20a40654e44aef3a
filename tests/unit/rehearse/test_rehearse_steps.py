"""Which runbook steps a rehearsal runs, maps or skips, with the reason for each."""

from __future__ import annotations

from akops.layout import Layout
from akops.rehearse import steps
from akops.runbook import load


def test_boot_storm_runs_its_sql_and_db_checks_and_skips_kubectl(layout: Layout) -> None:
    rb = load.find(layout.runbooks, "db-boot-storm")
    planned = {p.step: p for p in steps.plan(rb.runbook.steps, {}, shm=False)}
    for sql in ("lock-holders", "blocked", "connections", "ghost-pids", "terminate"):
        assert planned[sql].action == "run", sql
    for check in ("pool-waiting", "no-ghosts", "pool-free"):
        assert planned[check].action == "run", check
    assert planned["server-pods"].action == "skip"
    assert "kubectl" in planned["server-pods"].reason
    assert planned["ready"].action == "skip" and "HTTP" in planned["ready"].reason
    assert planned["recovered"].action == "skip" and "cluster" in planned["recovered"].reason
    assert planned["port-forward"].action == "skip"
    assert planned["safeguards"].action == "run"


def test_a_stand_in_replaces_the_step_and_keeps_its_place(layout: Layout) -> None:
    rb = load.find(layout.runbooks, "outpost-shm-full")
    stand_in = steps.StandIn(("kill", "-TERM", "123"), "stops the outpost stand-in")
    planned = steps.plan(rb.runbook.steps, {"restart-outpost": stand_in}, shm=True)
    mapped, skip = steps.apply(rb, planned)
    step = mapped.runbook.step("restart-outpost")
    assert step.kind == "command" and step.command == ["kill", "-TERM", "123"]
    assert step.changing
    assert [s.id for s in mapped.runbook.steps] == [s.id for s in rb.runbook.steps]
    assert "restart-outpost" not in skip and "shm-df" in skip
    by_id = {p.step: p for p in planned}
    assert by_id["shm-check"].action == "run"
    assert by_id["patch"].action == "skip"
    # the runbook as loaded is untouched
    assert rb.runbook.step("restart-outpost").command[0] == "kubectl"


def test_a_cluster_scope_check_is_skipped_whatever_its_family(layout: Layout) -> None:
    rb = load.find(layout.runbooks, "db-boot-storm")
    planned = {
        p.step: p
        for p in steps.plan(
            rb.runbook.steps, {}, shm=False, cluster_checks=frozenset({"db.pool-waiting"})
        )
    }
    assert planned["pool-free"].action == "skip"
    assert "Kubernetes API" in planned["pool-free"].reason
    assert planned["no-ghosts"].action == "run"
