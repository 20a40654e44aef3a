"""The Authentik Helm release, through the ``helm`` program.

Rule: I/O (subprocess, through ``akops.process``: its own process group, killed with it
on timeout or interrupt). Every call has a timeout, targets the environment's kube
context explicitly (``--kube-context``) and namespace, and turns a missing program
into ``ToolMissingError`` naming what to install. Values go to helm as a temporary
file that is removed afterwards; helm's own output is masked before it is shown.

Helm neither waits nor rolls back by itself (no ``--wait``, no ``--atomic``): a
crash-looping server would burn the whole timeout with nothing shown, and ``--atomic``
would then roll the image back after the new version's database migration may have
run — the chart/image split behind the 2026-06-10 boot storm. The caller watches the
release's Deployments instead (``akops.cluster.rollout``), failing fast with events
and logs, and leaves the decision to roll back to the operator. ``--timeout`` still
bounds the chart's hooks.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from akops import process
from akops.cluster.connect import IN_CLUSTER
from akops.environment import Environment
from akops.errors import ClusterError, InputError, ProcessTimeout, ToolMissingError
from akops.secrets import Secrets
from akops.tools.helm import HELM_HINT, find_helm

#: The way around a missing helm for the tasks that have it (plan, apply, deploy, rollback).
SKIP_HELM = "or pass --skip-helm to leave the Helm release alone"


def helm_program(*, skip_flag: bool = True) -> str:
    """The helm to run (on PATH, else akops' cached one), or a ToolMissingError saying what to do.

    ``skip_flag``: whether the calling task has ``--skip-helm`` (its message names it only then).
    """
    found = find_helm()
    if not found:
        hint = f"{HELM_HINT}; {SKIP_HELM}" if skip_flag else HELM_HINT
        raise ToolMissingError(f"helm is not on PATH nor in akops' cache: {hint}")
    return found


@dataclass(frozen=True)
class Helm:
    """helm bound to one environment's release, namespace and kube context."""

    env: Environment
    context: str
    secrets: Secrets = field(default_factory=Secrets)

    @property
    def release(self) -> str:
        return self.env.authentik.chart.release

    @property
    def namespace(self) -> str:
        return self.env.kube.namespace

    def run(self, args: Sequence[str], *, timeout: float) -> str:
        argv = [helm_program(), *args, "--namespace", self.namespace]
        if self.context != IN_CLUSTER:
            argv += ["--kube-context", self.context]
        what = f"helm {args[0]}"
        try:
            done = process.run(argv, timeout=timeout, mask=self.secrets.mask)
        except ProcessTimeout as e:
            raise ClusterError(f"{what} {self.release}: no answer within {timeout:g}s") from e
        except ToolMissingError as e:
            raise ToolMissingError(f"{what}: cannot run {argv[0]}; {HELM_HINT}; {SKIP_HELM}") from e
        if done.returncode != 0:
            lines = [ln.strip() for ln in (done.stderr or done.stdout).splitlines() if ln.strip()]
            reason = lines[-1] if lines else f"exit status {done.returncode}"
            raise ClusterError(f"{what} {self.release} failed: {reason}")
        return done.stdout

    def live(self) -> tuple[dict[str, Any] | None, str | None]:
        """(user-supplied values, chart version) of the live release; (None, None) if absent."""
        timeout = self.env.kube.api_timeout * 3
        listed = json.loads(
            self.run(["list", "--filter", f"^{self.release}$", "-o", "json"], timeout=timeout)
            or "[]"
        )
        if not listed:
            return None, None
        chart = str(listed[0].get("chart", ""))
        prefix = f"{self.env.authentik.chart.name}-"
        version = chart[len(prefix) :] if chart.startswith(prefix) else chart
        values = json.loads(
            self.run(["get", "values", self.release, "-o", "json"], timeout=timeout) or "null"
        )
        return (values if isinstance(values, dict) else {}), version

    def revision(self) -> int | None:
        """The live release's revision (None: no release)."""
        timeout = self.env.kube.api_timeout * 3
        listed = json.loads(
            self.run(["list", "--filter", f"^{self.release}$", "-o", "json"], timeout=timeout)
            or "[]"
        )
        raw = listed[0].get("revision") if listed and isinstance(listed[0], dict) else None
        try:
            return int(raw) if raw is not None else None
        except (TypeError, ValueError):
            return None

    def upgrade(self, values_text: str) -> str:
        """``helm upgrade --install`` with the rendered values and the pinned chart version.

        Returns once helm has sent the objects; the rollout is the caller's to watch.
        """
        chart = self.env.authentik.chart
        timeout = self.env.kube.rollout_timeout
        with tempfile.TemporaryDirectory(prefix="akops-helm-") as tmp:
            path = os.path.join(tmp, "values.yaml")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(self.secrets.inject(values_text))
            return self.run(
                [
                    "upgrade",
                    "--install",
                    self.release,
                    chart.name,
                    "--repo",
                    chart.repo,
                    "--version",
                    chart.version,
                    "--values",
                    path,
                    "--timeout",
                    f"{int(timeout)}s",
                ],
                timeout=timeout + 30,
            )

    def history(self) -> list[dict[str, Any]]:
        out = self.run(
            ["history", self.release, "--max", "10", "-o", "json"],
            timeout=self.env.kube.api_timeout * 3,
        )
        doc = json.loads(out or "[]")
        return [d for d in doc if isinstance(d, dict)] if isinstance(doc, list) else []

    def rollback(self) -> str:
        """Roll the release back to its previous revision; the rollout is the caller's to watch."""
        timeout = self.env.kube.rollout_timeout
        return self.run(
            ["rollback", self.release, "--timeout", f"{int(timeout)}s"], timeout=timeout + 30
        )


def rendered_values(text: str, source: str = "authentik-values.yaml") -> Mapping[str, Any]:
    """The rendered Helm values as a mapping (comments dropped)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise InputError(f"{source}: invalid YAML: {e}") from e
    return data if isinstance(data, dict) else {}
