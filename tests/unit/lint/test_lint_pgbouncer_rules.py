"""PgBouncer's rules at their edges, on small stacks: idle_transaction_timeout unset, 0
or set (and where the finding points), and pods that do not roll with their config; on the
prod stack: each finding whole, and how the exporter's image, user and password are read."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from tests.unit.lint.small import container, deployment, lint

if TYPE_CHECKING:
    from conftest import StackFiles  # the fixture's type, from this directory's conftest

RULE = "pgbouncer.idle-transaction-timeout"


def ini_map(ini: str) -> str:
    body = "".join(f"    {line}\n" for line in ini.splitlines())
    return (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: pgbouncer-config\ndata:\n"
        f"  pgbouncer.ini: |\n{body}"
    )


BASE = "[databases]\n* = host=db port=5432\n[pgbouncer]\nlisten_port = 6432\n"


@pytest.mark.parametrize(
    ("extra", "message", "line"),
    [
        (
            "",
            "idle_transaction_timeout is not set (disabled): a client killed mid-transaction keeps its locks",
            9,
        ),
        (
            "idle_transaction_timeout = 0\n",
            "idle_transaction_timeout is 0 (disabled): a client killed mid-transaction keeps its locks",
            11,
        ),
        ("idle_transaction_timeout = 300\n", None, 0),
        ("idle_transaction_timeout = 1\n", None, 0),
    ],
)
def test_idle_transaction_timeout(extra: str, message: str | None, line: int) -> None:
    found = lint(ini_map(BASE + extra))
    if message is None:
        assert found.findings(RULE) == []
        return
    f = found.one(RULE)
    assert (f.message, f.line, f.object) == (message, line, "ConfigMap/pgbouncer-config")


def test_idle_transaction_timeout_points_at_the_file_when_there_is_no_section() -> None:
    f = lint(ini_map("[databases]\n* = host=db\n")).one(RULE)
    assert f.message.startswith("idle_transaction_timeout is not set (disabled)")
    assert f.line == 7  # the rule file's first line: no [pgbouncer] section to point at


def pgbouncer(annotations: dict[str, str] | None, volumes: list[dict[str, Any]]) -> dict[str, Any]:
    d = deployment("pgbouncer", containers=[container("pgbouncer")], volumes=volumes)
    if annotations is not None:
        d["spec"]["template"]["metadata"]["annotations"] = annotations
    return d


CONFIG = [{"name": "config", "configMap": {"name": "pgbouncer-config"}}]


@pytest.mark.parametrize(
    ("annotations", "volumes", "path"),
    [
        (None, CONFIG, "spec.template.metadata"),
        ({"team": "db"}, CONFIG, "spec.template.metadata.annotations"),
        ({"checksum/config": "abc"}, CONFIG, None),
        ({"checksum/other": "abc"}, CONFIG, None),
        (None, [{"name": "x", "emptyDir": {}}], None),
        (None, [{"name": "x", "configMap": "odd"}], None),
    ],
)
def test_config_rollout(
    annotations: dict[str, str] | None, volumes: list[dict[str, Any]], path: str | None
) -> None:
    found = lint(pgbouncer(annotations, volumes))
    if path is None:
        assert found.findings("pgbouncer.config-rollout") == []
        return
    f = found.one("pgbouncer.config-rollout")
    assert f.message == (
        "Deployment/pgbouncer mounts its config from a ConfigMap but its pod template has "
        "no checksum/ annotation"
    )
    assert f.path == path


def test_config_rollout_is_pgbouncers_only() -> None:
    other = deployment("web", volumes=CONFIG)
    assert lint(other).findings("pgbouncer.config-rollout") == []


# --- on the prod stack: each finding whole ------------------------------------------------------

INI_PATH = "data.pgbouncer.ini"
CONFIGMAP = "ConfigMap/pgbouncer-config"


def whole(
    stack: StackFiles, rule: str
) -> list[tuple[str, str, int | None, str | None, str | None]]:
    return [(f.message, f.file, f.line, f.object, f.path) for f in stack.findings(rule)]


def ini_line(stack: StackFiles, text: str) -> int:
    lines = stack.texts["pgbouncer-configmap.yaml"].splitlines()
    return next(n for n, line in enumerate(lines, 1) if line.strip() == text)


def test_duplicate_key_whole(stack: StackFiles) -> None:
    stack.ini(lambda ini: ini + "pool_mode = transaction\n")
    (f,) = stack.findings("pgbouncer.duplicate-key")
    assert (f.file, f.line, f.object, f.path) == (
        "stack/pgbouncer-configmap.yaml",
        ini_line(stack, "pool_mode = transaction"),
        CONFIGMAP,
        INI_PATH,
    )


def test_invalid_and_unfollowed_include_whole(stack: StackFiles) -> None:
    stack.ini(lambda ini: ini.replace("default_pool_size = 20", "default_pool_sise = 20"))
    stack.ini(lambda ini: ini + "%include /etc/pgbouncer/extra.ini\n")
    (f,) = stack.findings("pgbouncer.invalid")
    assert (f.file, f.line, f.object, f.path) == (
        "stack/pgbouncer-configmap.yaml",
        ini_line(stack, "default_pool_sise = 20"),
        CONFIGMAP,
        INI_PATH,
    )
    assert [
        (f.message, f.file, f.line, f.object, f.severity) for f in stack.findings("input.skipped")
    ] == [
        (
            "%include /etc/pgbouncer/extra.ini: a file inside the container, not checked",
            "stack/pgbouncer-configmap.yaml",
            ini_line(stack, "%include /etc/pgbouncer/extra.ini"),
            CONFIGMAP,
            "note",
        )
    ]


def test_idle_transaction_timeout_whole(stack: StackFiles) -> None:
    stack.ini(
        lambda ini: ini.replace("idle_transaction_timeout = 300", "idle_transaction_timeout = 0")
    )
    assert whole(stack, RULE) == [
        (
            "idle_transaction_timeout is 0 (disabled): a client killed mid-transaction keeps its locks",
            "stack/pgbouncer-configmap.yaml",
            ini_line(stack, "idle_transaction_timeout = 0"),
            CONFIGMAP,
            INI_PATH,
        )
    ]


def test_idle_transaction_timeout_judges_every_ini_of_a_file() -> None:
    """An ini whose timeout is unreadable (pgbouncer.invalid's) does not end the check."""
    first = ini_map(BASE + "idle_transaction_timeout = soon\n")
    second = ini_map(BASE).replace("name: pgbouncer-config", "name: pgbouncer-config-b")
    found = lint(first + "---\n" + second).findings(RULE)
    assert [f.object for f in found] == ["ConfigMap/pgbouncer-config-b"]


def test_version_note_whole_points_at_the_configmap(stack: StackFiles) -> None:
    """Beside a bare ini (sorted first), the note names the ini that runs: the ConfigMap's."""
    stack.texts["a-pgbouncer.ini"] = "[pgbouncer]\nlisten_port = 6432\n"
    stack.deployment(
        lambda d: d["spec"]["template"]["spec"]["containers"][0].update(
            image="edoburu/pgbouncer:latest"
        )
    )
    (f,) = stack.findings("pgbouncer.version")
    first = stack.texts["pgbouncer-configmap.yaml"].splitlines().index("  pgbouncer.ini: |") + 2
    assert (f.file, f.line, f.object, f.path) == (
        "stack/pgbouncer-configmap.yaml",
        first,
        CONFIGMAP,
        INI_PATH,
    )


def test_config_rollout_judges_pgbouncer_after_other_workloads() -> None:
    both = yaml.safe_dump(deployment("web", volumes=CONFIG)) + "---\n"
    found = lint(both + yaml.safe_dump(pgbouncer(None, CONFIG)))  # one file: one Index
    assert [f.object for f in found.findings("pgbouncer.config-rollout")] == [
        "Deployment/pgbouncer"
    ]


# --- pgbouncer.exporter-credentials at its edges ----------------------------------------------

CREDENTIALS = "pgbouncer.exporter-credentials"
APP_PASSWORD = "<<akops-secret:postgres_password>>"
BORROWED = (
    "container exporter's password (Secret/pgbouncer-auth key stats-password) is also the "
    "password of authentik in userlist.txt"
)
EXPORTER = "prometheuscommunity/pgbouncer-exporter:v0.12.1"


def exporter(stack: StackFiles, change: Callable[[dict[str, Any]], object]) -> None:
    def edit(d: dict[str, Any]) -> None:
        for c in d["spec"]["template"]["spec"]["containers"]:
            if c["name"] == "exporter":
                change(c)

    stack.deployment(edit)


def secret(stack: StackFiles, change: Callable[[dict[str, Any]], object]) -> None:
    stack.edit_one("pgbouncer-secret.yaml", change)


def borrow(stack: StackFiles, password: str = APP_PASSWORD) -> None:
    """The exporter's secret holds the application's password (the seed's shape)."""
    secret(stack, lambda s: s["stringData"].__setitem__("stats-password", password))


def messages(stack: StackFiles) -> list[str]:
    return [f.message for f in stack.findings(CREDENTIALS)]


@pytest.mark.parametrize(
    ("image", "found"),
    [
        (EXPORTER, True),
        ("quay.io/prometheuscommunity/pgbouncer-exporter:v0.12.1", True),
        ("pgbouncer-exporter:v0.12.1", True),
        ("prometheuscommunity/pgbouncer-exporter@sha256:" + "f" * 64, True),
        ("example/pgbouncer_exporter", True),
        ("example/pgbouncer-exporter-fork:v1", False),
        ("pgbouncer-exporter/other:v1", False),
    ],
)
def test_the_exporter_is_known_by_its_image(stack: StackFiles, image: str, found: bool) -> None:
    borrow(stack)
    exporter(stack, lambda c: c.update(image=image))
    assert messages(stack) == ([BORROWED] if found else [])


def test_the_password_found_at_the_first_container_and_env_var(stack: StackFiles) -> None:
    borrow(stack)

    def first(d: dict[str, Any]) -> None:
        spec = d["spec"]["template"]["spec"]
        spec["containers"].sort(key=lambda c: c["name"] != "exporter")
        spec["containers"][0]["env"].sort(key=lambda e: e["name"] != "PGPASSWORD")

    stack.deployment(first)
    (f,) = stack.findings(CREDENTIALS)
    assert (f.message, f.path) == (BORROWED, "spec.template.spec.containers[0].env[1]")


def test_a_password_not_from_a_secret_is_not_compared(stack: StackFiles) -> None:
    borrow(stack)

    def from_configmap(c: dict[str, Any]) -> None:
        (var,) = [e for e in c["env"] if e["name"] == "PGPASSWORD"]
        var["valueFrom"] = {"configMapKeyRef": {"name": "pgbouncer-config", "key": "x"}}

    exporter(stack, from_configmap)
    assert messages(stack) == []
    exporter(stack, lambda c: c["env"][1]["valueFrom"].update(secretKeyRef={"name": "x"}))
    assert messages(stack) == []


def test_only_pgpassword_names_the_password(stack: StackFiles) -> None:
    borrow(stack)
    other = {"name": "pgbouncer-auth", "key": "userlist.txt"}
    exporter(
        stack, lambda c: c["env"].append({"name": "EXTRA", "valueFrom": {"secretKeyRef": other}})
    )
    assert messages(stack) == [BORROWED]


def deployment_line(stack: StackFiles, text: str) -> int:
    lines = stack.texts["pgbouncer-deployment.yaml"].splitlines()
    return next(n for n, line in enumerate(lines, 1) if line.strip() == text)


def _pguser(user: str, keep_url: bool) -> Callable[[dict[str, Any]], None]:
    def change(c: dict[str, Any]) -> None:
        if not keep_url:
            c["env"] = [e for e in c["env"] if e["name"] != "PGBOUNCER_EXPORTER_CONNECTION_STRING"]
        c["env"].append({"name": "PGUSER", "value": user})

    return change


def test_pguser_names_the_exporters_user(stack: StackFiles) -> None:
    stack.settings["database_user"] = "authentik"
    exporter(stack, _pguser("authentik", keep_url=False))
    assert whole(stack, CREDENTIALS) == [
        (
            "container exporter logs in as authentik, the application's database user",
            "stack/pgbouncer-deployment.yaml",
            deployment_line(stack, "- name: exporter"),
            "Deployment/pgbouncer",
            "spec.template.spec.containers[1]",
        ),
        (  # its password is pgbouncer_stats', a user it does not log in as
            "container exporter's password (Secret/pgbouncer-auth key stats-password) is also "
            "the password of pgbouncer_stats in userlist.txt",
            "stack/pgbouncer-deployment.yaml",
            deployment_line(stack, "- name: exporter"),
            "Deployment/pgbouncer",
            "spec.template.spec.containers[1]",
        ),
    ]


def test_the_connection_strings_user_wins_over_pguser(stack: StackFiles) -> None:
    stack.settings["database_user"] = "authentik"
    exporter(stack, _pguser("authentik", keep_url=True))
    assert messages(stack) == []


def test_a_forced_user_is_judged_only_against_a_known_exporter_user(stack: StackFiles) -> None:
    stack.ini(lambda ini: ini.replace("dbname=authentik\n", "dbname=authentik user=authentik\n"))
    (f,) = stack.findings(CREDENTIALS)
    assert (f.message, f.path) == (
        "[databases] authentik forces user=authentik: the exporter's pgbouncer_stats (any user "
        "in userlist.txt) opens server connections as authentik",
        INI_PATH,
    )
    exporter(
        stack,
        lambda c: c.update(
            env=[
                *(e for e in c["env"] if e["name"] != "PGBOUNCER_EXPORTER_CONNECTION_STRING"),
                {"name": "PGHOST", "value": "127.0.0.1"},  # no user
            ]
        ),
    )
    assert [m for m in messages(stack) if m.startswith("[databases]")] == []


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_a_password_in_data_is_decoded(stack: StackFiles) -> None:
    def to_data(s: dict[str, Any]) -> None:
        s["stringData"].pop("stats-password")
        s["data"] = {
            "port": 6432,  # not text: skipped, the rest still read
            "junk": "not base64!",
            "stats-password": _b64(APP_PASSWORD),
        }

    secret(stack, to_data)
    assert messages(stack) == [BORROWED]
    # Kubernetes refuses data that is not strict base64; so is it not read here.
    secret(stack, lambda s: s["data"].update({"stats-password": "*" + _b64(APP_PASSWORD)}))
    assert messages(stack) == []


def test_every_secret_key_is_read_in_any_order(stack: StackFiles) -> None:
    def reorder(s: dict[str, Any]) -> None:
        data = s["stringData"]
        s["stringData"] = {"port": 6432, "stats-password": APP_PASSWORD, **data} | {
            "stats-password": APP_PASSWORD
        }

    secret(stack, reorder)
    assert messages(stack) == [BORROWED]


def test_userlist_quotes_and_every_sharing_user_named(stack: StackFiles) -> None:
    password = 'pa"ss'
    borrow(stack, password)
    userlist = '"authentik" "pa""ss"\n"the ""app""" "pa""ss"\n"pgbouncer_stats" "other"\n'
    secret(stack, lambda s: s["stringData"].update({"userlist.txt": userlist}))
    assert messages(stack) == [
        "container exporter's password (Secret/pgbouncer-auth key stats-password) is also the "
        'password of authentik, the "app" in userlist.txt'
    ]


def test_the_exporter_is_found_after_other_workloads(stack: StackFiles) -> None:
    borrow(stack)
    # A critical workload (the stack keeps only those) in a file sorted before PgBouncer's.
    stack.texts["a-outpost.yaml"] = yaml.safe_dump(deployment("ak-outpost-x"))
    assert messages(stack) == [BORROWED]
