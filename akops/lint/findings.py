"""Findings and the catalogue of rules that produce them.

Rule: pure values. A ``Rule`` is the stable contract (ID, severity, fix hint and the
incident or convention behind it); a ``Finding`` is one occurrence of a rule at a
file, line, object and field path. Rule IDs never change meaning once published:
waivers and CI configuration refer to them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    title: str
    hint: str
    motivation: str


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: Severity
    file: str
    line: int | None
    object: str | None
    path: str | None
    message: str
    hint: str
    motivation: str
    waived: str | None = None

    @property
    def counts(self) -> bool:
        """An unwaived error fails the lint."""
        return self.severity == "error" and self.waived is None

    def waive(self, reason: str) -> Finding:
        return replace(self, waived=reason)

    def sort_key(self) -> tuple[str, int, str, str]:
        return (self.file, self.line or 0, self.rule, self.message)


_INCIDENT_BOOT = "2026-06-10 boot storm (~50 min outage)"
_INCIDENT_SHM = "2026-04-18 P0: outpost /dev/shm full, HTTP 400 on every protected site"
_CONVENTION_HA = "cluster convention: critical-path services run 3 replicas with PDB minAvailable=2"

_RULES = [
    Rule(
        "yaml.style",
        "warning",
        "YAML style (yamllint, the repository's .yamllint.yaml)",
        "reformat the file as yamllint suggests",
        "consistent, reviewable manifests; the CI yamllint gate",
    ),
    Rule(
        "schema.invalid",
        "error",
        "object fails the Kubernetes OpenAPI schema (strict: unknown fields are errors)",
        "fix the field named; an unknown field is usually a typo of a real one",
        "a misspelt field (`replica: 3`) is silently dropped by the API server",
    ),
    Rule(
        "values.unknown-key",
        "error",
        "key the pinned Authentik chart does not have",
        "use the chart's key (see the did-you-mean hint); Helm ignores unknown keys silently",
        "the seed's `server.strategy` rollout settings never took effect",
    ),
    Rule(
        "values.inert-authentik",
        "error",
        "authentik.* setting ignored because authentik.existingSecret.secretName is set",
        "set it as the AUTHENTIK_* env var in server.env and worker.env instead",
        "the seed's performance settings (conn_max_age, cache, web workers) never took effect",
    ),
    Rule(
        "env.renamed",
        "warning",
        "Authentik setting under a renamed (deprecated) name",
        "use the new name",
        "AUTHENTIK_WORKER__CONCURRENCY became AUTHENTIK_WORKER__THREADS in 2025.8",
    ),
    Rule(
        "replicas.minimum",
        "error",
        "critical-path workload runs fewer than 3 replicas",
        "run at least 3 replicas",
        _CONVENTION_HA,
    ),
    Rule(
        "pdb.missing",
        "error",
        "critical-path workload has no PodDisruptionBudget",
        "add a PDB selecting the workload's pods (minAvailable 2 with 3 replicas)",
        _CONVENTION_HA,
    ),
    Rule(
        "pdb.budget",
        "error",
        "PDB budget protects nothing or blocks every drain",
        "minAvailable >= 2 and below the replica count, or maxUnavailable >= 1",
        _CONVENTION_HA,
    ),
    Rule(
        "pdb.rollout",
        "error",
        "the rolling update cannot progress, or breaks the PDB's promise while it does",
        "use RollingUpdate with maxUnavailable <= replicas - minAvailable and maxSurge + maxUnavailable >= 1",
        _CONVENTION_HA,
    ),
    Rule(
        "spread.nodes",
        "error",
        "multi-replica critical workload is not spread across nodes",
        "add pod anti-affinity or a topologySpreadConstraint on kubernetes.io/hostname "
        "selecting the workload's own pods",
        "the seed's PgBouncer anti-affinity only repelled other pods; all replicas could share a node",
    ),
    Rule(
        "resources.requests",
        "error",
        "container without cpu and memory requests",
        "set resources.requests.cpu and resources.requests.memory",
        "the scheduler packs pods without requests onto full nodes",
    ),
    Rule(
        "resources.memory-limit",
        "error",
        "container without an explicit memory limit",
        "set resources.limits.memory (house preference: equal to the memory request)",
        "the tier LimitRange defaults the limit to 256Mi and OOM-kills the container",
    ),
    Rule(
        "probes.missing",
        "error",
        "long-running container without readiness and liveness probes",
        "add readinessProbe and livenessProbe",
        "PgBouncer pool failures went undetected until connection timeouts",
    ),
    Rule(
        "probes.liveness-budget",
        "error",
        "Authentik server liveness budget shorter than a database migration",
        "failureThreshold x periodSeconds >= 60 s (e.g. 6 x 10 s, timeout 5 s)",
        _INCIDENT_BOOT + ": liveness killed pods waiting on the migration lock",
    ),
    Rule(
        "image.pinned",
        "error",
        "image not pinned to a version",
        "use an explicit version tag or a digest, never `latest` or no tag",
        _INCIDENT_BOOT + ": a chart/image version split rolled pods back",
    ),
    Rule(
        "secrets.configmap",
        "error",
        "secret material in a ConfigMap",
        "keep secrets in a Secret (PgBouncer reads the server password from auth_file)",
        "the seed rendered the database password into the pgbouncer-config ConfigMap",
    ),
    Rule(
        "secrets.env",
        "error",
        "secret material in a plain env value",
        "use valueFrom.secretKeyRef",
        "the seed passed the database password as a plain env var",
    ),
    Rule(
        "secrets.annotation",
        "error",
        "secret material in an annotation",
        "never put secrets in annotations; they are readable by anyone who can list the object",
        "annotations (and last-applied-configuration) leak into diffs and logs",
    ),
    Rule(
        "db.persistent-connections",
        "error",
        "persistent connections without session pooling, or outliving PgBouncer's idle timeout",
        "with conn_max_age > 0 use pool_mode=session and conn_max_age < server_idle_timeout",
        _INCIDENT_BOOT + ": persistent connections saturated the pool",
    ),
    Rule(
        "db.capacity",
        "error",
        "Authentik can hold more connections than PgBouncer or PostgreSQL accept",
        "lower workers/threads/replicas, raise default_pool_size/reserve_pool_size, "
        "or raise PostgreSQL max_connections",
        _INCIDENT_BOOT + ": Authentik held 75 of 108 connections and the primary failed over",
    ),
    Rule(
        "gunicorn.memory",
        "error",
        "Gunicorn web workers do not fit under the server memory limit",
        "raise server memory limit or lower AUTHENTIK_WEB__WORKERS (~500 MiB per worker)",
        "each Gunicorn worker preloads Django at about 500 MiB",
    ),
    Rule(
        "outpost.shm",
        "error",
        "outpost /dev/shm is not a sized Memory emptyDir below the memory limit",
        "mount an emptyDir {medium: Memory, sizeLimit} at /dev/shm and set a memory limit above it",
        _INCIDENT_SHM,
    ),
    Rule(
        "pgbouncer.idle-transaction-timeout",
        "error",
        "PgBouncer without idle_transaction_timeout",
        "set idle_transaction_timeout (300 s) in [pgbouncer]",
        _INCIDENT_BOOT + ": pods killed mid-migration left idle-in-transaction connections "
        "holding the lock",
    ),
    Rule(
        "pgbouncer.config-rollout",
        "warning",
        "PgBouncer pods do not roll when pgbouncer.ini changes",
        "add a checksum/config annotation of pgbouncer.ini to the pod template",
        _INCIDENT_BOOT + ": config changes did not reach running PgBouncer pods",
    ),
    Rule(
        "lint.unused-waiver",
        "warning",
        "waiver in the environment file matches no finding",
        "remove the waiver (the problem it excused is gone) or fix its rule/object",
        "stale waivers hide the next real finding",
    ),
]

RULES: dict[str, Rule] = {r.id: r for r in _RULES}


def finding(
    rule: str,
    message: str,
    *,
    file: str,
    line: int | None = None,
    object: str | None = None,
    path: str | None = None,
    severity: Severity | None = None,
) -> Finding:
    """A finding of a catalogued rule (hint and motivation come from the catalogue)."""
    r = RULES[rule]
    return Finding(
        rule=rule,
        severity=severity or r.severity,
        file=file,
        line=line,
        object=object,
        path=path,
        message=message,
        hint=r.hint,
        motivation=r.motivation,
    )
