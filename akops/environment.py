"""Environments: the typed schema of ``environments/<name>.yaml`` and its loader.

Rule: models are frozen pydantic values; loading reads one file and validates it.
Every error is one line naming the file, the line and the field path. Secret
*values* never live here, only where to find them (``SecretRef``).

Inputs stay data: every string lands in a rendered file somewhere (pgbouncer.ini, a label,
an image field), so each is held to its syntax where it has one (DNS names, label values,
image references, URLs, identifiers), no string anywhere may hold a control character (a
newline in a host would add a line to pgbouncer.ini), every integer fits Kubernetes' int32,
and non-finite numbers are refused.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from akops import names
from akops.errors import EnvironmentConfigError, InputError
from akops.images.reference import parse_image
from akops.yamldoc import (
    NAME_RE,
    FieldError,
    display,
    named_mapping,
    parse_one,
    read_text,
    validated,
)

INT32_MAX = 2**31 - 1

# DNS-1123 subdomain (object names, hosts) and label (container, release names).
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
# Kubernetes label value: empty, or alphanumeric at both ends with -_. inside, at most 63.
LABEL_VALUE = r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$"
# The distribution reference grammar (docker/distribution reference/regexp.go), anchored:
# [registry[:port]/]path[:tag][@algorithm:digest].
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?/)?"
IMAGE_REF = (
    rf"^{_DOMAIN}{_COMPONENT}(?:/{_COMPONENT})*"
    r"(?::[\w][\w.-]{0,127})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$"
)
# Names that land unquoted in pgbouncer.ini's [databases] line and userlist.txt.
SQL_IDENT = r"^[A-Za-z_][A-Za-z0-9_$.-]{0,62}$"


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    return value


def _host(value: str) -> str:
    """A DNS name (lowercase) or an IPv4/IPv6 literal."""
    import ipaddress

    try:
        ipaddress.ip_address(value)
    except ValueError:
        if not re.match(DNS_SUBDOMAIN, value) or len(value) > 253:
            raise ValueError(
                "must be a DNS name (lowercase letters, digits, '-' and '.') or an IP address"
            ) from None
    return value


Quantity = Annotated[str, Field(pattern=r"^[0-9]+(\.[0-9]+)?(m|k|Ki|Mi|Gi|Ti|M|G|T)?$")]
DnsName = Annotated[str, Field(pattern=DNS_SUBDOMAIN, max_length=253)]
DnsLabel = Annotated[str, Field(pattern=DNS_LABEL, max_length=63)]
LabelValue = Annotated[str, Field(pattern=LABEL_VALUE, max_length=63)]
HttpUrl = Annotated[str, AfterValidator(_http_url)]
Host = Annotated[str, AfterValidator(_host)]
SqlIdent = Annotated[str, Field(pattern=SQL_IDENT)]


def _image(value: str) -> str:
    parse_image(value)
    return value


#: A full image reference, ``repo:tag`` or ``repo:tag@sha256:…``, in the distribution
#: grammar. Every field named ``image`` holds one and is pinned by ``invoke images.pin``
#: (akops.images.pins finds them by name).
Image = Annotated[str, Field(pattern=IMAGE_REF, max_length=512), AfterValidator(_image)]


def _control(text: str) -> str | None:
    """The first control (or line/paragraph separator) character of ``text``, shown as U+XXXX."""
    for ch in text:
        if unicodedata.category(ch) in ("Cc", "Zl", "Zp"):
            return f"U+{ord(ch):04X}"
    return None


def _plain(value: Any) -> Any:
    """Refuse control characters in strings (mapping keys included) and integers beyond int32.

    Runs after a field's own validation, so nested models arrive validated (they ran this
    same check on their own fields) and are skipped: the error names the innermost field.
    """
    if isinstance(value, dict):
        for k, v in value.items():
            _scalar(k)
            _plain(v)
    elif isinstance(value, list | tuple):
        for v in value:
            _plain(v)
    elif not isinstance(value, BaseModel):
        _scalar(value)
    return value


def _scalar(value: Any) -> None:
    if isinstance(value, str):
        bad = _control(value)
        if bad is not None:
            hint = " (a folded block adds a final newline: use '>-')" if bad == "U+000A" else ""
            raise ValueError(f"contains a control character ({bad}); write plain text{hint}")
    elif (
        isinstance(value, int)
        and not isinstance(value, bool)
        and not -INT32_MAX - 1 <= value <= INT32_MAX
    ):
        raise ValueError(
            f"{value} is out of range (Kubernetes fields are int32: at most {INT32_MAX})"
        )


class Model(BaseModel):
    # allow_inf_nan: YAML's .inf/.nan would make timeouts infinite or every comparison false.
    # strict: a YAML `true` is no replica count, `"3"` no port; lax coercion hid both.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False, strict=True)

    @field_validator("*", mode="after")
    @classmethod
    def _inputs_stay_data(cls, value: Any) -> Any:
        return _plain(value)


class Resources(Model):
    """Container requests and limits (memory requests = limits is the house preference)."""

    cpu_request: Quantity
    memory_request: Quantity
    memory_limit: Quantity


class TcpProbe(Model):
    initial_delay: int = Field(ge=0)
    period: int = Field(ge=1)
    timeout: int = Field(ge=1)
    failures: int = Field(ge=1)


class SecretRef(Model):
    """Where a secret value comes from at apply/verify time: an env var or a key of a YAML file."""

    env: str | None = None
    file: str | None = None
    key: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("set exactly one of 'env' or 'file'")
        if self.file is not None and not self.key:
            raise ValueError("'file' needs 'key' (the field of that YAML file holding the value)")
        return self


class Kube(Model):
    context: str = Field(min_length=1, description="kube context this environment must run against")
    namespace: DnsLabel
    tier: LabelValue = Field(min_length=1, description="Kyverno tier label of the namespace")
    version: str = Field(
        default="1.33", pattern=r"^1\.[0-9]+$", description="Kubernetes minor version for schemas"
    )
    api_timeout: float = Field(default=10, gt=0, description="seconds per Kubernetes API call")
    rollout_timeout: float = Field(default=600, gt=0, description="seconds to wait for rollouts")


class Upstream(Model):
    host: Host
    port: int = Field(ge=1, le=65535)
    namespace: DnsLabel | None = Field(
        default=None,
        description="namespace of the database pods; PgBouncer's NetworkPolicy egress goes there",
    )
    database: SqlIdent
    user: SqlIdent
    max_connections: int = Field(ge=1, description="PostgreSQL max_connections of the upstream")


#: [pgbouncer] parameters the template writes itself (templates/pgbouncer/pgbouncer.ini.j2).
RENDERED_PGBOUNCER_KEYS = frozenset({"auth_file", "stats_users", "admin_users"})


class PgBouncerSettings(Model):
    """The [pgbouncer] section of pgbouncer.ini (only what this stack sets)."""

    listen_addr: Annotated[
        str, Field(pattern=r"^(\*|[0-9A-Za-z.:-]+)(,(\*|[0-9A-Za-z.:-]+))*$")
    ] = "0.0.0.0"
    listen_port: int = Field(default=6432, ge=1, le=65535)
    auth_type: Literal["md5", "scram-sha-256", "plain", "trust"] = "md5"
    pool_mode: Literal["session", "transaction", "statement"] = "session"
    max_client_conn: int = Field(ge=1)
    default_pool_size: int = Field(ge=1)
    reserve_pool_size: int = Field(ge=0)
    reserve_pool_timeout: int = Field(ge=0)
    server_idle_timeout: int = Field(default=600, ge=0)
    idle_transaction_timeout: int = Field(ge=0)
    ignore_startup_parameters: list[Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]*$")]] = Field(
        default_factory=list
    )
    unix_socket_dir: str = Field(
        default="/var/run/pgbouncer",
        pattern=r"^/[^\s]*$",
        description="where PgBouncer puts its socket (an emptyDir: the root filesystem is read-only)",
    )
    extra: dict[
        Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]*$")],
        Annotated[int | float | str, Field(union_mode="left_to_right")],
    ] = Field(
        default_factory=dict,
        description="more [pgbouncer] parameters, written as given; lint checks each against "
        "the PgBouncer release of the image's tag (e.g. max_prepared_statements: 100)",
    )

    @field_validator("extra", mode="before")
    @classmethod
    def _extra_values(cls, value: Any) -> Any:
        if isinstance(value, dict):
            for key, item in value.items():
                if isinstance(item, bool):
                    raise ValueError(f"{key}: PgBouncer reads a boolean as a number: write 1 or 0")
                if isinstance(item, str) and any(c in item for c in "\r\n"):
                    raise ValueError(f"{key}: a value is one line of pgbouncer.ini")
        return value

    @model_validator(mode="after")
    def _extra_is_extra(self) -> PgBouncerSettings:
        owned = set(type(self).model_fields) | RENDERED_PGBOUNCER_KEYS
        clash = sorted(owned & set(self.extra))
        if clash:
            raise ValueError(
                f"extra: {', '.join(clash)} {'is' if len(clash) == 1 else 'are'} set by the "
                "stack itself (a field of pgbouncer.settings, or written by the template)"
            )
        return self


class Dns(Model):
    """Cluster DNS, the one other egress PgBouncer needs (to resolve the upstream host).

    Either the DNS pods (``namespace`` and ``pod_labels``, kube-dns by default), or the
    ``address`` of a node-local DNS cache (NodeLocal DNSCache listens on a link-local
    address such as 169.254.20.10 in the node's network, which no pod selector reaches):
    rendered as an ipBlock of that one address.
    """

    namespace: DnsLabel = "kube-system"
    pod_labels: dict[str, LabelValue] = Field(default_factory=lambda: {"k8s-app": "kube-dns"})
    address: str | None = Field(
        default=None,
        description="a node-local DNS cache's address (e.g. 169.254.20.10) instead of DNS pods",
    )
    port: int = Field(default=53, ge=1, le=65535)

    @field_validator("address")
    @classmethod
    def _an_address(cls, v: str | None) -> str | None:
        if v is None:
            return v
        try:
            return str(ipaddress.ip_address(v))
        except ValueError:
            raise ValueError(f"{v!r} is not an IP address (a node-local DNS cache's)") from None

    @model_validator(mode="after")
    def _pods_or_address(self) -> Dns:
        if self.address is not None and self.model_fields_set & {"namespace", "pod_labels"}:
            raise ValueError(
                "set either 'address' (a node-local DNS cache) or 'namespace'/'pod_labels' "
                "(the DNS pods), not both"
            )
        return self

    @property
    def cidr(self) -> str | None:
        """The ipBlock of ``address`` (one address)."""
        if self.address is None:
            return None
        return str(ipaddress.ip_network(self.address))


class NetworkPolicy(Model):
    """PgBouncer's NetworkPolicy: rendered from the environment unless waived with a reason."""

    enabled: bool = True
    waiver: str | None = Field(
        default=None, min_length=10, description="why this environment runs without the policy"
    )
    dns: Dns = Dns()

    @model_validator(mode="after")
    def _waived_with_reason(self) -> NetworkPolicy:
        if not self.enabled and not self.waiver:
            raise FieldError(
                ("waiver",), "a disabled network_policy needs 'waiver': the reason, in words"
            )
        if self.enabled and self.waiver:
            raise FieldError(("waiver",), "'waiver' is only for a disabled network_policy")
        return self


class PgBouncer(Model):
    image: Image
    replicas: int = Field(ge=0)
    pdb_min_available: int = Field(ge=0)
    resources: Resources
    readiness: TcpProbe
    liveness: TcpProbe
    settings: PgBouncerSettings
    network_policy: NetworkPolicy = NetworkPolicy()


class AuthentikServer(Model):
    replicas: int = Field(ge=0)
    pdb_min_available: int = Field(ge=0)
    resources: Resources
    web_workers: int = Field(ge=1)
    web_threads: int = Field(ge=1)
    liveness_failures: int = Field(default=6, ge=1)
    liveness_period: int = Field(default=10, ge=1)
    liveness_timeout: int = Field(default=5, ge=1)


class AuthentikWorker(Model):
    replicas: int = Field(ge=0)
    pdb_max_unavailable: int = Field(ge=1)
    resources: Resources
    threads: int = Field(ge=1)


class Chart(Model):
    name: DnsLabel = "authentik"
    repo: HttpUrl = "https://charts.goauthentik.io/"
    version: str = Field(pattern=r"^[0-9]+\.[0-9]+\.[0-9]+$")
    # Helm release names are DNS labels of at most 53 characters (room for its suffixes).
    release: Annotated[str, Field(pattern=DNS_LABEL, max_length=53)] = names.DEFAULT_RELEASE
    digest: str | None = Field(
        default=None,
        pattern=r"^sha256:[0-9a-f]{64}$",
        description="sha256 of the chart archive; `invoke chart.pull` refuses any other",
    )

    @property
    def server(self) -> str:
        """Name of the chart's server Deployment (and its PDB)."""
        return f"{chart_fullname(self.release, self.name)}-server"

    @property
    def worker(self) -> str:
        """Name of the chart's worker Deployment (and its PDB)."""
        return f"{chart_fullname(self.release, self.name)}-worker"


def chart_fullname(
    release: str, chart: str = "authentik", name_override: str = "", fullname_override: str = ""
) -> str:
    """The prefix of the Authentik chart's object names (its ``authentik.fullname`` helper).

    A release whose name contains the chart's name is used as it is (``goauthentik``);
    any other gets the chart's name appended (``ak`` -> ``ak-authentik``).
    """
    if fullname_override:
        return fullname_override[:63].rstrip("-")
    name = (name_override or chart)[:63].rstrip("-")
    full = release if name in release else f"{release}-{name}"
    return full[:63].rstrip("-")


class OutpostApi(Model):
    """Sending the outpost's JSON patches to the Authentik API at apply time."""

    enabled: bool = False
    url: HttpUrl | None = Field(default=None, description="Authentik base URL for the API")
    token: SecretRef | None = None

    @model_validator(mode="after")
    def _complete(self) -> OutpostApi:
        if self.enabled and (not self.url or self.token is None):
            missing = "url" if not self.url else "token"
            raise FieldError((missing,), "an enabled outpost API needs 'url' and 'token'")
        return self


class Outpost(Model):
    name: LabelValue = "authentik-embedded-outpost"
    deployment: DnsName = "ak-outpost-authentik-embedded-outpost"
    container: DnsLabel = "proxy"
    http_port: int = Field(default=9000, ge=1, le=65535, description="port of the outpost Service")
    shm_size: Quantity
    resources: Resources
    api: OutpostApi = OutpostApi()
    image: Image | None = Field(
        default=None,
        description="replace the image Authentik gives the outpost (through the JSON patches)",
    )


class Authentik(Model):
    host: Host = Field(description="public host name of Authentik")
    chart: Chart
    image_repository: str = Field(
        default="ghcr.io/goauthentik/server",
        pattern=IMAGE_REF,
        description="Authentik image (chart global.image)",
    )
    image_tag: str = Field(
        pattern=r"^[0-9A-Za-z._-]+(@sha256:[0-9a-f]{64})?$",
        description="pinned Authentik image tag, TAG or TAG@sha256:DIGEST",
    )
    existing_secret: DnsName | None = Field(
        default=None, description="chart authentik.existingSecret.secretName"
    )
    log_level: Literal["trace", "debug", "info", "warning", "error"] = "info"
    conn_max_age: int = Field(ge=0)
    conn_health_checks: bool = True
    cache_timeout_flows: int = Field(ge=0)
    cache_timeout_policies: int = Field(ge=0)
    server: AuthentikServer
    worker: AuthentikWorker
    outpost: Outpost
    version_split_reason: str | None = Field(
        default=None,
        min_length=10,
        description="why image_tag may name another version than chart.version, in words",
    )

    @property
    def image_version(self) -> str:
        """The tag ``image_tag`` names, without its digest."""
        return self.image_tag.partition("@")[0]

    @property
    def image_digest(self) -> str | None:
        """The ``sha256:…`` digest ``image_tag`` pins, if it pins one."""
        return self.image_tag.partition("@")[2] or None

    @property
    def image(self) -> str:
        """The full Authentik image reference the chart renders."""
        return f"{self.image_repository}:{self.image_tag}"

    @model_validator(mode="after")
    def _image_reference(self) -> Authentik:
        parse_image(self.image)
        return self


class LintWaiver(Model):
    rule: str = Field(min_length=1)
    object: str | None = Field(default=None, description="Kind/name the waiver is limited to")
    reason: str = Field(min_length=10, description="why this finding is accepted, in words")


class Lint(Model):
    waivers: list[LintWaiver] = Field(default_factory=list)
    web_worker_mib: int = Field(
        default=500, ge=1, description="memory one Gunicorn web worker takes (gunicorn.memory)"
    )
    server_base_mib: int = Field(
        default=256, ge=0, description="memory of the server besides its web workers"
    )


class VerifyLocal(Model):
    """Where ``invoke verify --target local`` finds the services when run on one machine."""

    url: HttpUrl = Field(default="http://127.0.0.1:9000", description="Authentik base URL")
    outpost_url: HttpUrl = Field(
        default="http://127.0.0.1:9000", description="outpost base URL (ping)"
    )
    pgbouncer: str = Field(
        default="127.0.0.1:6432", pattern=r"^.+:[0-9]+$", description="HOST:PORT"
    )
    shm: str = Field(default="/dev/shm", min_length=1, description="tmpfs whose usage is checked")
    protected_services: list[HttpUrl] = Field(
        default_factory=list, description="local URLs behind forward auth"
    )


class Verify(Model):
    shm_threshold: int = Field(default=80, ge=1, le=100, description="max used % of /dev/shm")
    protected_services: list[HttpUrl] = Field(
        default_factory=list, description="URLs behind forward auth"
    )
    check_timeout: float = Field(default=10, gt=0)
    convergence_deadline: float = Field(default=120, gt=0)
    idle_in_transaction_max_seconds: int = Field(default=60, ge=1)
    local: VerifyLocal = VerifyLocal()


Duration = Annotated[str, Field(pattern=r"^([0-9]+[smhdw])+$", description="Prometheus duration")]
_DURATION_PART = re.compile(r"([0-9]+)([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def seconds(duration: str) -> int:
    """A Prometheus duration (``1h30m``) in seconds."""
    return sum(int(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(duration))


RunbookUrl = Annotated[
    str, Field(pattern=r"^https?://[^ ]*\{runbook\}[^ ]*$", description="URL with {runbook}")
]


class Rule(Model):
    """One alert's tuning: how long the condition must hold (``for``) before it fires."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, strict=True)

    for_: Duration = Field(alias="for", description="how long the condition holds before firing")


class RateRule(Rule):
    """A count of events (restarts, HTTP answers) over ``window`` above ``above``."""

    above: int = Field(ge=0, description="fires when more events than this happen in the window")
    window: Duration


class RatioRule(Rule):
    """A fraction (0..1] of a limit (pool size, memory limit) above which the alert fires."""

    above: float = Field(gt=0, le=1)


class CountRule(Rule):
    above: int = Field(ge=0)


class TrendRule(Rule):
    """Fires when a linear fit over ``window`` says the limit is reached within ``horizon``."""

    window: Duration
    horizon: Duration

    @property
    def horizon_seconds(self) -> int:
        """``horizon`` in seconds (PromQL's predict_linear takes a number, not a duration)."""
        return seconds(self.horizon)


def _rule(for_: str, **kw: object) -> dict[str, object]:
    return {"for": for_, **kw}


class Alerts(Model):
    """Thresholds and ``for:`` of every alert rule (templates/alerts/); the house values by default.

    The outpost /dev/shm alert fires at ``verify.shm_threshold`` (one threshold for both).
    """

    authentik_down: Rule = Rule.model_validate(_rule("5m"))
    server_replicas_mismatch: Rule = Rule.model_validate(_rule("15m"))
    worker_replicas_mismatch: Rule = Rule.model_validate(_rule("15m"))
    pgbouncer_down: Rule = Rule.model_validate(_rule("5m"))
    pgbouncer_replicas_mismatch: Rule = Rule.model_validate(_rule("15m"))
    pool_clients_waiting: CountRule = CountRule.model_validate(_rule("2m", above=0))
    pool_server_connections: RatioRule = RatioRule.model_validate(_rule("5m", above=0.9))
    pool_metrics_missing: Rule = Rule.model_validate(_rule("10m"))
    outpost_shm_full: Rule = Rule.model_validate(_rule("5m"))
    outpost_shm_metrics_missing: Rule = Rule.model_validate(_rule("10m"))
    outpost_shm_filling: TrendRule = TrendRule.model_validate(
        _rule("30m", window="6h", horizon="24h")
    )
    outpost_memory_high: RatioRule = RatioRule.model_validate(_rule("15m", above=0.75))
    outpost_memory_critical: RatioRule = RatioRule.model_validate(_rule("5m", above=0.9))
    forward_auth_400: RateRule = RateRule.model_validate(_rule("0m", above=10, window="5m"))
    forward_auth_401: RateRule = RateRule.model_validate(_rule("5m", above=100, window="5m"))
    restarts: RateRule = RateRule.model_validate(_rule("0m", above=2, window="30m"))
    oom_killed: Rule = Rule.model_validate(_rule("0m"))
    crash_looping: Rule = Rule.model_validate(_rule("5m"))


class Exporter(Model):
    """The PgBouncer exporter sidecar (prometheus-community pgbouncer_exporter)."""

    image: Image
    port: int = Field(default=9127, ge=1, le=65535)
    user: Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]*$", max_length=63)] = Field(
        default="pgbouncer_stats",
        description="the stats-only user the exporter logs in to PgBouncer's admin console as: "
        "in userlist.txt and stats_users, no PostgreSQL role; its password is "
        "secrets.stats_password, never the application's",
    )
    resources: Resources = Resources(cpu_request="10m", memory_request="32Mi", memory_limit="32Mi")


class ShmExporter(Model):
    """The outpost's /dev/shm sidecar: Prometheus' node_exporter, filesystem collector only.

    It mounts the outpost's memory-backed /dev/shm emptyDir read-only and reports that
    volume's own size and free space (``node_filesystem_*{mountpoint="/dev/shm"}``), which
    cAdvisor's ``container_fs_*`` do not: they measure the container's writable layer.
    """

    image: Image
    port: int = Field(default=9100, ge=1, le=65535)
    resources: Resources = Resources(cpu_request="10m", memory_request="32Mi", memory_limit="32Mi")


class Monitoring(Model):
    """How the cluster's Prometheus gets the stack's metrics and alert rules."""

    rules: Literal["configmap", "prometheusrule"] = Field(
        description="configmap: a rule file in a ConfigMap mounted by the prometheus-community "
        "chart (server.extraConfigmapMounts + rule_files); prometheusrule: prometheus-operator"
    )
    rules_dir: str = Field(
        default="/etc/config/authentik",
        pattern=r"^/[A-Za-z0-9._/-]*[A-Za-z0-9._-]$",
        description="rules: configmap: where the prometheus-community chart's server and its "
        "config-reloader both mount the rule ConfigMap (alerts-prometheus-values.yaml)",
    )
    scrape: Literal["annotations", "servicemonitor"] = Field(
        description="annotations: prometheus.io/* pod annotations; servicemonitor: prometheus-operator"
    )
    namespace: DnsName = Field(
        description="namespace of Prometheus (a mounted rule ConfigMap must live there)"
    )
    operator_labels: dict[str, LabelValue] = Field(
        default_factory=dict,
        description="labels prometheus-operator's ruleSelector and serviceMonitorSelector match",
    )
    runbook_url: RunbookUrl = Field(description="where a runbook is read; {runbook} is its name")
    prometheus_url: str | None = Field(
        default=None, pattern=r"^https?://", description="Prometheus that verify asks for alerts"
    )
    exporter: Exporter
    shm_exporter: ShmExporter = Field(
        description="the outpost's /dev/shm sidecar (node_exporter) the /dev/shm alerts read"
    )
    alerts: Alerts = Alerts()


class Environment(Model):
    name: str
    description: str = ""
    kube: Kube
    upstream: Upstream
    pgbouncer: PgBouncer
    authentik: Authentik
    secrets: dict[str, SecretRef] = Field(
        default_factory=dict, description="secret name -> where its value comes from"
    )
    protected: bool = Field(
        default=False,
        description=(
            "production-grade: stricter lint (every image pinned by digest is an error), and "
            "apply/deploy/outpost-patch refuse a dirty git tree unless --allow-dirty"
        ),
    )
    lint: Lint = Lint()
    verify: Verify = Verify()
    monitoring: Monitoring | None = Field(
        default=None, description="metrics and alert rules; none: no exporter, no rules"
    )
    runs_dir: str = Field(default="runs", description="where runbook transcripts go")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME_RE.match(v):
            raise ValueError("must be lowercase letters, digits and dashes")
        return v

    @property
    def other_namespaces(self) -> tuple[str, ...]:
        """Namespaces besides ``kube.namespace`` that rendered objects live in."""
        m = self.monitoring
        if m is not None and m.rules == "configmap" and m.namespace != self.kube.namespace:
            return (m.namespace,)
        return ()

    @model_validator(mode="after")
    def _policy_has_upstream(self) -> Environment:
        if self.pgbouncer.network_policy.enabled and self.upstream.namespace is None:
            raise FieldError(
                ("upstream",),
                "upstream.namespace is needed for PgBouncer's NetworkPolicy egress "
                "(or set pgbouncer.network_policy.enabled: false with a waiver)",
            )
        return self

    @model_validator(mode="after")
    def _pdbs_fit(self) -> Environment:
        p = self.pgbouncer
        if p.replicas and p.pdb_min_available > p.replicas:
            raise FieldError(
                ("pgbouncer", "pdb_min_available"),
                f"{p.pdb_min_available} exceeds pgbouncer.replicas ({p.replicas})",
            )
        if "postgres_password" not in self.secrets:
            raise FieldError(
                ("secrets",),
                "secrets.postgres_password must say where the database password comes from",
            )
        return self

    @model_validator(mode="after")
    def _exporter_has_its_own_credentials(self) -> Environment:
        if self.monitoring is None:
            return self
        user = self.monitoring.exporter.user
        if user == self.upstream.user:
            raise ValueError(
                f"monitoring.exporter.user is {user}, the application's database user: the "
                "exporter needs a stats-only user of its own (default pgbouncer_stats)"
            )
        stats = self.secrets.get("stats_password")
        if stats is None:
            raise ValueError(
                "secrets.stats_password must say where the exporter's password comes from "
                "(its own secret, not the application's)"
            )
        if stats == self.secrets["postgres_password"]:
            raise ValueError(
                "secrets.stats_password names the same source as secrets.postgres_password: "
                "the exporter must not hold the application's password"
            )
        return self


def field_location(name: str, directory: Path, loc: tuple[str | int, ...]) -> str:
    """``environments/NAME.yaml:LINE`` of the field at ``loc`` (for errors found after loading)."""
    path = directory / f"{name}.yaml"
    try:
        doc = parse_one(read_text(path), display(path))
    except InputError:
        return display(path)
    return f"{display(path)}:{doc.line_of(loc)}"


def known_environments(directory: Path) -> list[str]:
    """Names of the environments defined in ``directory`` (sorted)."""
    return sorted(p.stem for p in directory.glob("*.yaml"))


def load_environment(name: str, directory: Path) -> Environment:
    """Load and validate ``directory/<name>.yaml``; one-line errors with file:line and field."""
    path = directory / f"{name}.yaml"
    if not NAME_RE.match(name) or not (path.exists() or path.is_symlink()):
        known = ", ".join(known_environments(directory)) or "none"
        raise EnvironmentConfigError(f"unknown environment {name!r} (known: {known})")
    path_shown = display(path)
    try:
        text = read_text(path, label=path_shown)
    except InputError as e:
        raise EnvironmentConfigError(str(e)) from e
    doc = named_mapping(text, path_shown, name, EnvironmentConfigError)
    env = validated(Environment, doc.data, doc, EnvironmentConfigError)
    repo = directory.resolve().parent
    for secret, ref in env.secrets.items():
        if ref.file is not None and _inside(Path(ref.file).expanduser(), repo):
            # A secrets file in the work tree is one `git add -A` away from being committed.
            raise EnvironmentConfigError(
                f"{path_shown}:{doc.line_of(('secrets', secret, 'file'))}: secrets.{secret}.file: "
                "must be outside the repository"
            )
    return env


def _inside(path: Path, root: Path) -> bool:
    try:
        return path.resolve().is_relative_to(root)
    except (OSError, RuntimeError):  # a symlink loop is no secrets file; reading it says so
        return False
