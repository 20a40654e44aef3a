"""Rules of the layers that are not rule functions: YAML, schema, chart keys, inputs, waivers.

Rule: pure (catalogue entries only). The layers themselves live in ``style``,
``schema``, ``values``, ``documents`` and ``report``.
"""

from __future__ import annotations

from akops.lint.findings import Rule
from akops.lint.registry import define

define(
    Rule(
        "yaml.style",
        "warning",
        "YAML style (yamllint, the repository's .yamllint.yaml)",
        "reformat the file as yamllint suggests",
        "consistent, reviewable manifests; the CI yamllint gate",
    )
)
define(
    Rule(
        "yaml.syntax",
        "error",
        "file is not valid YAML, so nothing in it was checked",
        "fix the syntax at the line named (a template must be rendered before it is linted)",
        "an unparsable manifest is refused by kubectl and Helm at deploy time",
    )
)
define(
    Rule(
        "schema.invalid",
        "error",
        "object fails the Kubernetes OpenAPI schema (strict: unknown fields are errors)",
        "fix the field named; an unknown field is usually a typo of a real one",
        "a misspelt field (`replica: 3`) is silently dropped by the API server",
    )
)
define(
    Rule(
        "schema.unchecked",
        "warning",
        "kind without a shipped schema (a custom resource): not schema-checked",
        "nothing to fix if the kind is right; --strict-kinds makes this an error",
        "a typo in apiVersion or kind would otherwise pass unnoticed",
    )
)
define(
    Rule(
        "values.unknown-key",
        "error",
        "key the Authentik chart does not have",
        "use the chart's key (see the did-you-mean hint); Helm ignores unknown keys silently",
        "the seed's `server.strategy` rollout settings never took effect",
    )
)
define(
    Rule(
        "input.skipped",
        "note",
        "input lint does not read: an empty file, another chart's values, a file type it does not know",
        "nothing to fix; name a values file with --values to have it judged as Authentik values",
        "every file given is accounted for in the summary",
    )
)
define(
    Rule(
        "lint.unused-waiver",
        "warning",
        "waiver that matches no finding",
        "remove the waiver (the problem it excused is gone) or fix its rule/object",
        "stale waivers hide the next real finding",
    )
)
define(
    Rule(
        "lint.bad-waiver",
        "error",
        "waiver annotation without a reason in words, or naming an unknown rule",
        "write `lint.akops.io/waive.RULE: <why this finding is accepted>` on the object",
        "a waiver nobody can review hides the next real finding",
    )
)
