"""Authentik's values rules at their edges, on the prod stack: which authentik.* leaves are
inert and the env var each becomes, a renamed setting in the values, and the chart-version
note counting values files."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.unit.lint.test_lint_rules import set_env

if TYPE_CHECKING:
    from conftest import StackFiles  # the fixture's type, from this directory's conftest


def test_every_inert_leaf_is_named_with_its_env_var(stack: StackFiles) -> None:
    def change(v: dict[str, Any]) -> None:
        v["authentik"].update(
            {
                "enabled": True,
                "log_level": "debug",
                "email": {"port": 587, "use_tls": False, "from": ""},
                "cache": {},
                "outposts": {"container_image_base": None, "discover": [1]},
            }
        )

    stack.values(change)
    found = {f.path: f.message for f in stack.findings("values.inert-authentik")}
    why = "authentik.existingSecret.secretName is set, so the chart renders no authentik.* setting"
    assert found == {
        "authentik.log_level": f"authentik.log_level is ignored: {why}; set "
        "AUTHENTIK_LOG_LEVEL in server.env and worker.env",
        "authentik.email.port": f"authentik.email.port is ignored: {why}; set "
        "AUTHENTIK_EMAIL__PORT in server.env and worker.env",
        "authentik.email.use_tls": f"authentik.email.use_tls is ignored: {why}; set "
        "AUTHENTIK_EMAIL__USE_TLS in server.env and worker.env",
        "authentik.outposts.discover": f"authentik.outposts.discover is ignored: {why}; set "
        "AUTHENTIK_OUTPOSTS__DISCOVER in server.env and worker.env",
    }


def test_a_renamed_setting_in_the_values_is_named_at_its_key(stack: StackFiles) -> None:
    stack.values(lambda v: v["authentik"].update(worker={"concurrency": 4}))
    messages = {f.path: (f.message, f.severity) for f in stack.findings("env.renamed")}
    assert messages["authentik.worker.concurrency"] == (
        "authentik.worker.concurrency was renamed authentik.worker.threads (2025.8)",
        "warning",
    )
    stack.values(lambda v: v["authentik"].update(worker={"threads": 4}))
    assert stack.findings("env.renamed") == []
    stack.values(lambda v: v["authentik"].update(worker="odd"))
    assert stack.findings("env.renamed") == []


def test_a_renamed_env_var_names_its_new_name(stack: StackFiles) -> None:
    def add(v: dict[str, Any]) -> None:
        v["worker"]["env"].append({"name": "AUTHENTIK_WORKER__CONCURRENCY", "value": "4"})

    stack.values(add)
    (f,) = stack.findings("env.renamed")
    assert f.message == (
        "AUTHENTIK_WORKER__CONCURRENCY was renamed AUTHENTIK_WORKER__THREADS (Authentik 2025.8)"
    )


def test_the_chart_version_note_counts_the_values_files(stack: StackFiles) -> None:
    stack.settings["chart_version_given"] = False
    stack.values(lambda v: v["global"].setdefault("image", {}).update(tag="2025.8.1"))
    stack.texts["second-values.yaml"] = stack.texts["authentik-values.yaml"]
    (f,) = stack.findings("values.chart-unknown")
    assert f.message == (
        "no chart version (no `# chart: authentik X` header, no --chart-version): the image "
        "tags of 2 values file(s) were not checked for a chart/image split"
    )
    stack.values(lambda v: v["global"]["image"].pop("tag"))
    stack.texts.pop("second-values.yaml")
    assert stack.findings("values.chart-unknown") == []


def two_values(stack: StackFiles, change: Any) -> None:
    """authentik-values.yaml as two documents: a changed copy of prod's values, then prod's
    (file rules judge one file at a time: a second values file would be judged apart)."""
    prod = stack.texts["authentik-values.yaml"]
    stack.values(change)
    stack.texts["authentik-values.yaml"] = stack.texts["authentik-values.yaml"] + "---\n" + prod


def test_inert_settings_are_found_in_every_values_document(stack: StackFiles) -> None:
    """A values document whose authentik.* the chart renders does not end the search."""
    stack.values(lambda v: v["authentik"].update(log_level="debug"))
    two_values(stack, lambda v: v["authentik"].pop("existingSecret"))
    assert [f.path for f in stack.findings("values.inert-authentik")] == ["authentik.log_level"]


@pytest.mark.parametrize("where", ["global", "server"])
def test_an_empty_or_absent_image_is_no_split(stack: StackFiles, where: str) -> None:
    """An empty tag is the chart's own; a component or image that is no mapping holds none."""
    for component in ("global", where):
        stack.values(
            lambda v, c=component: v.setdefault(c, {}).setdefault("image", {}).update(tag="")
        )
    assert stack.findings("values.version-split") == []
    stack.settings["chart_version_given"] = False
    assert stack.findings("values.chart-unknown") == []
    stack.settings["chart_version_given"] = True
    stack.values(lambda v: v[where].update(image="odd"))
    assert stack.findings("values.version-split") == []


def test_a_values_file_without_the_components_has_no_tags(stack: StackFiles) -> None:
    stack.texts["authentik-values-a.yaml"] = (
        "# chart: authentik 2026.2.2\nglobal: null\nserver: odd\nworker:\n  image:\n    tag: 2026.2.1\n"
    )
    (f,) = stack.findings("values.version-split")
    assert (f.file, f.path) == ("stack/authentik-values-a.yaml", "worker.image.tag")


@pytest.mark.parametrize(("limit", "fails"), [("1756Mi", False), ("1755Mi", True)])
def test_gunicorn_memory_boundary_and_finding_whole(
    stack: StackFiles, limit: str, fails: bool
) -> None:
    """3 web workers x 500Mi + 256Mi base = 1756Mi: exactly that limit fits."""

    def set_limit(v: dict[str, Any]) -> None:
        v["server"]["resources"]["limits"]["memory"] = limit
        v["server"]["resources"]["requests"]["memory"] = limit

    stack.values(set_limit)
    found = [(f.message, f.path, f.object) for f in stack.findings("gunicorn.memory")]
    assert found == (
        [
            (
                "Deployment/goauthentik-server: 3 web workers (from AUTHENTIK_WEB__WORKERS) x "
                "500Mi + 256Mi base = 1756Mi do not fit under the memory limit 1755Mi (memory "
                "model: the seed's figures, 500Mi a worker + 256Mi; set lint.web_worker_mib / lint.server_base_mib to "
                "what your server measures)",
                "server.resources.limits.memory",
                "Deployment/goauthentik-server",
            )
        ]
        if fails
        else []
    )


def test_gunicorn_memory_judges_every_values_document(stack: StackFiles) -> None:
    """A values document with no web workers to count does not end the check of the next."""
    stack.values(lambda v: v["server"]["resources"]["limits"].update(memory="1Gi"))
    two_values(stack, lambda v: set_env(v, "server", "AUTHENTIK_WEB__WORKERS", "0"))
    assert [f.message.partition(":")[0] for f in stack.findings("gunicorn.memory")] == [
        "Deployment/goauthentik-server"
    ]
