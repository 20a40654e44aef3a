"""Special files where an input file belongs: one line naming the path, exit 2, never a hang.

Every reader of an operator's file goes through ``akops.files``: a named pipe (which would
block the open until a writer comes), a link to an endless device (``/dev/zero`` reads until
memory runs out), a socket, a directory, a file past the size cap, and a ``%include`` chain
past its cap are refused before a byte is read. The cases cover each reader: lint's
``--path`` (files, directories, ``%include``), ``--waivers``, ``--plan``, environment files,
runbooks, scenarios, the kubeconfig, a secrets file, rendered manifests, the yamllint config,
``rehearse --pgbouncer-ini``. The subprocess timeout of each run is only a guard.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from akops.files import MAX_CHAIN_BYTES, MAX_FILE_BYTES
from akops.layout import Layout
from tests.integration.inputs.contract import Runner, held

pytestmark = pytest.mark.integration

Setup = Callable[[Layout, Path], dict[str, str] | None]


def fifo(rel: str) -> Setup:
    def setup(repo: Layout, tmp: Path) -> None:
        path = _fresh(repo.root / rel)
        os.mkfifo(path)

    return setup


def link(rel: str, target: str) -> Setup:
    def setup(repo: Layout, tmp: Path) -> None:
        _fresh(repo.root / rel).symlink_to(target)

    return setup


def unix_socket(rel: str) -> Setup:
    def setup(repo: Layout, tmp: Path) -> None:
        path = _fresh(repo.root / rel)
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(path))
        s.close()  # the socket file stays

    return setup


def directory(rel: str) -> Setup:
    def setup(repo: Layout, tmp: Path) -> None:
        path = _fresh(repo.root / rel)
        path.mkdir()
        (path / "a.yaml").write_text("a: 1\n")

    return setup


def sparse(rel: str, size: int, head: bytes = b"") -> Setup:
    """A regular file of ``size`` bytes that costs no disk (a hole after ``head``)."""

    def setup(repo: Layout, tmp: Path) -> None:
        path = _fresh(repo.root / rel)
        with path.open("wb") as f:
            f.write(head)
            f.truncate(size)

    return setup


def write(rel: str, text: str) -> Setup:
    def setup(repo: Layout, tmp: Path) -> None:
        path = repo.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    return setup


def both(*setups: Setup) -> Setup:
    def setup(repo: Layout, tmp: Path) -> dict[str, str]:
        env: dict[str, str] = {}
        for s in setups:
            env.update(s(repo, tmp) or {})
        return env

    return setup


def _fresh(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink() or path.is_file():
        path.unlink()
    return path


def kubeconfig_is(kind: Setup) -> Setup:
    def setup(repo: Layout, tmp: Path) -> dict[str, str]:
        kind(repo, tmp)
        return {"KUBECONFIG": str(repo.root / "kube.yaml")}

    return setup


def secrets_file_is(kind: Setup) -> Setup:
    """prod's database password from a secrets file outside the repository that is ``kind``."""

    def setup(repo: Layout, tmp: Path) -> dict[str, str]:
        outside = tmp / "outside"
        kind(Layout(outside), tmp)
        env_file = repo.environments / "prod.yaml"
        text = env_file.read_text()
        old = "postgres_password: {env: AKOPS_PROD_POSTGRES_PASSWORD}"
        assert old in text
        new = f"postgres_password: {{file: {outside / 'secrets.yaml'}, key: postgres_password}}"
        env_file.write_text(text.replace(old, new))
        return {"KUBECONFIG": str(tmp / "absent")}

    return setup


INI = "[databases]\n* = host=db\n[pgbouncer]\nlisten_port = 6432\n%include extra.ini\n"
BIG = MAX_FILE_BYTES + 1
HALF_CHAIN = MAX_CHAIN_BYTES // 2 + 1024


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]
    parts: tuple[str, ...]
    setup: Setup


