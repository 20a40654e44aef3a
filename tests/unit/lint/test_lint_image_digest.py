"""image.digest: a protected environment pins every image by digest; others are warned."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import yaml

from akops.layout import Layout
from akops.lint import engine, lint_environment
from akops.lint.documents import SourceText
from akops.lint.findings import Finding
from akops.lint.style import FALLBACK, _config

if TYPE_CHECKING:
    from conftest import StackFiles  # the fixture's type, from this directory's conftest


def digest_findings(stack: StackFiles, *, protected: bool | None) -> list[Finding]:
    texts = [
        SourceText(f"stack/{name}", text, not name.endswith(".ini"))
        for name, text in sorted(stack.texts.items())
    ]
    settings = engine.Settings(max_connections=stack.max_connections, protected=protected)
    report = engine.run(texts, settings, _config(FALLBACK, "test"))
    return [f for f in report.findings if f.rule == "image.digest"]


def unpin_all(stack: StackFiles) -> StackFiles:
    """The fixture's stack as prod renders today: tags only."""

    def values(v: dict[str, Any]) -> None:
        del v["global"]["image"]["digest"]

    def deployment(d: dict[str, Any]) -> None:
        c = d["spec"]["template"]["spec"]["containers"][0]
        c["image"] = c["image"].partition("@")[0]

    return stack.values(values).deployment(deployment)


@pytest.mark.parametrize(("protected", "severity"), [(True, "error"), (False, "warning")])
def test_every_unpinned_image_is_named(stack: StackFiles, protected: bool, severity: str) -> None:
    found = digest_findings(unpin_all(stack), protected=protected)
    assert {(f.object, f.severity) for f in found} == {
        ("Deployment/pgbouncer", severity),
        ("Deployment/goauthentik-server", severity),
        ("Deployment/goauthentik-worker", severity),
    }
    pgb = next(f for f in found if f.object == "Deployment/pgbouncer")
    assert "edoburu/pgbouncer:v1.24.1-p1 has no @sha256 digest" in pgb.message
    assert pgb.path == "spec.template.spec.containers[0].image"


def test_lint_path_without_an_environment_is_silent(stack: StackFiles) -> None:
    assert digest_findings(unpin_all(stack), protected=None) == []


def test_digests_everywhere_pass_even_when_protected(stack: StackFiles) -> None:
    assert digest_findings(stack, protected=True) == []


def test_a_patched_outpost_image_without_a_digest_is_named(stack: StackFiles) -> None:
    op = {"op": "replace", "path": "/spec/template/spec/containers/0/image",
          "value": "ghcr.io/goauthentik/proxy:2026.2.2"}  # fmt: skip
    stack = stack.edit_one(
        "outpost-patches.yaml", lambda p: p["kubernetes_json_patches"]["deployment"].append(op)
    )
    found = digest_findings(stack, protected=True)
    assert [(f.object, f.severity) for f in found] == [
        ("Deployment/ak-outpost-authentik-embedded-outpost", "error")
    ]
    assert "outpost image ghcr.io/goauthentik/proxy:2026.2.2" in found[0].message


def test_prod_is_protected_and_its_waiver_says_why(layout: Layout) -> None:
    report = lint_environment(layout, "prod", cache=False)
    found = [f for f in report.findings if f.rule == "image.digest"]
    assert found and all(f.severity == "error" for f in found)
    assert all(f.waived and "never invented" in f.waived for f in found)
    assert report.ok


def test_without_its_waiver_prod_fails(repo: Layout) -> None:
    path = repo.environments / "prod.yaml"
    text = path.read_text(encoding="utf-8")
    start = text.index("\nlint:\n")
    path.write_text(text[:start] + "\n", encoding="utf-8")
    report = lint_environment(repo, "prod", cache=False)
    assert not report.ok
    assert any(f.rule == "image.digest" and f.counts for f in report.findings)


def outpost_ops(stack: StackFiles, *ops: Any) -> StackFiles:
    return stack.edit_one(
        "outpost-patches.yaml", lambda p: p["kubernetes_json_patches"]["deployment"].extend(ops)
    )


def test_outpost_image_patches_are_judged_by_op_and_digest(stack: StackFiles) -> None:
    image = "/spec/template/spec/containers/0/image"
    before = len(
        next(
            iter(yaml.safe_load_all(stack.texts["outpost-patches.yaml"])),
        )["kubernetes_json_patches"]["deployment"]
    )
    tagged = "ghcr.io/goauthentik/proxy:2026.2.2"
    stack = outpost_ops(
        stack,
        "not an op",
        {"op": "test", "path": image, "value": tagged},  # compares, sets nothing
        {"op": "add", "path": "/spec/template/spec/containers/0/args", "value": [tagged]},
        {"op": "add", "path": image, "value": f"{tagged}@sha256:{'a' * 64}"},
        {"op": "add", "path": image, "value": tagged},
    )
    found = digest_findings(stack, protected=False)
    assert [(f.object, f.severity, f.message, f.path) for f in found] == [
        (
            "Deployment/ak-outpost-authentik-embedded-outpost",
            "warning",
            f"outpost image {tagged} has no @sha256 digest",
            f"kubernetes_json_patches.deployment[{before + 4}].value",
        )
    ]
    assert found[0].line > 0


@pytest.mark.parametrize("patches", [None, [], {"deployment": "odd"}, {"service": []}])
def test_odd_outpost_patches_have_no_image_to_judge(stack: StackFiles, patches: Any) -> None:
    stack = stack.edit_one(
        "outpost-patches.yaml", lambda p: p.__setitem__("kubernetes_json_patches", patches)
    )
    assert digest_findings(stack, protected=True) == []


def test_an_outpost_sidecar_without_a_digest_is_named_at_its_image(stack: StackFiles) -> None:
    sidecar = {"name": "extra", "image": "example/sidecar:1"}
    stack = outpost_ops(
        stack, {"op": "add", "path": "/spec/template/spec/containers/-", "value": sidecar}
    )
    found = [f for f in digest_findings(stack, protected=True) if "extra" in f.message]
    assert [(f.object, f.severity, f.message) for f in found] == [
        (
            "Deployment/ak-outpost-authentik-embedded-outpost",
            "error",
            "container extra image example/sidecar:1 has no @sha256 digest",
        )
    ]
    assert found[0].path.endswith(".value.image") and found[0].line > 0
