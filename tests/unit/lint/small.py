"""Small stacks for rule tests: a few hand-written documents, linted in memory, so a
finding can only come from the rule under test (the prod stack is ``conftest.stack``)."""

from __future__ import annotations

from typing import Any

import yaml

from akops.lint import engine
from akops.lint.documents import SourceText
from akops.lint.findings import Finding
from akops.lint.style import FALLBACK, _config


class Linted:
    """The findings of one small stack, by rule."""

    def __init__(self, docs: tuple[Any, ...], settings: engine.Settings) -> None:
        texts = [
            SourceText(f"stack/doc{i}.yaml", d if isinstance(d, str) else yaml.safe_dump(d), True)
            for i, d in enumerate(docs)
        ]
        self.all = engine.run(texts, settings, _config(FALLBACK, "test")).findings

    def findings(self, rule: str) -> list[Finding]:
        return [f for f in self.all if f.rule == rule]

    def messages(self, rule: str) -> list[str]:
        return [f.message for f in self.findings(rule)]

    def one(self, rule: str) -> Finding:
        got = self.findings(rule)
        assert len(got) == 1, [f.message for f in got]
        return got[0]


def lint(*docs: Any, **settings: Any) -> Linted:
    """Lint ``docs`` (dicts dumped as YAML, or YAML text), one file each."""
    return Linted(docs, engine.Settings(**settings))


def container(name: str = "c", image: str = "example/x:1", **fields: Any) -> dict[str, Any]:
    return {"name": name, "image": image, **fields}


def job(
    name: str = "migrate",
    *,
    containers: list[dict[str, Any]],
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A Job (a workload without replicas) running ``containers`` once."""
    template: dict[str, Any] = {"spec": {"restartPolicy": "Never", "containers": containers}}
    if labels is not None:
        template["metadata"] = {"labels": labels}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": "authentik"},
        "spec": {"template": template},
    }


def deployment(
    name: str = "pgbouncer",
    replicas: Any = 3,
    *,
    containers: list[dict[str, Any]] | None = None,
    labels: dict[str, str] | None = None,
    kind: str = "Deployment",
    **pod: Any,
) -> dict[str, Any]:
    """A workload (critical when named pgbouncer) with ``pod`` fields in its pod spec."""
    labels = labels or {"app": name}
    spec: dict[str, Any] = {
        "selector": {"matchLabels": labels},
        "template": {
            "metadata": {"labels": labels},
            "spec": {"containers": containers or [container(name)], **pod},
        },
    }
    if replicas is not None:
        spec["replicas"] = replicas
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": "authentik"},
        "spec": spec,
    }
