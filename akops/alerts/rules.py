"""Alert rules as the stack renders them: where the rule file sits in an object, the alerts
it defines (with lines), and which runbook each alert links.

Rule: pure (parsed objects and texts in, frozen values out). A rule file is the
``authentik.rules.yml`` key of a ConfigMap (any key ending ``.rules.yml``), or the ``spec``
of a prometheus-operator ``PrometheusRule``; both hold ``groups: [{name, rules: [...]}]``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from akops.errors import InputError
from akops.yamldoc import PathKey, parse_one

RULE_FILE_SUFFIX = ".rules.yml"
PROMETHEUS_RULE = ("monitoring.coreos.com/v1", "PrometheusRule")


@dataclass(frozen=True)
class RuleFile:
    """A rule file found in an object: its text as promtool reads it, and where it starts."""

    text: str = field(repr=False)
    source: str
    #: line of the rule file's first line in ``source`` (findings point into the manifest)
    first_line: int
    object: str
    path: str


@dataclass(frozen=True)
class Alert:
    """One alerting rule."""

    name: str
    expr: str
    duration: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    source: str
    line: int
    object: str | None = None

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "")

    @property
    def runbook_url(self) -> str:
        return self.annotations.get("runbook_url", "")

    @property
    def summary(self) -> str:
        return self.annotations.get("summary", "")


def rule_files(
    obj: Mapping[str, Any], source: str, line_of: Callable[[PathKey], int]
) -> list[RuleFile]:
    """The rule files a Kubernetes object carries (none for other objects).

    ``line_of(path)`` gives the line of a field of ``obj`` in ``source``.
    """
    kind, api = obj.get("kind"), obj.get("apiVersion")
    meta = obj.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    ref = f"{kind}/{name or '(unnamed)'}"
    if kind == "ConfigMap":
        data = obj.get("data")
        if not isinstance(data, dict):
            return []
        return [
            # A block scalar starts on the line after its key.
            RuleFile(text, source, line_of(("data", key)) + 1, ref, f"data.{key}")
            for key, text in sorted(data.items())
            if str(key).endswith(RULE_FILE_SUFFIX) and isinstance(text, str)
        ]
    if (api, kind) == PROMETHEUS_RULE and isinstance(obj.get("spec"), dict):
        text = yaml.safe_dump(obj["spec"], sort_keys=False, width=1000)
        # Dumped, so lines do not map one to one: findings point at the spec.
        return [RuleFile(text, source, 0, ref, "spec")]
    return []


def alerts_of(rule_file: RuleFile) -> tuple[Alert, ...]:
    """Every alerting rule of a rule file; recording rules are skipped."""
    where = f"{rule_file.source} ({rule_file.object} {rule_file.path})"
    doc = parse_one(rule_file.text, where)
    groups = doc.data.get("groups") if isinstance(doc.data, dict) else None
    if not isinstance(groups, list):
        raise InputError(f"{where}: a rule file needs a 'groups' list")

    def line(path: PathKey) -> int:
        at = doc.line_of(path)
        return rule_file.first_line + at - 1 if rule_file.first_line else at

    out: list[Alert] = []
    for g, group in enumerate(groups):
        rules = group.get("rules") if isinstance(group, dict) else None
        for r, rule in enumerate(rules if isinstance(rules, list) else []):
            if not isinstance(rule, dict) or "alert" not in rule:
                continue
            out.append(
                Alert(
                    name=str(rule["alert"]),
                    expr=str(rule.get("expr", "")),
                    duration=str(rule.get("for", "0s")),
                    labels=_strings(rule.get("labels")),
                    annotations=_strings(rule.get("annotations")),
                    source=rule_file.source,
                    line=line(("groups", g, "rules", r, "alert")),
                    object=rule_file.object,
                )
            )
    return tuple(out)


def _strings(mapping: Any) -> dict[str, str]:
    # A malformed rule (labels as a list) is promtool's to report; here it has none.
    return {str(k): str(v) for k, v in mapping.items()} if isinstance(mapping, dict) else {}


def runbook_pattern(url_template: str) -> re.Pattern[str]:
    """A regex matching the URLs ``url_template`` (with ``{runbook}``) makes; group 1 = name."""
    before, _, after = url_template.partition("{runbook}")
    return re.compile(f"^{re.escape(before)}([a-z0-9][a-z0-9-]*){re.escape(after)}$")


def runbook_of(url: str, url_template: str) -> str | None:
    """The runbook name in ``url``, when it has the environment's form."""
    m = runbook_pattern(url_template).match(url)
    return m.group(1) if m else None


def names(alerts: Iterable[Alert]) -> frozenset[str]:
    return frozenset(a.name for a in alerts)


@dataclass(frozen=True)
class RunbookAlerts:
    """The alerts one runbook's ``when.alerts`` names, each with its line."""

    runbook: str
    source: str
    alerts: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class Runbooks:
    """The runbooks alerts are held to, and the form of a runbook's URL."""

    books: tuple[RunbookAlerts, ...]
    url_template: str | None  # the environment's monitoring.runbook_url (None: any URL form)
    source: str = "runbooks"

    def named(self, name: str) -> RunbookAlerts | None:
        return next((b for b in self.books if b.runbook == name), None)

    def runbook_in(self, url: str) -> str | None:
        """The runbook a URL names: by the environment's form, else its last path segment."""
        if self.url_template is not None:
            return runbook_of(url, self.url_template)
        m = re.search(r"([a-z0-9][a-z0-9-]*)(\.ya?ml|\.md|/)?$", url)
        return m.group(1) if m else None
