"""``shm.usage``: /dev/shm under the threshold in the outpost and server pods (2026-04-18).

Rule: pure. An exec check: ``df -P`` in each pod (batched by the runner), then the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass

from akops.verify.check import Check, Probe, Shell, Subject, last_line
from akops.verify.commands import ExecResult, sh
from akops.verify.results import Outcome, errored, failed, passed


def df(path: str) -> str:
    return sh("df -P %s", path)


@dataclass(frozen=True)
class DiskUsage:
    filesystem: str
    size_kib: int
    used_kib: int
    available_kib: int
    percent: int
    mount: str


def parse_df(text: str) -> DiskUsage:
    """The data line of ``df -P`` (GNU or busybox). ``ValueError`` when there is none."""
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 6 and fields[4].endswith("%") and fields[1].isdigit():
            return DiskUsage(
                filesystem=fields[0],
                size_kib=int(fields[1]),
                used_kib=int(fields[2]),
                available_kib=int(fields[3]),
                percent=int(fields[4].rstrip("%")),
                mount=" ".join(fields[5:]),
            )
    raise ValueError("no data line in df -P output")


def human(kib: int) -> str:
    size = float(kib)
    for unit in ("KiB", "MiB", "GiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "KiB" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def usage(result: ExecResult, path: str, threshold: int) -> Outcome:
    """Used % of ``path`` must be under ``threshold`` (the 2026-04-18 outage: 64 MB full)."""
    if result.rc != 0:
        return errored(f"df -P {path} failed (exit {result.rc}): {last_line(result.output)}")
    try:
        found = parse_df(result.stdout)
    except ValueError:
        return errored(f"df -P {path}: unreadable output: {last_line(result.output)}")
    figure = f"{found.percent}% used ({human(found.used_kib)} of {human(found.size_kib)})"
    if found.percent >= threshold:
        where = "" if found.mount == path else f" on {found.mount}"
        return failed(f"{figure} >= threshold {threshold}%{where}")
    return passed(f"{figure} < {threshold}%")


def _probes(cid: str, s: Subject) -> list[Probe]:
    args = {"path": s.shm, "threshold": s.env.verify.shm_threshold}
    return s.exec_probes(cid, ("outpost", "server"), lambda pod: f"{pod}:{s.shm}", args)


CHECKS = (
    Check(
        "shm.usage",
        "/dev/shm used % is under the threshold in outpost and server pods",
        "any",
        probes=_probes,
        shell=Shell(lambda a, t: df(a["path"]), lambda r, a: usage(r, a["path"], a["threshold"])),
        roles=("outpost", "server"),
    ),
)
