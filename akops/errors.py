"""The project's one error hierarchy.

Rule: library code raises these (wrapping third-party errors with ``raise … from e``);
only entry points (tasks.py, noxfile.py, checks/) turn them into exit codes, using
``exit_code`` as the suggestion. Messages are one line and never contain secrets.
"""

from __future__ import annotations

import re
import signal
from dataclasses import dataclass


@dataclass(frozen=True)
class ExitStatus:
    """One row of the exit-code contract every task, runbook step and nox session keeps."""

    code: str
    meaning: str
    examples: str


#: The exit-code contract, written once: the docs' reference table is generated from it and
#: the tests hold every task's ``--help`` to it.
EXIT_STATUSES: tuple[ExitStatus, ...] = (
    ExitStatus(
        "0",
        "success",
        "rendered, lint clean (warnings allowed), a plan computed (with or without changes), "
        "applied and converged, every check passed",
    ),
    ExitStatus(
        "1",
        "ran and failed",
        "drift (`render --check`), lint errors, a failed check, the API refused a change "
        "(invalid object, 409 conflict), a declined prompt, a rollout that failed or timed out, "
        "a runbook step that failed, a moved image digest",
    ),
    ExitStatus(
        "2",
        "could not run",
        "bad input (a file, line, field or flag named in one line), no `--env`, unknown "
        "environment, wrong kube context, broken kubeconfig, unreachable API server, missing "
        "tool, a question with no terminal and no `--answer`/`--yes`",
    ),
    ExitStatus(
        "128 + n",
        "interrupted by signal n",
        "130 Ctrl-C (SIGINT), 143 SIGTERM, 129 SIGHUP: every child process group was stopped first",
    ),
)


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with every control character (C0, DEL, C1) written as an escape (``\\x1b``):
    a value from a flag, a file or another writer never drives the operator's terminal."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


class AkopsError(Exception):
    """Base of every error this project raises on purpose."""

    #: 2 means "could not run" (bad input, unreachable dependency); 1 means "ran and failed".
    exit_code: int = 2

    def __str__(self) -> str:
        # One line, always: operators read these at 3 a.m. in a terminal. Whatever a message
        # quotes (a flag's value, a file's line, a peer's answer) arrives escaped.
        return printable(" ".join(super().__str__().split()))


class InputError(AkopsError):
    """Bad input from the operator: a file, a flag, a field."""


class YAMLSyntaxError(InputError):
    """A text is not valid YAML; ``line`` (1-based, when known) and ``problem`` say where and why."""

    def __init__(
        self, message: str, line: int | None = None, problem: str = "", column: int | None = None
    ) -> None:
        super().__init__(message)
        self.line = line
        self.problem = problem
        self.column = column


class EnvironmentConfigError(InputError):
    """An environment file is missing, malformed or fails its schema."""


class TemplateRenderError(InputError):
    """A template failed to parse or referenced an undefined variable."""


class SecretError(InputError):
    """A secret could not be resolved from the source the environment names."""


class RunbookError(InputError):
    """A runbook is missing, malformed, fails its schema or names an unknown input."""


class ScenarioError(InputError):
    """A rehearsal scenario file is missing, malformed or fails its schema (exit 2)."""


class NoAnswer(InputError):
    """A question needs an answer and nobody can give one: no terminal, no --answer, no --yes."""


class ClusterError(AkopsError):
    """The Kubernetes API could not be reached or refused a request."""


class RecordError(ClusterError):
    """A record another writer left in the cluster (the deploy Lease) has a field of the wrong
    type or range: named, never guessed at."""


class RejectedError(ClusterError):
    """The API answered and refused the change (invalid object, conflict): it ran and failed."""

    exit_code = 1


class ConflictError(RejectedError):
    """Server-side apply hit fields owned by another field manager (HTTP 409).

    ``what``: the conflict alone; the message adds what to do about it, which depends on
    the task (only some have ``--force-conflicts``).
    """

    def __init__(self, what: str, advice: str) -> None:
        self.what = what
        super().__init__(f"{what}; {advice}")


class NotFound(ClusterError):
    """The object (or its collection) does not exist. Callers usually expect this."""


class QueryError(AkopsError):
    """A query through PgBouncer failed (connect, auth, permission, timeout)."""

    exit_code = 1


class CallTimeout(AkopsError):
    """A bounded call (``akops.verify.bound``) did not return within its timeout."""

    exit_code = 1


class ControlPlaneError(AkopsError):
    """The local control plane (``akops.launch``) could not be started, found or stopped."""


class ToolMissingError(AkopsError):
    """An external program the step needs is not installed."""


class StepFailed(AkopsError):
    """A step ran and its outcome is a failure (drift, lint errors, failed checks)."""

    exit_code = 1


class RolloutFailed(StepFailed):
    """A rollout did not converge: a pod failed for good, or the deadline passed."""


class ProcessTimeout(StepFailed):
    """A child process did not finish within its timeout; its process group was killed."""


class ExecTimeout(ProcessTimeout):
    """A check's command (``kubectl exec`` or local) did not finish within its timeout."""


class Interrupted(KeyboardInterrupt):
    """SIGINT, SIGTERM or SIGHUP reached an entry point (see ``akops.process.signal_guard``).

    A ``KeyboardInterrupt`` so that every ``except KeyboardInterrupt`` treats a hangup or a
    termination like Ctrl-C; ``exit_code`` follows the shell's 128 + signal number.
    """

    def __init__(self, signum: int = signal.SIGINT) -> None:
        self.signum = int(signum)
        self.name = signal.Signals(self.signum).name
        self.exit_code = 128 + self.signum
        super().__init__(self.name)


class NetworkError(AkopsError):
    """A peer could not be reached, did not answer in time, or answered too much (``akops.network``).

    ``reason`` is the one-line why ("no answer within 5s"); edges wrap it in their own error.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RegistryError(AkopsError):
    """An image registry could not be reached, timed out, or does not know the image."""


class LockHeld(StepFailed):
    """Another run holds the deploy lock (the Lease in the stack's namespace): it ran and refused."""


class LockLost(StepFailed):
    """The deploy lock this run held was taken by another run (it was broken or expired)."""


class StalePlan(StepFailed):
    """A saved plan no longer describes what an apply would do: the world moved, or the file changed."""
