"""How API refusals become our one-line errors (pure)."""

from __future__ import annotations

import json

from akops.cluster.call import conflict_managers, error_for
from akops.cluster.connect import _budget, _reason
from akops.errors import ClusterError, ConflictError, NotFound, RejectedError
from akops.secrets import Secrets


def status(code: int, message: str, causes: list[dict[str, str]] | None = None) -> bytes:
    return json.dumps(
        {"kind": "Status", "code": code, "message": message, "details": {"causes": causes or []}}
    ).encode()


def test_conflict_names_every_other_manager() -> None:
    raw = status(
        409,
        'Apply failed with 2 conflicts: conflicts with "kubectl-edit" using apps/v1:\n- .spec.replicas\n'
        'conflicts with "argocd-controller" using apps/v1:\n- .spec.template.spec.containers[name="pgbouncer"].image',
    )
    e = error_for(409, raw, "Deployment/pgbouncer", Secrets())
    assert isinstance(e, ConflictError) and e.exit_code == 1
    text = str(e)
    assert text.startswith(
        "Deployment/pgbouncer: fields owned by another field manager (kubectl-edit, argocd-controller): "
    )
    assert text.endswith("; pass --force-conflicts to take them over")
    assert "\n" not in text


def test_conflict_managers() -> None:
    assert conflict_managers(
        'conflict with "a" using v1: .x; conflict with "b" using v1: .y; conflict with "a"'
    ) == ["a", "b"]


def test_other_statuses_name_the_object_and_the_apis_message() -> None:
    raw = status(
        422,
        'Deployment.apps "pgbouncer" is invalid',
        [{"message": "Invalid value: -1", "field": "spec.replicas"}],
    )
    e = error_for(422, raw, "Deployment/pgbouncer", Secrets())
    assert isinstance(e, RejectedError) and e.exit_code == 1  # refused: ran and failed
    assert str(e) == (
        'Deployment/pgbouncer: the API answered 422: Deployment.apps "pgbouncer" is invalid: '
        "Invalid value: -1 (spec.replicas)"
    )
    assert isinstance(error_for(404, b"", "Secret/x", Secrets()), NotFound)
    unavailable = error_for(500, b"<html>oops</html>", "Secret/x", Secrets())
    assert type(unavailable) is ClusterError and unavailable.exit_code == 2  # could not run
    assert str(unavailable) == "Secret/x: the API answered 500: <html>oops</html>"


def test_api_messages_are_masked() -> None:
    raw = status(
        422, 'Secret "pgbouncer-auth" is invalid: data[userlist.txt]: "hunter2-canary" is not valid'
    )
    assert "hunter2-canary" not in str(
        error_for(422, raw, "Secret/pgbouncer-auth", Secrets({"p": "hunter2-canary"}))
    )


def test_call_budget_and_reason() -> None:
    assert _budget(None, 10) == 10
    assert _budget(3, 10) == 3
    assert _budget((2, 5), 10) == 7
    assert _reason(ConnectionRefusedError(111, "Connection refused")) == "Connection refused"


def test_not_found_keeps_the_apis_reason() -> None:
    raw = status(404, 'namespaces "authentik" not found')
    e = error_for(404, raw, "ConfigMap/pgbouncer-config", Secrets())
    assert isinstance(e, NotFound)
    assert str(e) == 'ConfigMap/pgbouncer-config: not found (namespaces "authentik" not found)'