LINT_X = ("lint", "--path", "x.yaml")
CASES = [
    # --- lint --path: files named ---
    Case("lint-fifo", LINT_X, ("x.yaml", "named pipe"), fifo("x.yaml")),
    Case("lint-dev-zero", LINT_X, ("x.yaml", "character device"), link("x.yaml", "/dev/zero")),
    Case(
        "lint-dev-urandom", LINT_X, ("x.yaml", "character device"), link("x.yaml", "/dev/urandom")
    ),
    Case("lint-socket", LINT_X, ("x.yaml", "socket"), unix_socket("x.yaml")),
    Case("lint-too-large", LINT_X, ("x.yaml", "larger than 64 MiB"), sparse("x.yaml", BIG)),
    Case(
        "lint-ini-fifo",
        ("lint", "--path", "p.ini"),
        ("p.ini", "named pipe"),
        fifo("p.ini"),
    ),
    # --- lint --path: a directory holding one ---
    Case(
        "lint-tree-fifo",
        ("lint", "--path", "tree"),
        ("tree/b.yaml", "named pipe"),
        both(write("tree/a.yaml", "a: 1\n"), fifo("tree/b.yaml")),
    ),
    Case(
        "lint-tree-dev-zero",
        ("lint", "--path", "tree"),
        ("tree/z.yml", "character device"),
        both(write("tree/a.yaml", "a: 1\n"), link("tree/z.yml", "/dev/zero")),
    ),
    # --- pgbouncer.ini's %include ---
    Case(
        "include-dev-zero",
        ("lint", "--path", "p.ini"),
        ("p.ini:5", "%include", "extra.ini", "character device"),
        both(write("p.ini", INI), link("extra.ini", "/dev/zero")),
    ),
    Case(
        "include-fifo",
        ("lint", "--path", "p.ini"),
        ("p.ini:5", "%include", "extra.ini", "named pipe"),
        both(write("p.ini", INI), fifo("extra.ini")),
    ),
    Case(
        "include-nested-device",
        ("lint", "--path", "p.ini"),
        ("extra.ini:1", "%include", "/dev/zero", "character device"),
        both(write("p.ini", INI), write("extra.ini", "%include /dev/zero\n")),
    ),
    Case(
        "include-too-large",
        ("lint", "--path", "p.ini"),
        ("p.ini:5", "extra.ini", "larger than 64 MiB"),
        both(write("p.ini", INI), sparse("extra.ini", BIG)),
    ),
    Case(
        "include-chain-too-large",
        ("lint", "--path", "p.ini"),
        ("extra2.ini", "p.ini includes hold more than 64 MiB"),
        both(
            write("p.ini", INI),
            sparse("extra.ini", HALF_CHAIN, b"%include extra2.ini\n"),
            sparse("extra2.ini", HALF_CHAIN),
        ),
    ),
    # --- lint's other inputs ---
    Case(
        "waivers-fifo",
        ("lint", "--path", "a.yaml", "--waivers", "w.yaml"),
        ("w.yaml", "named pipe"),
        both(write("a.yaml", "a: 1\n"), fifo("w.yaml")),
    ),
    Case(
        "values-dev-zero",
        ("lint", "--path", "a.yaml", "--values", "v.yaml"),
        ("v.yaml", "character device"),
        both(write("a.yaml", "a: 1\n"), link("v.yaml", "/dev/zero")),
    ),
    Case(
        "yamllint-config-fifo",
        ("lint", "--path", "a.yaml"),
        (".yamllint.yaml", "named pipe"),
        both(write("a.yaml", "a: 1\n"), fifo(".yamllint.yaml")),
    ),
    # --- environment files, runbooks, scenarios ---
    Case(
        "env-fifo",
        ("render", "--env", "prod", "--check"),
        ("environments/prod.yaml", "named pipe"),
        fifo("environments/prod.yaml"),
    ),
    Case(
        "env-dev-zero",
        ("render", "--env", "prod", "--check"),
        ("environments/prod.yaml", "character device"),
        link("environments/prod.yaml", "/dev/zero"),
    ),
    Case(
        "env-directory",
        ("render", "--env", "prod", "--check"),
        ("environments/prod.yaml", "is a directory"),
        directory("environments/prod.yaml"),
    ),
    Case(
        "env-too-large",
        ("render", "--env", "prod", "--check"),
        ("environments/prod.yaml", "larger than 64 MiB"),
        sparse("environments/prod.yaml", BIG, b"name: prod\n"),
    ),
    Case(
        "runbook-fifo",
        ("runbook.show", "deploy"),
        ("runbooks/deploy.yaml", "named pipe"),
        fifo("runbooks/deploy.yaml"),
    ),
    Case(
        "scenario-dev-zero",
        ("rehearse", "boot-storm", "--env", "prod"),
        ("rehearsals/boot-storm.yaml", "character device"),
        link("rehearsals/boot-storm.yaml", "/dev/zero"),
    ),
    Case(
        "rendered-manifest-fifo",
        ("render", "--env", "prod", "--check"),
        ("manifests/prod/pgbouncer-configmap.yaml", "named pipe"),
        fifo("manifests/prod/pgbouncer-configmap.yaml"),
    ),
    # --- files named by flags and the environment ---
    Case(
        "plan-file-fifo",
        ("apply", "--plan", "plan.json"),
        ("--plan plan.json", "named pipe"),
        fifo("plan.json"),
    ),
    Case(
        "plan-file-dev-zero",
        ("apply", "--plan", "plan.json"),
        ("--plan plan.json", "character device"),
        link("plan.json", "/dev/zero"),
    ),
    Case(
        "pgbouncer-ini-dev-zero",
        ("rehearse", "pool-exhaustion", "--env", "prod", "--pgbouncer-ini", "/dev/zero"),
        ("--pgbouncer-ini", "/dev/zero", "character device"),
        write("unused.txt", ""),
    ),
    Case(
        "kubeconfig-fifo",
        ("rollout", "--env", "prod"),
        ("kubeconfig", "kube.yaml", "named pipe"),
        kubeconfig_is(fifo("kube.yaml")),
    ),
    Case(
        "kubeconfig-dev-zero",
        ("rollout", "--env", "prod"),
        ("kubeconfig", "kube.yaml", "character device"),
        kubeconfig_is(link("kube.yaml", "/dev/zero")),
    ),
    Case(
        "secrets-file-fifo",
        ("plan", "--env", "prod", "--skip-helm"),
        ("secret 'postgres_password'", "secrets.yaml", "named pipe"),
        secrets_file_is(fifo("secrets.yaml")),
    ),
    Case(
        "secrets-file-dev-zero",
        ("plan", "--env", "prod", "--skip-helm"),
        ("secret 'postgres_password'", "secrets.yaml", "character device"),
        secrets_file_is(link("secrets.yaml", "/dev/zero")),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_special_file_is_one_line(case: Case, repo: Layout, tmp_path: Path) -> None:
    env = {"KUBECONFIG": str(tmp_path / "absent"), **(case.setup(repo, tmp_path) or {})}
    result = Runner(repo.root)(*case.argv, env=env, guard=120)
    held(result, case.argv[0], case.parts)


def test_every_reader_is_covered() -> None:
    tasks = {c.argv[0] for c in CASES}
    assert {"lint", "render", "runbook.show", "rehearse", "apply", "rollout", "plan"} <= tasks
