"""The kubeconfig shape check: file, line and field, before the client's loader sees it."""

from __future__ import annotations

import pytest

from akops.errors import InputError
from akops.kubeconfig import check_kubeconfig

GOOD = """\
apiVersion: v1
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:6443"}
users:
- name: u
  user: {token: t}
contexts:
- name: ctx
  context: {cluster: c, user: u}
current-context: ctx
"""


def test_a_good_kubeconfig_passes() -> None:
    check_kubeconfig(GOOD, "kc")
    check_kubeconfig("", "kc")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("clusters: [\n", r"^kc:2: invalid YAML"),
        ("- a\n", r"^kc:1: expected a mapping at the top level"),
        ("contexts: 5\n", r"^kc:1: contexts: expected a list"),
        ("users:\n- 3\n", r"^kc:2: users\[0\]: expected a mapping"),
        ("clusters:\n- cluster: {}\n", r"^kc:2: clusters\[0\]\.name: expected a non-empty name"),
        ("contexts:\n- name: x\n  context: oops\n", r"^kc:2: contexts\[0\]\.context: expected"),
        ("current-context: [a]\n", r"^kc:1: current-context: expected a name"),
        ("a: 1\n---\nb: 2\n", r"^kc:3: a kubeconfig holds one YAML document"),
    ],
)
def test_malformed_kubeconfigs_are_one_line(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        check_kubeconfig(text, "kc")
