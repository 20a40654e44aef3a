"""The plan as operators read it: values, multi-line texts, the release and its objects,
restarts, drift, and masking of values that hold a secret at any depth (pure)."""

from __future__ import annotations

import pytest

from akops.cluster.objects import Manifest, Ref
from akops.cluster.plan import (
    LAST_APPLIED,
    FieldChange,
    ObjectPlan,
    OutpostPlan,
    Plan,
    ReleasePlan,
    Restart,
    change_lines,
    changes,
    field_path,
    release_plan,
    restarts,
    shown,
)

CONFIG = Ref("ConfigMap", "authentik", "pgbouncer-config")
SECRET = Ref("Secret", "authentik", "pgbouncer-auth")
DEPLOYMENT = Ref("Deployment", "authentik", "pgbouncer")


# --- values -----------------------------------------------------------------------------


def test_short_values_are_shown_whole_and_long_ones_cut_at_100_characters() -> None:
    assert shown("a" * 98) == '"' + "a" * 98 + '"'  # 100 characters with the quotes
    assert shown("a" * 99) == '"' + "a" * 98 + "…"  # 101 would be: cut to 99 and an ellipsis
    assert len(shown("a" * 500)) == 100
    assert shown(3) == "3"
    assert shown(None) == "null"


def test_mappings_are_shown_sorted_with_spaces() -> None:
    assert shown({"b": [1, 2], "a": True}) == '{"a": true, "b": [1, 2]}'


def test_a_multi_line_text_is_shown_by_its_first_line_and_count() -> None:
    assert shown("first line\nsecond\nthird\n") == '"first line"… (3 lines)'
    assert shown("one line\n") == '"one line\\n"'
    long_first = "x" * 200 + "\nsecond"
    assert shown(long_first) == '"' + "x" * 87 + "… (2 lines)"


def test_field_paths_bracket_list_indexes_named_items_and_keys_with_dots_or_slashes() -> None:
    assert field_path(("spec", "replicas")) == "spec.replicas"
    assert field_path(("data", "pgbouncer.ini")) == "data[pgbouncer.ini]"
    assert field_path(("metadata", "labels", "app.kubernetes.io/name")) == (
        "metadata.labels[app.kubernetes.io/name]"
    )
    assert field_path(("metadata", "annotations", "example/x")) == (
        "metadata.annotations[example/x]"
    )
    assert field_path(("a", 0, "b")) == "a[0].b"
    assert field_path(("a.b",)) == "a.b"  # the first part is never bracketed


def test_keys_of_mixed_types_are_diffed_in_a_stable_order() -> None:
    assert changes({1: "a", "b": 2}, {1: "c", "b": 3}) == [
        FieldChange((1,), "~", "a", "c"),
        FieldChange(("b",), "~", 2, 3),
    ]


# --- multi-line texts -------------------------------------------------------------------


def test_an_added_multi_line_text_is_a_block_keeping_its_indentation() -> None:
    lines = change_lines("ConfigMap", FieldChange(("data", "x"), "+", None, "one\n  two words\n"))
    assert lines == ["    + data.x: |", "          one", "            two words"]


def test_an_added_text_with_only_a_trailing_newline_is_one_value() -> None:
    lines = change_lines("ConfigMap", FieldChange(("data", "x"), "+", None, "one\n"))
    assert lines == ['    + data.x: "one\\n"']


def test_a_removed_multi_line_text_is_one_line() -> None:
    lines = change_lines("ConfigMap", FieldChange(("data", "x"), "-", "a\nb\n", None))
    assert lines == ['    - data.x: "a"… (2 lines)']


def test_a_changed_multi_line_text_is_a_unified_diff_with_one_line_of_context() -> None:
    change = FieldChange(("data", "x"), "~", "a\nb\nc\nd\ne\n", "a\nb\nC\nd\ne\n")
    assert change_lines("ConfigMap", change) == [
        "    ~ data.x:",
        "        @@ -2,3 +2,3 @@",
        "         b",
        "        -c",
        "        +C",
        "         d",
    ]


def test_a_single_line_growing_into_several_is_line_diffed() -> None:
    grown = change_lines("ConfigMap", FieldChange(("data", "x"), "~", "a", "a\nb"))
    assert grown[0] == "    ~ data.x:" and "        +b" in grown
    shrunk = change_lines("ConfigMap", FieldChange(("data", "x"), "~", "a\nb", "a"))
    assert shrunk[0] == "    ~ data.x:" and "        -b" in shrunk


# --- masking at any depth ---------------------------------------------------------------


