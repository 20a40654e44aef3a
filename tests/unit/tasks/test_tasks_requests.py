"""Every task is generated from its typed request: same flags, same help, parsed before it runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from akops.cli import Request
from akops.errors import InputError
from akops.layout import Layout
from akops.requests import (
    CHECK_STEP,
    REQUESTS,
    RehearseRequest,
    RunbookRunRequest,
    VerifyRequest,
)
from akops.tasks.common import Operation, index

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def tasks() -> dict[str, Operation]:
    ns = index(Layout(ROOT))
    return {name: ns[name] for name in ns.task_names}


def test_every_task_has_its_request(tasks: dict[str, Operation]) -> None:
    made = {name for name, t in tasks.items() if isinstance(t, Operation)}
    assert made == set(REQUESTS)
    for name in made:
        assert tasks[name].request is REQUESTS[name]


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_the_flags_are_the_fields(tasks: dict[str, Operation], name: str) -> None:
    task, request = tasks[name], REQUESTS[name]
    task.help = dict(task.helps)  # Invoke pops each help as it builds the arguments
    args = {a.names[0]: a for a in task.get_arguments()}
    flags = {f.name.strip("_").replace("_", "-"): f for f in request.flags()}
    assert set(args) == set(flags)
    for arg_name, f in flags.items():
        arg = args[arg_name]
        assert arg.help is not None and arg.help.startswith(f.help), arg_name
        assert arg.positional == f.positional
        assert (arg.kind is list) == f.repeatable


def test_introspection_gives_flag_help_kind_default_repeatable() -> None:
    timeout = VerifyRequest.flag("timeout")
    assert (timeout.flag, timeout.kind, timeout.default, timeout.repeatable) == (
        "--timeout",
        "seconds",
        None,
        False,
    )
    assert VerifyRequest.flag("protected").repeatable
    assert RunbookRunRequest.flag("from_").flag == "--from"
    assert RehearseRequest.flag("scenario").flag == "SCENARIO"
    for request in REQUESTS.values():
        for f in request.flags():
            assert f.help and f.kind and f.flag


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"timeout": "soon"}, "--timeout 'soon': expected a number of seconds"),
        ({"deadline": "-1"}, "--deadline '-1': expected a positive, finite number"),
        ({"workers": "0"}, "--workers '0': must be at least 1"),
        ({"target": "moon"}, "--target must be cluster or local, not 'moon'"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_flag(raw: dict[str, str], message: str) -> None:
    with pytest.raises(InputError) as e:
        VerifyRequest.parse(raw)
    assert str(e.value).startswith(message) and "\n" not in str(e.value)


def test_values_are_typed() -> None:
    req = VerifyRequest.parse(
        {"env": "prod", "timeout": "2.5", "workers": "3", "protected": ["a", "b"], "json": None}
    )
    assert (req.timeout, req.workers, req.protected, req.json) == (2.5, 3, ("a", "b"), None)


def test_a_required_positional_is_named() -> None:
    with pytest.raises(InputError, match=r"^SCENARIO is required$"):
        RehearseRequest.parse({})
    with pytest.raises(InputError, match=r"^SCENARIO: expected a scenario name, got '-x'$"):
        RehearseRequest.parse({"scenario": "-x"})
    assert RehearseRequest.parse({"scenario": "--list"}).listing


def test_argv_of_a_surface_knows_only_its_flags() -> None:
    req = VerifyRequest.from_argv(
        ["--pgbouncer", "h:1", "--protected=u1", "--protected", "u2", "--timeout", "3"],
        group=CHECK_STEP,
    )
    assert (req.pgbouncer, req.protected, req.timeout) == ("h:1", ("u1", "u2"), 3.0)
    with pytest.raises(InputError, match=r"^step: unknown flag '--workers'"):
        VerifyRequest.from_argv(["--workers", "2"], group=CHECK_STEP, where="step")
    with pytest.raises(InputError, match=r"--url needs a value"):
        VerifyRequest.from_argv(["--url"], group=CHECK_STEP)


def test_verify_args_are_checked_before_the_run() -> None:
    req = RunbookRunRequest.parse({"name": "deploy", "verify_args": "--target local --url 'x y'"})
    assert req.verify_args == ("--target", "local", "--url", "x y")
    with pytest.raises(InputError, match=r"^--verify-args: unknown flag '--only'"):
        RunbookRunRequest.parse({"name": "deploy", "verify_args": "--only http.live"})
    with pytest.raises(InputError, match=r"^--timeout 'x'"):
        RunbookRunRequest.parse({"name": "deploy", "verify_args": "--timeout x"})
    with pytest.raises(InputError, match=r"^--verify-args '--url \"': "):
        RunbookRunRequest.parse({"name": "deploy", "verify_args": '--url "'})


def test_a_request_is_a_typed_value() -> None:
    assert issubclass(VerifyRequest, Request)
    with pytest.raises(TypeError):
        VerifyRequest(evn="prod")  # type: ignore[call-arg]
    with pytest.raises(AttributeError):
        VerifyRequest(env="prod").env = "lab"  # type: ignore[misc]


def test_defaults_named_in_two_places_agree() -> None:
    from akops.chart import PULL_TIMEOUT
    from akops.lint.report import FORMATS
    from akops.requests import LINT_FORMATS, ChartPullRequest

    assert ChartPullRequest.flag("timeout").default == PULL_TIMEOUT
    assert LINT_FORMATS == FORMATS
