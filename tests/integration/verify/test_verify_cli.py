"""`invoke verify --target local` as operators run it: table, VERIFY RESULT, exit codes, files."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

pytestmark = pytest.mark.integration


def verify(cli, *args: str):
    target = () if "--target" in args else ("--target", "local")
    timeout = () if "--timeout" in args else ("--timeout", "2")
    return cli("verify", "--env", "prod", *target, *timeout, *args)


def test_pass_shows_the_table_and_writes_json_and_junit(stack, cli, tmp_path) -> None:
    out_json, out_xml = tmp_path / "r" / "verify.json", tmp_path / "r" / "verify.xml"
    result = verify(cli, "--json", str(out_json), "--junit", str(out_xml))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == "VERIFY RESULT: PASS"
    header = next(line for line in lines if "check" in line and "target" in line)
    for column in ("result", "time", "detail"):
        assert column in header
    assert "shm.usage" in result.stdout and "0% used" in result.stdout
    assert json.loads(out_json.read_text())["result"] == "PASS"
    suite = ET.parse(out_xml).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "0" and int(suite.get("tests") or 0) >= 11


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        ("pgbouncer", "TCP connect to 127.0.0.1:"),
        ("health-503", "503 Service Unavailable"),
        ("health-hang", "no answer within 2s"),
        ("health-redirect", "302 Found -> http://localhost:"),
        ("shm", "% used ("),
    ],
)
def test_each_failure_exits_1_with_the_reason(stack, cli, breakage: str, expected: str) -> None:
    if breakage == "pgbouncer":
        stack.pgbouncer.stop()
    elif breakage == "shm":
        stack.tmpfs.fill(85)
    else:
        stack.http.set("/-/health/ready/", breakage.removeprefix("health-"))
    result = verify(cli)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "VERIFY RESULT: FAIL"
    failing = [line for line in result.stdout.splitlines() if "FAIL " in line or "│ FAIL" in line]
    assert any(expected in line for line in failing), result.stdout
    assert "PASS" in result.stdout  # the other checks still reported
    assert "Traceback" not in result.stderr


def test_only_and_skip_select_by_id(stack, cli) -> None:
    result = verify(cli, "--only", "http.*", "--skip", "http.forward-auth", "--only", "shm.usage")
    assert result.returncode == 0, result.stdout + result.stderr
    shown = {
        line.split()[1]
        for line in result.stdout.splitlines()
        if line.startswith("│ ") and "." in line.split()[1]
    }
    assert shown == {
        "http.ready",
        "http.live",
        "http.config",
        "http.flow",
        "http.outpost-ping",
        "shm.usage",
    }


def test_a_run_where_every_check_was_skipped_fails(cli, tmp_path) -> None:
    # The cluster target without --pgbouncer skips both database checks: nothing was proved.
    out = tmp_path / "verify.json"
    result = cli("verify", "--env", "prod", "--only", "db.*", "--json", str(out))
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == "VERIFY RESULT: FAIL"
    assert lines[-2].startswith("nothing was evaluated, every check was skipped: ")
    assert "--pgbouncer" in lines[-2]
    doc = json.loads(out.read_text())
    assert doc["result"] == "FAIL" and doc["evaluated"] == 0
    assert "Traceback" not in result.stderr


def test_skips_beside_passing_checks_still_pass(stack, cli) -> None:
    # No database password here: the db checks are skipped, http.ready is evaluated and passes.
    env = {"AKOPS_PROD_POSTGRES_PASSWORD": ""}
    result = cli("verify", "--env", "prod", "--target", "local", "--timeout", "2",
                 "--only", "http.ready", "--only", "db.*", env=env)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "VERIFY RESULT: PASS"
    assert result.stdout.count("SKIP") == 2 and "no database credentials" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--only", "http.nope"), "--only http.nope: no such check"),
        (("--target", "moon"), "--target must be cluster or local, not 'moon'"),
        (("--pgbouncer", "no-port"), "--pgbouncer 'no-port': expected HOST:PORT"),
        (("--url", "ftp://x"), "--url 'ftp://x': expected an http(s) URL"),
        (("--timeout", "soon"), "--timeout 'soon': expected a number of seconds"),
        (("--timeout", "inf"), "--timeout 'inf': expected a positive, finite number"),
        (("--deadline", "-1"), "--deadline '-1': expected a positive, finite number"),
    ],
)
def test_bad_input_exits_2_with_one_line(cli, one_line_error, args, message) -> None:
    one_line_error(verify(cli, *args), [message])


def test_unreachable_cluster_exits_2(cli, one_line_error, tmp_path) -> None:
    result = cli(
        "verify",
        "--env",
        "prod",
        "--context",
        "nowhere",
        env={"KUBECONFIG": str(tmp_path / "none")},
    )
    one_line_error(result, ["error:"])
