"""Running commands through testinfra hosts, each exec bounded by a timeout.

Rule: I/O. testinfra's backends (``local://``, ``kubectl://POD?namespace=…&container=…``)
build the command line and ``akops.process`` runs it: their ``run_local`` waits forever, and
a hung ``kubectl exec`` must not hang a verify run nor outlive it, so hosts made here kill the
whole process group when the timeout passes (``ExecTimeout``) or the task is interrupted.
"""

from __future__ import annotations

import functools
from typing import Any

import testinfra.backend
import testinfra.host
from testinfra.backend.base import BaseBackend, CommandResult

from akops import process
from akops.errors import ExecTimeout, ProcessTimeout
from akops.verify.commands import ExecResult


class _Timed:
    """Mixin over a testinfra backend: ``run_local`` through ``akops.process`` (own process group,
    killed on timeout and when the task is interrupted, terminated or hung up)."""

    timeout: float

    def run_local(self, command: str, *args: str) -> CommandResult:
        backend: Any = self
        cmd = BaseBackend.quote(command, *args)
        try:
            done = process.shell(cmd, timeout=self.timeout)
        except ProcessTimeout:
            raise ExecTimeout(f"no answer within {self.timeout:g}s (command killed)") from None
        result: CommandResult = backend.result(
            done.returncode, backend.encode(cmd), done.stdout.encode(), done.stderr.encode()
        )
        return result


@functools.cache
def _timed_class(base: type[BaseBackend]) -> type[BaseBackend]:
    return type(f"Timed{base.__name__}", (_Timed, base), {})


def timed_host(spec: str, timeout: float) -> testinfra.host.Host:
    """A fresh (uncached) testinfra host for ``spec`` whose every command has ``timeout``."""
    name, kw = testinfra.backend.parse_hostspec(spec)
    kw.setdefault("connection", "local")
    klass = _timed_class(testinfra.backend.get_backend_class(kw["connection"]))
    backend = klass(**kw) if kw["connection"] == "local" else klass(name, **kw)
    backend.timeout = timeout
    host = testinfra.host.Host(backend)
    backend.set_host(host)
    return host


def run(host: testinfra.host.Host, command: str) -> ExecResult:
    """Run an already-quoted shell command; raises ``ExecTimeout``."""
    out = host.run(command)
    return ExecResult(out.rc, out.stdout, out.stderr)
