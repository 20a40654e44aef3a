"""Running the checks' shell commands on testinfra hosts, through the process helper.

Rule: I/O. testinfra's backends (``local://``, ``kubectl://POD?namespace=…&container=…``)
parse the host spec and keep what they know (pod, namespace, container, context,
kubeconfig, sudo); the command line they stand for is run by ``akops.process`` instead
of their own ``run_local``, which waits forever. So every exec has the check's timeout,
and a hung ``kubectl exec`` is stopped with its whole process group (TERM, grace, KILL)
on timeout and on interrupt or termination of the run (``process.signal_guard``).
"""

from __future__ import annotations

from dataclasses import dataclass

import testinfra.backend
from testinfra.backend.base import BaseBackend
from testinfra.backend.kubectl import KubectlBackend
from testinfra.backend.local import LocalBackend

from akops import process
from akops.errors import ExecTimeout, InputError, ProcessTimeout
from akops.verify.commands import ExecResult


@dataclass(frozen=True)
class ExecHost:
    """Where a check's commands run: a testinfra backend, every command bounded by ``timeout``."""

    backend: BaseBackend
    timeout: float

    def argv(self, command: str) -> list[str]:
        """The backend's command line for an already-quoted shell ``command``, as an argv."""
        inner = self.backend.get_command(command)  # testinfra's own wrapping (sudo)
        b = self.backend
        if isinstance(b, KubectlBackend):
            argv = ["kubectl"]
            for flag, value in (
                ("--kubeconfig", b.kubeconfig),
                ("--context", b.context),
                ("-n", b.namespace),
                ("-c", b.container),
            ):
                if value is not None:
                    argv += [flag, value]
            return [*argv, "exec", b.name, "--", "/bin/sh", "-c", inner]
        if isinstance(b, LocalBackend):
            return ["/bin/sh", "-c", inner]
        raise InputError(f"{b.NAME}://: unsupported host for checks (use local:// or kubectl://)")

    def run(self, command: str) -> ExecResult:
        """Run an already-quoted shell command; raises ``ExecTimeout`` (group killed)."""
        try:
            done = process.run(self.argv(command), timeout=self.timeout)
        except ProcessTimeout as e:
            raise ExecTimeout(f"no answer within {self.timeout:g}s (command killed)") from e
        return ExecResult(done.returncode, done.stdout, done.stderr)


def exec_host(spec: str, timeout: float) -> ExecHost:
    """The host of a testinfra ``spec`` (``local://``, ``kubectl://…``) with a command timeout."""
    name, kw = testinfra.backend.parse_hostspec(spec)
    kw.setdefault("connection", "local")
    klass = testinfra.backend.get_backend_class(kw["connection"])
    backend = klass(**kw) if kw["connection"] == "local" else klass(name, **kw)
    return ExecHost(backend, timeout)
