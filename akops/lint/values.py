"""Chart values checked against the keys the pinned Authentik chart really has.

Rule: pure, apart from reading the shipped key list (``akops/data/``, derived by
``scripts/chart_keys.py`` from the chart's own values.yaml). Helm silently ignores a
key the chart does not know; here it is an error with a did-you-mean hint. Paths the
chart passes through without knowing their keys (``podAnnotations``, ``env``,
``authentik.*``) are "open": unknown keys are fine there, known ones still checked.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from akops.errors import InputError
from akops.lint.documents import ChartValues
from akops.lint.findings import Finding
from akops.lint.registry import finding
from akops.yamldoc import PathKey, dotted

PINNED_CHART = "2026.2.2"


@dataclass(frozen=True)
class ChartKeys:
    version: str
    keys: frozenset[str]
    open: frozenset[str]
    children: dict[str, tuple[str, ...]]

    def suggest(self, parent: str, key: str) -> str | None:
        siblings = self.children.get(parent, ())
        lowered = key.lower()
        # `strategy` → `deploymentStrategy`: a sibling that ends with the key wins.
        ends = [s for s in siblings if s.lower().endswith(lowered) and s.lower() != lowered]
        if ends:
            return ends[0]
        near = difflib.get_close_matches(key, siblings, n=1, cutoff=0.6)
        return near[0] if near else None


def _version_key(v: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else 0 for p in v.split("."))


def bundled_versions() -> list[str]:
    """Chart versions with a shipped key list, oldest first."""
    names = [p.name for p in resources.files("akops").joinpath("data").iterdir()]
    found = [
        n.removeprefix("authentik-chart-").removesuffix("-keys.json")
        for n in names
        if n.startswith("authentik-chart-") and n.endswith("-keys.json")
    ]
    return sorted(found, key=_version_key)


@lru_cache(maxsize=4)
def chart_keys(version: str = PINNED_CHART) -> ChartKeys:
    name = f"authentik-chart-{version}-keys.json"
    try:
        text = resources.files("akops").joinpath("data", name).read_text(encoding="utf-8")
    except FileNotFoundError as e:
        shipped = ", ".join(bundled_versions()) or "none"
        raise InputError(
            f"no key list for Authentik chart {version} (akops/data/{name}; shipped: {shipped}); "
            "derive it with scripts/chart_keys.py from that chart's values.yaml"
        ) from e
    data = json.loads(text)
    keys = frozenset(data["keys"])
    children: dict[str, list[str]] = {}
    for k in sorted(keys):
        parent, _, leaf = k.rpartition(".")
        children.setdefault(parent, []).append(leaf)
    return ChartKeys(
        version, keys, frozenset(data["open"]), {p: tuple(c) for p, c in children.items()}
    )


def unknown_keys(data: Any, chart: ChartKeys) -> list[tuple[PathKey, str | None]]:
    """(path, suggestion) of every key of ``data`` the chart does not have."""
    out: list[tuple[PathKey, str | None]] = []

    def visit(node: Any, path: PathKey, dotted_path: str) -> None:
        if not isinstance(node, dict):
            return
        is_open = dotted_path in chart.open
        for key, value in node.items():
            key_s = str(key)
            child = f"{dotted_path}.{key_s}" if dotted_path else key_s
            if child in chart.keys:
                visit(value, (*path, key_s), child)
            elif not is_open:
                out.append(((*path, key_s), chart.suggest(dotted_path, key_s)))

    visit(data, (), "")
    return out


def check(values: ChartValues, chart_version: str = PINNED_CHART) -> list[Finding]:
    chart = chart_keys(chart_version)
    findings = []
    for path, near in unknown_keys(values.data, chart):
        where = dotted(path)
        hint = f" (did you mean {dotted((*path[:-1], near))}?)" if near else ""
        findings.append(
            finding(
                "values.unknown-key",
                f"{where}: the Authentik chart {chart.version} has no such key; Helm ignores it{hint}",
                file=values.file,
                line=values.line(path),
                path=where,
            )
        )
    return findings
