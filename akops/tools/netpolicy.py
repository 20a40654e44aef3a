"""np-guard's netpol-analyzer (``k8snetpolicy list``): the connectivity table as the real
analyser computes it from the same objects ``akops.lint.reach`` reads.

Rule: I/O (a temporary folder of YAML, one child process under a timeout). The analyser
answers per pair of peers with the connections allowed (``TCP 6432``, ``SCTP 1-65535,TCP
100-200,8080``, ``All Connections``), and names outside addresses by the ranges its
ipBlocks cut the address space into; both are read back here into ``reach.Row`` values
for the connections asked about, so the two tables compare row for row.
"""

from __future__ import annotations

import ipaddress
import json
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from akops import process
from akops.errors import ProcessTimeout, ToolMissingError
from akops.lint.reach import Address, Connection, Endpoint, Peer, Row
from akops.tools.gobuild import ensure_go_program
from akops.tools.programs import PROGRAMS

PROGRAM = PROGRAMS["k8snetpolicy"]
TIMEOUT = 60.0


@dataclass(frozen=True)
class Allowed:
    """What the analyser allows between two of its peers: per protocol, port ranges."""

    everything: bool
    ranges: Mapping[str, tuple[tuple[int, int], ...]]

    def admits(self, conn: Connection) -> bool:
        return self.everything or any(
            lo <= conn.port <= hi for lo, hi in self.ranges.get(conn.protocol, ())
        )


def parse_connections(text: str) -> Allowed:
    """``All Connections``, ``No Connections`` or ``TCP 53,UDP 53`` / ``TCP 100-200,8080``."""
    text = text.strip()
    if text == "All Connections":
        return Allowed(True, {})
    ranges: dict[str, list[tuple[int, int]]] = {}
    proto = ""
    for token in (t.strip() for t in text.split(",") if t.strip()):
        head, _, rest = token.partition(" ")
        if head.isalpha():
            if head == "No":
                return Allowed(False, {})
            proto, token = head.upper(), rest
        lo, _, hi = token.partition("-")
        ranges.setdefault(proto, []).append((int(lo), int(hi or lo)))
    return Allowed(False, {p: tuple(r) for p, r in ranges.items()})


def _matches(name: str, peer: Peer) -> bool:
    """Does the analyser's peer ``name`` denote ``peer``?"""
    if isinstance(peer, Endpoint):
        return name.split("[", 1)[0] == peer.key
    lo, sep, hi = name.partition("-")
    try:
        ip = int(ipaddress.ip_address(peer.ip))
        if sep:
            first, last = ipaddress.ip_address(lo), ipaddress.ip_address(hi)
            same = first.version == last.version == ipaddress.ip_address(peer.ip).version
            return same and int(first) <= ip <= int(last)
        net = ipaddress.ip_network(name, strict=False)
        return ipaddress.ip_address(peer.ip) in net
    except ValueError:
        return False


def table(
    results: Iterable[Mapping[str, Any]],
    peers: Sequence[Peer],
    connections: Iterable[Connection],
) -> frozenset[Row]:
    """The analyser's JSON (``list -o json``) as rows over ``peers`` and ``connections``."""
    conns = list(connections)
    rows: set[Row] = set()
    for item in results:
        allowed = parse_connections(str(item["conn"]))
        for src in (p for p in peers if _matches(str(item["src"]), p)):
            for dst in (p for p in peers if _matches(str(item["dst"]), p)):
                if src is dst or (isinstance(src, Address) and isinstance(dst, Address)):
                    continue
                rows.update(Row(src.key, dst.key, str(c)) for c in conns if allowed.admits(c))
    return frozenset(rows)


def analyse(
    objects: Sequence[Mapping[str, Any]],
    peers: Sequence[Peer],
    connections: Iterable[Connection],
    *,
    binary: Path | None = None,
    timeout: float = TIMEOUT,
) -> frozenset[Row]:
    """The rows np-guard allows among ``peers`` for ``connections``, from ``objects``
    (Namespaces, Pods, NetworkPolicies). Addresses in ``peers`` are asked about by range."""
    exe = binary or ensure_go_program(PROGRAM)
    with tempfile.TemporaryDirectory(prefix="akops-netpol-") as tmp:
        (Path(tmp) / "objects.yaml").write_text(
            yaml.safe_dump_all([dict(o) for o in objects], sort_keys=False), encoding="utf-8"
        )
        # Not --fail: in v1.4.2 it fails every run ("Error getting resourceInfos: <nil>").
        argv = [str(exe), "list", "--dirpath", tmp, "--output", "json", "--quiet"]
        try:
            done = process.run(argv, timeout=timeout)
        except ProcessTimeout as e:
            raise ToolMissingError(f"k8snetpolicy list: {e}") from e
    if not done.ok:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ToolMissingError(f"k8snetpolicy list failed: {tail[0]}")
    try:
        results = json.loads(done.stdout or "[]")
    except json.JSONDecodeError as e:
        raise ToolMissingError(f"k8snetpolicy list: not JSON: {done.stdout[:200]!r}") from e
    if isinstance(results, dict):  # with --exposure the list is one key of an object
        results = results.get("connlist_results", [])
    return table(results, peers, connections)
