"""``images.pinned``: every container of the stack's pods runs the image the environment pins.

Rule: pure (probes and verdicts); the observation is declared: the pods, read from the
Kubernetes API by ``akops.verify.observe`` (which reads them for ``invoke plan`` too). The
comparison is ``akops.images.running``'s, the one ``invoke plan`` shows as drift: a pod's ``containerStatuses[].imageID`` against the pinned digest (or, for
an image pinned by tag only, its ``image`` against the tag, and the row says so).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from akops.verify.check import Check, Observation, Probe, Role, Subject
from akops.verify.results import Outcome, failed, passed, skipped

if TYPE_CHECKING:  # imported when a run plans or judges: the environment model is heavy
    from akops.environment import Environment
    from akops.images.pins import StackImage
    from akops.images.running import ContainerVerdict

SHOWN = 3


def pinned_verdict(verdicts: Sequence[ContainerVerdict], pods: int, selector: str) -> Outcome:
    """Pass when every judged container runs its pin; fail naming the ones that do not."""
    if not verdicts:
        return skipped(f"no started container of the stack in pods matching {selector}")
    bad = [v for v in verdicts if not v.ok]
    if bad:
        shown = "; ".join(v.describe() for v in bad[:SHOWN])
        more = f" (+{len(bad) - SHOWN} more)" if len(bad) > SHOWN else ""
        return failed(f"{len(bad)} of {len(verdicts)} container(s) differ: {shown}{more}")
    pins = sorted({v.pinned.ref.digest or f"tag {v.pinned.ref.tag}" for v in verdicts})
    tag_only = any(not v.by_digest for v in verdicts)
    note = " (pinned by tag only: `invoke images.pin` pins the digest)" if tag_only else ""
    return passed(f"{len(verdicts)} container(s) in {pods} pod(s) run {', '.join(pins)}{note}")


def targets(env: Environment, roles: Mapping[str, Role]) -> list[tuple[str, dict[str, Any]]]:
    """Per pinned role: its row's name and what judging its pods needs."""
    from akops.images.pins import stack_images
    from akops.images.running import role_expectations

    images = stack_images(env)
    wanted = role_expectations(images, {role: r.container for role, r in roles.items()})
    out = []
    for role, expected in wanted.items():
        field = next(iter(expected.values())).name
        args = {
            "namespace": env.kube.namespace,
            "selector": roles[role].selector,
            "expected": expected,
            "images": images,
        }
        out.append((f"{role} pods ({field})", args))
    return out


def _probes(cid: str, s: Subject) -> list[Probe]:
    return [Probe(cid, row, "api", args=args) for row, args in targets(s.env, s.roles)]


def verdicts(
    pods: Sequence[Mapping[str, Any]], args: Mapping[str, Any]
) -> tuple[ContainerVerdict, ...]:
    """Each started container of ``pods`` against the pin (the one comparison of drift)."""
    from akops.images.running import compare_running, running_containers

    images: tuple[StackImage, ...] = args["images"]
    return compare_running(images, args["expected"], running_containers(pods))


def judge(pods: Sequence[Mapping[str, Any]], args: Mapping[str, Any]) -> Outcome:
    return pinned_verdict(verdicts(pods, args), len(pods), args["selector"])


def drifted(pods: Sequence[Mapping[str, Any]], args: Mapping[str, Any]) -> list[str]:
    """The containers of ``pods`` that run another image than the pin, one line each: what
    ``invoke plan`` shows as drift, from this check's own targets and comparison."""
    return [v.describe() for v in verdicts(pods, args) if not v.ok]


def _judge(pods: Sequence[Mapping[str, Any]], probe: Probe) -> Outcome:
    return judge(pods, probe.args)


CHECKS = (
    Check(
        "images.pinned",
        "every container of the stack's pods runs the image digest the environment pins",
        "cluster",
        probes=_probes,
        observe=Observation("pods", _judge),
        # Right after a deploy old pods still run the old pin until the rollout replaces them.
        converges=True,
    ),
)