def test_a_secret_replaced_whole_is_masked_on_either_side() -> None:
    for change in (
        FieldChange((), "~", {"data": {"k": "pw-canary"}}, "x"),
        FieldChange((), "~", "x", {"stringData": {"k": "pw-canary"}}),
    ):
        lines = change_lines("Secret", change)
        assert lines == ["    ~ : (sensitive value) changed"]


def test_a_last_applied_annotation_deep_in_a_replaced_value_is_masked() -> None:
    for change in (
        FieldChange(("metadata",), "~", {"annotations": {LAST_APPLIED: "pw-canary"}}, "x"),
        FieldChange(("metadata",), "~", "x", {"annotations": {LAST_APPLIED: "pw-canary"}}),
    ):
        assert change_lines("ConfigMap", change) == ["    ~ metadata: (sensitive value) changed"]


def test_the_same_value_of_another_kind_is_shown() -> None:
    assert change_lines("ConfigMap", FieldChange((), "~", {"data": {"k": "v"}}, "x")) == [
        '    ~ : {"data": {"k": "v"}} → "x"'
    ]


# --- the release and its objects --------------------------------------------------------


def test_an_absent_release_is_an_add_with_its_names() -> None:
    r = release_plan("goauthentik", "authentik", "authentik", "2026.2.2", {"a": 1}, None, None)
    assert (r.release, r.namespace, r.chart, r.live_version, r.version, r.action) == (
        "goauthentik",
        "authentik",
        "authentik",
        None,
        "2026.2.2",
        "add",
    )


def test_a_release_plan_lists_the_chart_version_first() -> None:
    r = release_plan(
        "goauthentik", "authentik", "authentik", "2026.2.2", {"a": 2}, {"a": 1}, "2026.2.1"
    )
    assert r.action == "change"
    assert r.changes == (
        FieldChange(("chart", "version"), "~", "2026.2.1", "2026.2.2"),
        FieldChange(("a",), "~", 1, 2),
    )
    same = release_plan(
        "goauthentik", "authentik", "authentik", "2026.2.2", {"a": 1}, {"a": 1}, "2026.2.2"
    )
    assert (same.action, same.changes) == ("none", ())
    values = release_plan(
        "goauthentik", "authentik", "authentik", "2026.2.2", {"a": 1}, {"a": 1, "b": 2}, "2026.2.2"
    )
    assert values.changes == (FieldChange(("b",), "-", 2, None),)


