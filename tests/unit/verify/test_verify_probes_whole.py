"""The probes each check plans, asserted whole on the prod environment: the row an operator
reads (target), how it is observed (kind) and what the observation is given (args)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from akops.environment import Environment, load_environment
from akops.layout import Layout
from akops.verify import probes
from akops.verify.check import LOCAL, Options, Probe, Subject, skip
from akops.verify.checks import alerts, db, http, images, pdb, pgbouncer, rollout, shm, spread

PGB = "db.example:6432"


@pytest.fixture
def prod(layout: Layout) -> Environment:
    return load_environment("prod", layout.environments)


@pytest.fixture
def s(prod: Environment) -> Subject:
    options = Options(pgbouncer=PGB, prometheus="http://prom.example:9090")
    return probes.subject(prod, "cluster", options, None, "ctx", None)


def test_alerts_probe_reads_the_named_prometheus_or_says_why_not(s: Subject) -> None:
    monitoring = s.env.monitoring
    assert monitoring is not None and monitoring.runbook_url
    assert alerts._probes("alerts.firing", s) == [
        Probe(
            "alerts.firing",
            "prom.example:9090",
            "http",
            args={
                "url": "http://prom.example:9090",
                "namespace": "authentik",
                "runbook_url": monitoring.runbook_url,
                "env": "prod",
            },
        )
    ]
    assert alerts._probes("alerts.firing", replace(s, prometheus="")) == [
        skip("alerts.firing", "prometheus", alerts.NO_PROMETHEUS)
    ]


def test_db_probes_need_an_address_and_credentials(s: Subject) -> None:
    max_seconds = s.env.verify.idle_in_transaction_max_seconds
    assert db._probes("db.idle-in-transaction", s) == [
        Probe(
            "db.idle-in-transaction",
            PGB,
            "db",
            args={"address": PGB, "max_seconds": max_seconds},
        )
    ]
    assert db._probes("db.pool-waiting", s) == [
        Probe("db.pool-waiting", PGB, "db", args={"address": PGB})
    ]
    assert db._probes("db.pool-waiting", replace(s, pgbouncer="")) == [
        skip(
            "db.pool-waiting",
            "PgBouncer",
            "no PgBouncer address from this machine (--pgbouncer, e.g. after kubectl port-forward)",
        )
    ]
    assert db._probes("db.pool-waiting", replace(s, no_credentials="no password here")) == [
        skip("db.pool-waiting", PGB, "no password here")
    ]


def test_outpost_ping_goes_through_the_api_proxy_unless_an_url_is_given(s: Subject) -> None:
    service = s.env.authentik.outpost.deployment
    assert http._ping_probes("http.outpost-ping", s) == [
        Probe(
            "http.outpost-ping",
            f"service/{service}{http.PING}",
            "api",
            args={"namespace": "authentik", "service": service, "port": "http", "path": http.PING},
        )
    ]
    url = f"https://out.example{http.PING}"
    assert http._ping_probes("http.outpost-ping", replace(s, outpost="https://out.example")) == [
        Probe("http.outpost-ping", f"out.example{http.PING}", "http", args={"url": url})
    ]


def test_rollout_probes_each_deployment_and_skips_the_outpost_without_containers(
    s: Subject,
) -> None:
    names = rollout.deployments(s)
    outpost = s.env.authentik.outpost.deployment
    assert names[-1] == outpost
    expected = [
        Probe(
            "rollout.converged",
            f"Deployment/{n}",
            "api",
            args={"namespace": "authentik", "name": n},
        )
        for n in names
    ]
    assert rollout._converged_probes("rollout.converged", s) == expected
    kwok = replace(s, no_containers="its pods run on kwok nodes")
    assert rollout._converged_probes("rollout.converged", kwok) == [
        *expected[:-1],
        skip(
            "rollout.converged",
            f"Deployment/{outpost}",
            "Authentik creates it once it runs; its pods run on kwok nodes",
        ),
    ]


def test_rollout_pods_reads_every_role_in_one_probe(s: Subject) -> None:
    selectors = tuple(r.selector for r in s.roles.values())
    assert rollout._pods_probes("rollout.pods", s) == [
        Probe(
            "rollout.pods",
            "namespace/authentik",
            "api",
            args={"namespace": "authentik", "selectors": selectors},
            calls=len(selectors),
        )
    ]


def test_pdb_probes_expect_the_environments_budgets(s: Subject) -> None:
    got = pdb._probes("pdb.budget", s)
    assert [(p.check, p.target, p.kind, p.args["namespace"], p.args["name"]) for p in got] == [
        ("pdb.budget", f"PDB/{w.name}", "api", "authentik", w.name) for w in pdb.expectations(s)
    ]
    assert [p.args["want"].describe() for p in got] == [
        f"minAvailable {s.env.authentik.server.pdb_min_available}",
        f"maxUnavailable {s.env.authentik.worker.pdb_max_unavailable}",
        f"minAvailable {s.env.pgbouncer.pdb_min_available}",
    ]


def test_pdb_expectations_name_the_charts_and_our_budgets(s: Subject) -> None:
    assert [w.name for w in pdb.expectations(s)] == [
        "goauthentik-server",
        "goauthentik-worker",
        "pgbouncer",
    ]


def test_images_probe_one_row_per_role_with_what_the_verdict_needs(s: Subject) -> None:
    targets = images.targets(s.env, s.roles)
    assert images._probes("images.pinned", s) == [
        Probe("images.pinned", row, "api", args=args) for row, args in targets
    ]
    row, args = targets[0]
    assert row == "server pods (authentik.image_tag)"
    assert set(args) == {"namespace", "selector", "expected", "images"}
    assert args["namespace"] == "authentik"
    assert args["selector"] == s.roles["server"].selector


def test_endpoint_probes_get_the_path_under_the_base_url(s: Subject) -> None:
    assert http._endpoint_probes("http.ready", s, "/-/health/ready/") == [
        Probe(
            "http.ready",
            "authentik.viktorbarzin.me/-/health/ready/",
            "http",
            args={"url": "https://authentik.viktorbarzin.me/-/health/ready/"},
        )
    ]
    assert http._shown("https://a.example/x://y") == "a.example/x://y"


def test_forward_auth_probes_each_protected_service_or_says_there_is_none(s: Subject) -> None:
    two = replace(s, protected=("https://a.example/", "https://b.example/"))
    assert http._forward_auth_probes("http.forward-auth", two) == [
        Probe(
            "http.forward-auth",
            url,
            "http",
            args={"url": url, "auth_host": "authentik.viktorbarzin.me"},
        )
        for url in two.protected
    ]
    assert http._forward_auth_probes("http.forward-auth", replace(s, protected=())) == [
        skip("http.forward-auth", "(none)", "no protected services configured")
    ]


def test_spread_probes_expect_each_roles_replicas(s: Subject) -> None:
    assert spread._probes("spread.replicas", s) == [
        Probe(
            "spread.replicas",
            role,
            "api",
            args={"namespace": "authentik", "selector": s.roles[role].selector, "expected": n},
        )
        for role, n in (
            ("server", s.env.authentik.server.replicas),
            ("worker", s.env.authentik.worker.replicas),
            ("pgbouncer", s.env.pgbouncer.replicas),
        )
    ]


def test_shm_probe_on_this_machine(s: Subject) -> None:
    local = replace(s, target="local", shm="/dev/shm")
    args = {"path": "/dev/shm", "threshold": s.env.verify.shm_threshold}
    assert shm._probes("shm.usage", local) == [
        Probe("shm.usage", "local:/dev/shm", "exec", LOCAL, args)
    ]


def test_pgbouncer_probes_on_this_machine(s: Subject) -> None:
    port = s.env.pgbouncer.settings.listen_port
    service = f"pgbouncer:{port}"
    local = replace(s, target="local", pgbouncer="127.0.0.1:6433")
    assert pgbouncer._reachable_probes("pgbouncer.reachable", local) == [
        Probe(
            "pgbouncer.reachable",
            "local -> 127.0.0.1:6433",
            "exec",
            LOCAL,
            {"address": "127.0.0.1:6433"},
        )
    ]
    assert pgbouncer._reachable_probes("pgbouncer.reachable", replace(local, pgbouncer="")) == [
        skip("pgbouncer.reachable", "local", "no PgBouncer address (--pgbouncer)")
    ]
    assert pgbouncer._listening_probes("pgbouncer.listening", local) == [
        Probe("pgbouncer.listening", "local:6433", "exec", LOCAL, {"port": 6433})
    ]
    remote = replace(local, pgbouncer="db.example:6432")
    assert pgbouncer._listening_probes("pgbouncer.listening", remote) == [
        skip("pgbouncer.listening", "local", "PgBouncer is not on this machine")
    ]
    assert pgbouncer._isolated_probes("pgbouncer.isolated", local) == [
        Probe("pgbouncer.isolated", f"local -> {service}", "exec", LOCAL, {"address": service})
    ]
    assert pgbouncer._host_port("[::1]:6432") == ("[::1]", 6432)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("localhost", True), ("::1", True), ("127.0.0.2", True), ("10.0.0.1", False), ("x", False)],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert pgbouncer._loopback(host) is loopback


def test_alerts_probe_without_monitoring_or_scheme(s: Subject) -> None:
    bare = replace(s, env=s.env.model_copy(update={"monitoring": None}))
    (probe,) = alerts._probes("alerts.firing", bare)
    assert probe.args["runbook_url"] is None
    odd = replace(s, prometheus="http://prom.example/x://y")
    assert [p.target for p in alerts._probes("alerts.firing", odd)] == ["prom.example/x://y"]
    no_scheme = replace(s, prometheus="prom.example:9090")
    assert [p.target for p in alerts._probes("alerts.firing", no_scheme)] == ["prom.example:9090"]
    assert http._shown("a.example/x") == "a.example/x"


def test_isolated_is_skipped_without_a_network_policy(s: Subject) -> None:
    pgb = s.env.pgbouncer
    policy = pgb.network_policy.model_copy(update={"enabled": False, "waiver": "lab has no CNI"})
    env = s.env.model_copy(update={"pgbouncer": pgb.model_copy(update={"network_policy": policy})})
    assert pgbouncer._isolated_probes("pgbouncer.isolated", replace(s, env=env)) == [
        skip(
            "pgbouncer.isolated",
            "outpost",
            "no NetworkPolicy in this environment: lab has no CNI",
        )
    ]


def test_listening_in_the_cluster_uses_the_rendered_port_not_the_local_address(
    s: Subject,
) -> None:
    port = s.env.pgbouncer.settings.listen_port
    forwarded = replace(s, pgbouncer=f"db.example:{port + 1}")
    assert [p.target for p in pgbouncer._listening_probes("pgbouncer.listening", forwarded)] == [
        f"(pgbouncer pods):{port}"
    ]
