"""Plan diffs at their edges: removed fields and items, type changes, dnsConfig shapes,
stringData masking and the resourceVersion a plan was computed against (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from akops.cluster.objects import Ref
from akops.cluster.plan import (
    FieldChange,
    ObjectPlan,
    Plan,
    changes,
    normalize,
    object_plan,
    resource_version,
    sensitive,
)

CONFIG = Ref("ConfigMap", "authentik", "pgbouncer-config")
SECRET = Ref("Secret", "authentik", "pgbouncer-auth")
DEPLOYMENT = Ref("Deployment", "authentik", "pgbouncer")


def test_a_field_removed_from_the_live_object_is_a_removal_of_its_old_value() -> None:
    assert changes({"a": 1, "b": {"c": 2}}, {"a": 1}) == [FieldChange(("b",), "-", {"c": 2}, None)]
    plan = object_plan(CONFIG, {"data": {"keep": "1", "gone": "old"}}, {"data": {"keep": "1"}})
    assert plan.action == "change"
    text = Plan((plan,)).to_text()
    assert '    - data.gone: "old"\n' in text
    assert "keep" not in text
    assert "None" not in text and "null" not in text


def test_a_removed_subtree_shows_one_line_per_leaf() -> None:
    plan = object_plan(CONFIG, {"data": {"a": "1", "b": {"x": 1, "y": [2]}}}, {"data": {"a": "1"}})
    lines = Plan((plan,)).to_text().splitlines()
    assert "    - data.b.x: 1" in lines
    assert "    - data.b.y[0]: 2" in lines


def test_an_item_removed_from_an_unnamed_list_is_removed_by_index() -> None:
    assert changes({"a": [1, 2, 3]}, {"a": [1, 3]}) == [
        FieldChange(("a", 1), "~", 2, 3),
        FieldChange(("a", 2), "-", 3, None),
    ]
    assert changes([1, 2], []) == [FieldChange((0,), "-", 1, None), FieldChange((1,), "-", 2, None)]
    assert changes([], [1]) == [FieldChange((0,), "+", None, 1)]


def test_equal_lists_and_values_have_no_changes() -> None:
    assert changes([1, {"a": 2}], [1, {"a": 2}]) == []
    assert changes("x", "x") == []
    assert changes({}, {}) == []


def test_a_dict_replaced_by_a_scalar_and_back_is_one_change() -> None:
    assert changes({"a": {"b": 1}}, {"a": "flat"}) == [FieldChange(("a",), "~", {"b": 1}, "flat")]
    assert changes({"a": "flat"}, {"a": {"b": 1}}) == [FieldChange(("a",), "~", "flat", {"b": 1})]
    assert changes({"a": [1]}, {"a": {"0": 1}}) == [FieldChange(("a",), "~", [1], {"0": 1})]
    text = Plan((object_plan(CONFIG, {"a": {"b": 1}}, {"a": "flat"}),)).to_text()
    assert '    ~ a: {"b": 1} → "flat"' in text


def test_lists_with_a_repeated_or_missing_name_are_diffed_by_index() -> None:
    dup = [{"name": "a", "v": 1}, {"name": "a", "v": 2}]
    assert changes(dup, [{"name": "a", "v": 1}, {"name": "a", "v": 3}]) == [
        FieldChange((1, "v"), "~", 2, 3)
    ]
    unnamed = [{"v": 1}]
    assert changes(unnamed, [{"v": 2}]) == [FieldChange((0, "v"), "~", 1, 2)]
    mixed = [{"name": "a"}, "b"]
    assert changes(mixed, [{"name": "a"}, "c"]) == [FieldChange((1,), "~", "b", "c")]
    numbered = [{"name": 1}]
    assert changes(numbered, [{"name": 2}]) == [FieldChange((0, "name"), "~", 1, 2)]


def test_named_items_removed_are_named_in_the_path() -> None:
    old = [{"name": "a", "v": 1}, {"name": "b", "v": 2}]
    found = changes({"env": old}, {"env": old[:1]})
    assert found == [FieldChange(("env", "b"), "-", {"name": "b", "v": 2}, None)]
    assert Plan((ObjectPlan(CONFIG, "change", tuple(found)),)).to_text().splitlines()[1:3] == [
        '    - env[b].name: "b"',
        "    - env[b].v: 2",
    ]


def pod(dns: Any) -> dict[str, Any]:
    return {"spec": {"template": {"spec": {"dnsConfig": dns, "containers": []}}}}


@pytest.mark.parametrize(
    ("dns", "kept"),
    [
        ({"nameservers": ["10.0.0.10"]}, {"nameservers": ["10.0.0.10"]}),
        ({"options": None, "searches": ["x"]}, {"searches": ["x"]}),
        ({"options": [{"name": "ndots", "value": "2"}], "searches": ["x"]}, {"searches": ["x"]}),
        ({"options": ["odd", {"name": "edns0"}]}, {"options": ["odd", {"name": "edns0"}]}),
    ],
)
def test_dns_config_keeps_everything_but_the_injected_option(dns: Any, kept: Any) -> None:
    assert normalize(pod(dns))["spec"]["template"]["spec"]["dnsConfig"] == kept


@pytest.mark.parametrize("dns", [{}, {"options": []}, {"options": [{"name": "ndots"}]}])
def test_a_dns_config_with_nothing_left_is_dropped(dns: Any) -> None:
    assert "dnsConfig" not in normalize(pod(dns))["spec"]["template"]["spec"]


@pytest.mark.parametrize(
    "obj",
    [
        {"spec": "x"},
        {"spec": {"template": "x"}},
        {"spec": {"template": {"spec": "x"}}},
        {"spec": {"template": {"spec": {"dnsConfig": "x"}}}},
        {"metadata": "x"},
        {"metadata": {"annotations": "x"}},
    ],
)
def test_odd_shapes_are_left_as_they_are(obj: dict[str, Any]) -> None:
    assert normalize(obj) == obj


def test_annotations_keep_what_the_server_does_not_own() -> None:
    meta = {"annotations": {"deployment.kubernetes.io/revision": "3", "team": "id"}}
    assert normalize({"metadata": meta})["metadata"] == {"annotations": {"team": "id"}}
    for key in ("selfLink", "deletionGracePeriodSeconds", "generation", "uid"):
        assert normalize({"metadata": {key: "1", "name": "n"}})["metadata"] == {"name": "n"}


def test_the_live_objects_resource_version_is_what_the_plan_was_computed_against() -> None:
    live = {"metadata": {"name": "c", "resourceVersion": "4711"}, "data": {"a": "1"}}
    assert object_plan(CONFIG, live, {"metadata": {"name": "c"}, "data": {"a": "1"}}).version == (
        "4711"
    )
    assert object_plan(CONFIG, live, {"metadata": {"name": "c"}, "data": {"a": "2"}}).version == (
        "4711"
    )
    assert object_plan(CONFIG, None, {"metadata": {"name": "c"}}).version is None
    assert resource_version({"metadata": {"resourceVersion": 12}}) == "12"
    assert resource_version({"metadata": {"resourceVersion": ""}}) is None
    assert resource_version({"metadata": "x"}) is None
    assert resource_version({}) is None


def test_string_data_of_a_secret_is_never_shown() -> None:
    old = {"kind": "Secret", "stringData": {"password": "old-canary-Qx7"}}
    new = {"kind": "Secret", "stringData": {"password": "new-canary-Qx7"}}
    text = Plan((object_plan(SECRET, old, new),)).to_text()
    assert "    ~ stringData.password: (sensitive value) changed" in text
    assert "canary" not in text
    added = Plan((object_plan(SECRET, None, new),)).to_text()
    assert "    + stringData.password: (sensitive value) added" in added
    removed = Plan((object_plan(SECRET, old, {"kind": "Secret"}),)).to_text()
    assert "    - stringData.password: (sensitive value) removed" in removed
    assert "canary" not in added + removed


def test_only_a_secrets_data_and_the_last_applied_annotation_are_sensitive() -> None:
    assert sensitive("Secret", ("data", "k"))
    assert sensitive("Secret", ("stringData",))
    assert not sensitive("ConfigMap", ("data", "k"))
    assert not sensitive("Secret", ())
    assert not sensitive("Secret", ("metadata", "name"))
    last = ("metadata", "annotations", "kubectl.kubernetes.io/last-applied-configuration")
    assert sensitive("ConfigMap", last)
    assert not sensitive("ConfigMap", last[:2])
    assert not sensitive("ConfigMap", ("metadata", "labels", last[2]))
    assert not sensitive("ConfigMap", ("metadata", "annotations", "other"))


def test_a_removed_last_applied_annotation_is_masked_in_a_removed_subtree() -> None:
    old = {"metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "pw"}}}
    text = Plan((object_plan(CONFIG, old, {"metadata": {}}),)).to_text()
    assert "(sensitive value) removed" in text
    assert '"pw"' not in text