def release(action: str = "none", **kw: object) -> ReleasePlan:
    return ReleasePlan(
        "goauthentik",
        "authentik",
        "authentik",
        "2026.2.2",
        "2026.2.2",
        action,  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


def test_a_release_takes_its_objects_and_changes_when_one_does() -> None:
    changed = ObjectPlan(SECRET, "change", (FieldChange(("data", "k"), "~", "a", "b"),))
    same = ObjectPlan(CONFIG, "none")
    r = release(revision=7, changes=(FieldChange(("a",), "~", 1, 2),))
    with_them = r.with_objects([same, changed], "kinds not compared: Job")
    assert with_them.action == "change"
    assert with_them.objects == (same, changed)
    assert with_them.note == "kinds not compared: Job"
    assert (with_them.release, with_them.namespace, with_them.chart) == (
        "goauthentik",
        "authentik",
        "authentik",
    )
    assert (with_them.live_version, with_them.version, with_them.revision) == (
        "2026.2.2",
        "2026.2.2",
        7,
    )
    assert with_them.changes == r.changes
    assert r.with_objects([same]).action == "none"
    assert r.with_objects([same]).note == ""
    assert release("add").with_objects([changed]).action == "add"


def test_the_release_text_shows_its_objects_indented_and_its_note() -> None:
    destroyed = ObjectPlan(
        Ref("Service", "authentik", "old"), "destroy", (FieldChange(("a",), "-", 1, None),)
    )
    changed = ObjectPlan(CONFIG, "change", (FieldChange(("data", "k"), "~", "a", "b"),))
    same = ObjectPlan(SECRET, "none")
    r = release().with_objects([same, destroyed, changed], "1 Job not compared")
    text = Plan((), r).to_text()
    assert text.splitlines()[:5] == [
        "~ helm release authentik/goauthentik (chart authentik 2026.2.2) will be updated in place",
        "  - Service/old will be destroyed",
        "  ~ ConfigMap/pgbouncer-config will be updated in place",
        '      ~ data.k: "a" → "b"',
        "  (1 Job not compared)",
    ]
    verbose = Plan((), r).to_text(verbose=True)
    assert "    Secret/pgbouncer-auth unchanged" in verbose.splitlines()


def test_release_values_are_masked_by_the_last_applied_rule_only() -> None:
    r = release(
        "change",
        changes=(
            FieldChange(("data", "k"), "~", "shown-a", "shown-b"),
            FieldChange(("metadata", "annotations", LAST_APPLIED), "~", "x", "y"),
        ),
    )
    lines = Plan((), r).to_text().splitlines()
    assert '    ~ data.k: "shown-a" → "shown-b"' in lines
    assert f"    ~ metadata.annotations[{LAST_APPLIED}]: (sensitive value) changed" in lines


def test_an_unchanged_release_and_outpost_are_shown_only_when_verbose() -> None:
    plan = Plan((), release(), outpost=OutpostPlan("authentik-embedded-outpost", "none"))
    assert "helm release" not in plan.to_text() and "outpost" not in plan.to_text()
    verbose = plan.to_text(verbose=True)
    assert "  helm release authentik/goauthentik (chart authentik 2026.2.2) unchanged" in verbose
    assert "  outpost authentik-embedded-outpost kubernetes_json_patches unchanged" in verbose


# --- objects, counts, restarts, drift ---------------------------------------------------


def test_unchanged_objects_do_not_stop_the_listing_and_destroyed_ones_show_no_fields() -> None:
    plan = Plan(
        (
            ObjectPlan(SECRET, "none"),
            ObjectPlan(
                Ref("Service", "authentik", "old"), "destroy", (FieldChange(("a",), "-", 1, None),)
            ),
            ObjectPlan(CONFIG, "change", (FieldChange(("data", "k"), "~", "a", "b"),)),
        )
    )
    assert plan.to_text().splitlines()[:3] == [
        "- Service/old will be destroyed",
        "~ ConfigMap/pgbouncer-config will be updated in place",
        '    ~ data.k: "a" → "b"',
    ]
    assert plan.refs("destroy", "change") == [Ref("Service", "authentik", "old"), CONFIG]
    assert plan.refs("add") == []


def test_a_plan_that_only_adds_or_only_destroys_has_changes() -> None:
    assert Plan((ObjectPlan(CONFIG, "add"),)).has_changes
    assert Plan((ObjectPlan(CONFIG, "destroy"),)).has_changes
    assert not Plan((ObjectPlan(CONFIG, "none"),), release()).has_changes


def test_image_drift_is_listed_after_the_changes_and_before_the_summary() -> None:
    plan = Plan((), image_drift=("Deployment/pgbouncer pgbouncer runs x:1, pinned x:2",))
    assert plan.to_text().splitlines() == [
        "No changes. The cluster matches the rendered stack.",
        "",
        "Image drift: 1 container(s) run another image than the environment pins "
        "(applying the same spec does not replace them):",
        "  ! Deployment/pgbouncer pgbouncer runs x:1, pinned x:2",
        "",
        "Plan: 0 to add, 0 to change, 0 to destroy.",
    ]


def test_a_restart_names_every_secret_that_causes_it() -> None:
    r = Restart(DEPLOYMENT, (SECRET, Ref("Secret", "authentik", "other")))
    assert r.describe() == (
        "Deployment/pgbouncer will be restarted: Secret/pgbouncer-auth, Secret/other changed"
    )


def deployment(name: str, secret: str) -> Manifest:
    body = {
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "template": {
                "spec": {
                    "volumes": [{"name": "s", "secret": {"secretName": secret}}],
                    "containers": [{"name": "c"}],
                }
            }
        },
    }
    return Manifest(Ref("Deployment", "authentik", name), body, f"{name}.yaml")


def test_restarts_follow_string_data_and_skip_only_the_deployments_that_need_none() -> None:
    secret = ObjectPlan(SECRET, "change", (FieldChange(("stringData", "pw"), "~", "a", "b"),))
    config = Manifest(CONFIG, {"kind": "ConfigMap"}, "c.yaml")
    created = deployment("created", "pgbouncer-auth")
    rolled = deployment("rolled", "pgbouncer-auth")
    kept = deployment("kept", "pgbouncer-auth")
    plans = (
        secret,
        ObjectPlan(created.ref, "add"),
        ObjectPlan(
            rolled.ref,
            "change",
            (FieldChange(("spec", "template", "metadata", "labels", "v"), "~", "1", "2"),),
        ),
        ObjectPlan(kept.ref, "none"),
    )
    assert restarts([config, created, rolled, kept], plans) == (Restart(kept.ref, (SECRET,)),)


@pytest.mark.parametrize("text", ["a\nX", "a\n \n", "X\nX\n", "a\n\tb"])
def test_any_text_with_an_inner_line_break_is_a_block(text: str) -> None:
    added = change_lines("ConfigMap", FieldChange(("data", "x"), "+", None, text))
    assert added[0] == "    + data.x: |"
    assert len(added) == 1 + len(text.rstrip("\n").split("\n"))
    assert shown(text).endswith(f"… ({len(text.rstrip(chr(10)).split(chr(10)))} lines)")
