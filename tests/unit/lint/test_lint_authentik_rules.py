"""Authentik's values rules at their edges, on the prod stack: which authentik.* leaves are
inert and the env var each becomes, a renamed setting in the values, and the chart-version
note counting values files."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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
