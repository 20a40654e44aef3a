"""Check selection, the plan of probes per target, and the shell commands with their batching."""

from __future__ import annotations

import subprocess
from urllib.parse import parse_qs, urlsplit

import pytest

from akops.environment import load_environment
from akops.errors import InputError
from akops.verify import commands, probes, registry
from akops.verify.check import LOCAL, Options, Pod
from akops.verify.checks import pgbouncer

CONTRACT = [
    "rollout.converged",
    "rollout.pods",
    "images.pinned",
    "spread.replicas",
    "pdb.budget",
    "http.ready",
    "http.live",
    "http.config",
    "http.flow",
    "http.outpost-ping",
    "http.forward-auth",
    "pgbouncer.reachable",
    "pgbouncer.isolated",
    "pgbouncer.listening",
    "shm.usage",
    "db.idle-in-transaction",
    "db.pool-waiting",
    "alerts.firing",
]


def build(env, checks, target, options, pods=None, context=None, credentials=None):
    return probes.build(probes.subject(env, target, options, pods, context, credentials), checks)


def test_registry_ids_are_the_contract() -> None:
    assert list(registry.IDS) == CONTRACT
    assert all(c.description and c.scope in ("cluster", "any") for c in registry.REGISTRY)
    assert {c.id for c in registry.REGISTRY if c.converges} == {
        "rollout.converged",
        "rollout.pods",
        "images.pinned",
        "spread.replicas",
        "pdb.budget",
    }


def test_select_by_id_glob_and_comma() -> None:
    ids = [c.id for c in registry.select(only=["http.*,shm.usage"], skip=["http.forward-auth"])]
    assert ids == [
        "http.ready",
        "http.live",
        "http.config",
        "http.flow",
        "http.outpost-ping",
        "shm.usage",
    ]
    assert len(registry.select()) == len(CONTRACT)
    with pytest.raises(InputError, match=r"--skip db\.nope: no such check"):
        registry.select(skip=["db.nope"])


@pytest.fixture
def prod(layout):
    return load_environment("prod", layout.environments)


def pods(role: str, n: int) -> list[Pod]:
    container = {"server": "server", "pgbouncer": "pgbouncer", "outpost": "proxy"}[role]
    return [Pod(f"{role}-{i}", "authentik", container, f"node{i}") for i in range(n)]


def test_cluster_plan_targets_every_pod_and_object(prod) -> None:
    found = {
        "server": pods("server", 3),
        "pgbouncer": pods("pgbouncer", 3),
        "outpost": pods("outpost", 1),
    }
    planned = build(prod, registry.select(), "cluster", Options(), found, context="ctx")
    by = {}
    for p in planned:
        by.setdefault(p.check, []).append(p)
    assert [p.target for p in by["rollout.converged"]] == [
        "Deployment/goauthentik-server",
        "Deployment/goauthentik-worker",
        "Deployment/pgbouncer",
        "Deployment/ak-outpost-authentik-embedded-outpost",
    ]
    assert [p.args["expected"] for p in by["spread.replicas"]] == [3, 3, 3]
    assert [p.args["want"].describe() for p in by["pdb.budget"]] == [
        "minAvailable 2",
        "maxUnavailable 1",
        "minAvailable 2",
    ]
    assert by["http.ready"][0].args["url"] == "https://authentik.viktorbarzin.me/-/health/ready/"
    assert by["http.outpost-ping"][0].kind == "api"  # no route from here: through the API proxy
    assert by["http.forward-auth"][0].args == {
        "url": "https://wealthfolio.viktorbarzin.me/",
        "auth_host": "authentik.viktorbarzin.me",
    }
    assert [p.target for p in by["pgbouncer.reachable"]] == [
        f"server-{i} -> pgbouncer:6432" for i in range(3)
    ]
    assert [p.target for p in by["shm.usage"]] == [
        "outpost-0:/dev/shm",
        "server-0:/dev/shm",
        "server-1:/dev/shm",
        "server-2:/dev/shm",
    ]
    spec = urlsplit(by["shm.usage"][0].host or "")
    assert (spec.scheme, spec.netloc) == ("kubectl", "outpost-0")
    assert parse_qs(spec.query) == {
        "namespace": ["authentik"],
        "container": ["proxy"],
        "context": ["ctx"],
    }
    # without a port-forwarded PgBouncer the database checks cannot run from here
    assert {p.kind for p in by["db.pool-waiting"]} == {"skip"}


