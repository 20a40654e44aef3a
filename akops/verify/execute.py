"""Running commands through testinfra hosts, each exec bounded by a timeout.

Rule: I/O. testinfra's backends (``local://``, ``kubectl://POD?namespace=…&container=…``)
build the command line and we run it: their ``run_local`` waits forever, and a hung
``kubectl exec`` must not hang a verify run, so hosts made here kill the whole process
group when the timeout passes and raise ``ExecTimeout``.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import subprocess
from typing import Any

import testinfra.backend
import testinfra.host
from testinfra.backend.base import BaseBackend, CommandResult

from akops.errors import ExecTimeout
from akops.verify.commands import ExecResult


class _Timed:
    """Mixin over a testinfra backend: ``run_local`` with a timeout and a process-group kill."""

    timeout: float

    def run_local(self, command: str, *args: str) -> CommandResult:
        backend: Any = self
        cmd = backend.encode(BaseBackend.quote(command, *args))
        proc = subprocess.Popen(
            cmd,
            shell=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # so the kill reaches kubectl and the shell's children
        )
        try:
            stdout, stderr = proc.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise ExecTimeout(f"no answer within {self.timeout:g}s (command killed)") from None
        result: CommandResult = backend.result(proc.returncode, cmd, stdout, stderr)
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
