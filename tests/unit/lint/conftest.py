"""Fixtures for the lint tests: the prod stack as editable files, linted in memory."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
import yaml

from akops.environment import load_environment
from akops.layout import Layout
from akops.lint import engine
from akops.lint.documents import SourceText
from akops.lint.findings import Finding
from akops.lint.report import LintReport, Waiver
from akops.lint.style import FALLBACK, _config
from akops.render import render_env


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings as block scalars, as the templates write them."""


_BlockDumper.add_representer(
    str,
    lambda dumper, text: dumper.represent_scalar(
        "tag:yaml.org,2002:str", text, style="|" if "\n" in text else None
    ),
)


@dataclass
class StackFiles:
    """A set of files (name → text) to lint as one stack; edit them as YAML data."""

    texts: dict[str, str]
    max_connections: int | None = 100
    waivers: Sequence[Waiver] = field(default_factory=tuple)
    settings: dict[str, Any] = field(default_factory=dict)  # more engine.Settings fields
    #: The environment's own waivers (as ``lint --env`` applies them), besides the test's.
    accepted: Sequence[Waiver] = field(default_factory=tuple)

    def load(self, name: str) -> list[Any]:
        return [d for d in yaml.safe_load_all(self.texts[name]) if d is not None]

    def edit(self, name: str, change: Callable[[list[Any]], object]) -> StackFiles:
        """Apply ``change`` to the file's documents and write them back."""
        docs = self.load(name)
        change(docs)
        self.texts[name] = yaml.dump_all(docs, Dumper=_BlockDumper, sort_keys=False)
        return self

    def edit_one(self, name: str, change: Callable[[Any], object]) -> StackFiles:
        return self.edit(name, lambda docs: change(docs[0]))

    def values(self, change: Callable[[dict[str, Any]], object]) -> StackFiles:
        return self.edit_one("authentik-values.yaml", change)

    def deployment(self, change: Callable[[dict[str, Any]], object]) -> StackFiles:
        return self.edit_one("pgbouncer-deployment.yaml", change)

    def ini(self, change: Callable[[str], str]) -> StackFiles:
        return self.edit_one(
            "pgbouncer-configmap.yaml",
            lambda cm: cm["data"].__setitem__("pgbouncer.ini", change(cm["data"]["pgbouncer.ini"])),
        )

    def lint(self) -> LintReport:
        texts = [
            SourceText(f"stack/{name}", text, not name.endswith(".ini"))
            for name, text in sorted(self.texts.items())
        ]
        # As `lint --env` lints it: the environment names the chart.
        given: dict[str, Any] = {"chart_version_given": True, **self.settings}
        settings = engine.Settings(
            max_connections=self.max_connections,
            waivers=(*self.waivers, *self.accepted),
            **given,
        )
        return engine.run(texts, settings, _config(FALLBACK, "test"))

    def findings(self, rule: str) -> list[Finding]:
        return [f for f in self.lint().findings if f.rule == rule]

    def unwaived(self) -> list[Finding]:
        return [f for f in self.lint().findings if f.waived is None]


#: A made-up digest for the fixture only: the prod environment pins tags until an operator
#: runs `invoke images.pin --env prod` (its image.digest waiver says why).
FIXTURE_DIGEST = "sha256:" + "f" * 64


@pytest.fixture(scope="session")
def prod_texts(layout: Layout) -> dict[str, str]:
    """The rendered prod stack, its images pinned by digest as `images.pin` would."""
    _, stack = render_env(layout, "prod")
    texts = stack.by_name()
    pgbouncer = "image: edoburu/pgbouncer:v1.24.1-p1\n"
    authentik = '    tag: "2026.2.2"\n'
    assert pgbouncer in texts["pgbouncer-deployment.yaml"]
    assert authentik in texts["authentik-values.yaml"]
    exporter = "image: prometheuscommunity/pgbouncer-exporter:v0.12.1\n"
    assert exporter in texts["pgbouncer-deployment.yaml"]
    texts["pgbouncer-deployment.yaml"] = (
        texts["pgbouncer-deployment.yaml"]
        .replace(pgbouncer, f"image: edoburu/pgbouncer:v1.24.1-p1@{FIXTURE_DIGEST}\n")
        .replace(
            exporter, f"image: prometheuscommunity/pgbouncer-exporter:v0.12.1@{FIXTURE_DIGEST}\n"
        )
    )
    texts["authentik-values.yaml"] = texts["authentik-values.yaml"].replace(
        authentik, f'{authentik}    digest: "{FIXTURE_DIGEST}"\n'
    )
    shm = 'image: "quay.io/prometheus/node-exporter:v1.9.1"\n'
    assert shm in texts["outpost-patches.yaml"]
    texts["outpost-patches.yaml"] = texts["outpost-patches.yaml"].replace(
        shm, f'image: "quay.io/prometheus/node-exporter:v1.9.1@{FIXTURE_DIGEST}"\n'
    )
    return texts


@pytest.fixture(scope="session")
def prod_waivers(layout: Layout) -> tuple[Waiver, ...]:
    """Prod's waivers of the security baseline's open ends (its image.digest waiver has no
    finding to match here: the fixture's images are pinned by digest)."""
    waivers = load_environment("prod", layout.environments).lint.waivers
    return tuple(w for w in waivers if w.rule.startswith("security."))


@pytest.fixture
def stack(prod_texts: dict[str, str], prod_waivers: tuple[Waiver, ...]) -> StackFiles:
    """The rendered prod stack with prod's waivers (it lints clean), ready to be broken one
    field at a time."""
    return StackFiles(dict(prod_texts), accepted=prod_waivers)