def test_cluster_plan_fails_a_role_without_pods(prod) -> None:
    planned = build(
        prod,
        registry.select(only=["shm.usage"]),
        "cluster",
        Options(),
        {"server": pods("server", 1)},
    )
    assert [(p.target, p.kind) for p in planned] == [
        ("(outpost pods):/dev/shm", "absent"),
        ("server-0:/dev/shm", "exec"),
    ]
    assert (
        planned[0].args["why"]
        == "no ready outpost pod matches goauthentik.io/outpost-name=authentik-embedded-outpost"
    )


def test_local_plan_uses_the_local_block_and_overrides(prod) -> None:
    options = Options(
        url="http://localhost:9000/",
        pgbouncer="127.0.0.1:7432",
        protected=("http://127.0.0.1:8/a/",),
    )
    planned = build(prod, registry.select(), "local", options, credentials=None)
    assert not any(p.check.startswith(("rollout.", "spread.", "pdb.")) for p in planned)
    by = {p.check: p for p in planned}
    assert by["http.ready"].args["url"] == "http://localhost:9000/-/health/ready/"
    assert (
        by["http.outpost-ping"].args["url"] == "http://127.0.0.1:9000/outpost.goauthentik.io/ping"
    )
    assert by["http.forward-auth"].args["auth_host"] == "localhost"
    assert by["pgbouncer.reachable"].host == LOCAL and by["pgbouncer.reachable"].args == {
        "address": "127.0.0.1:7432"
    }
    assert by["pgbouncer.listening"].args == {"port": 7432}
    assert by["shm.usage"].args == {"path": "/dev/shm", "threshold": 80}
    assert by["db.pool-waiting"].kind == "db"
    remote = build(
        prod,
        registry.select(),
        "local",
        Options(pgbouncer="db.example:6432"),
        credentials="no creds",
    )
    kinds = {p.check: p.kind for p in remote}
    assert kinds["pgbouncer.listening"] == "skip" and kinds["db.idle-in-transaction"] == "skip"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (Options(pgbouncer="6432"), "--pgbouncer '6432': expected HOST:PORT"),
        (Options(url="auth.example"), "--url 'auth.example': expected an http(s) URL"),
        (Options(protected=("x",)), "protected service 'x'"),
    ],
)
def test_bad_addresses_are_input_errors(prod, options, message) -> None:
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build(prod, registry.select(), "local", options)


def sh(script: str) -> str:
    return subprocess.run(
        ["/bin/sh", "-c", script], capture_output=True, text=True, check=False
    ).stdout


def test_batch_runs_each_command_and_keeps_its_exit_code_and_output() -> None:
    hostile = "it's $(not) `run`; done"
    script = commands.batch(
        [
            commands.sh("printf '%%s' %s", hostile),
            "echo out; echo err >&2; exit 3",
            "true",
            "exit 0",
        ]
    )
    parts = commands.split(sh(script), 4)
    assert [p.rc if p else None for p in parts] == [0, 3, 0, 0]
    assert parts[0] is not None and parts[0].stdout == hostile
    assert parts[1] is not None and parts[1].stdout == "out\nerr\n"
    assert parts[2] is not None and parts[2].stdout == ""


def test_split_marks_missing_frames() -> None:
    assert commands.split("error: unable to upgrade connection\n", 2) == [None, None]


def test_tcp_connect_falls_back_to_bash_and_reports_refusal() -> None:
    # this machine has no nc: the bash /dev/tcp branch runs for real
    with __import__("socket").socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: refused
        result = subprocess.run(
            ["/bin/sh", "-c", pgbouncer.tcp_connect("127.0.0.1", port, 1)],
            capture_output=True,
            text=True,
        )
    assert result.returncode == 1 and "Connection refused" in result.stderr
