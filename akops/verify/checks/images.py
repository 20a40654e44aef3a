"""``images.pinned``: every container of the stack's pods runs the image the environment pins.

Rule: probes and verdicts pure; observation reads pods from the Kubernetes API
(``verify.observe``). The comparison is ``akops.images.running``'s, the one ``invoke plan``
shows as drift: a pod's ``containerStatuses[].imageID`` against the pinned digest (or, for
an image pinned by tag only, its ``image`` against the tag, and the row says so).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from akops.verify.check import Check, Probe, Role, Sources, Subject
from akops.verify.results import Outcome, failed, passed, skipped

if TYPE_CHECKING:  # imported when a run plans or judges: the environment model is heavy
    from kubernetes.client import ApiClient

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


def _targets(env: Environment, roles: Mapping[str, Role]) -> list[tuple[str, dict[str, Any]]]:
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
    return [Probe(cid, row, "api", args=args) for row, args in _targets(s.env, s.roles)]


def verdicts(
    pods: Sequence[Mapping[str, Any]], args: Mapping[str, Any]
) -> tuple[ContainerVerdict, ...]:
    """Each started container of ``pods`` against the pin (the one comparison of drift)."""
    from akops.images.running import compare_running, running_containers

    images: tuple[StackImage, ...] = args["images"]
    return compare_running(images, args["expected"], running_containers(pods))


def judge(pods: Sequence[Mapping[str, Any]], args: Mapping[str, Any]) -> Outcome:
    return pinned_verdict(verdicts(pods, args), len(pods), args["selector"])


# I/O (the integration tests prove it), not mutated: no unit test can reach it.
def _observe(probe: Probe, src: Sources) -> Outcome:  # pragma: no mutate block
    from akops.verify import observe

    return judge(observe.pods(src.api, probe.args["namespace"], probe.args["selector"]), probe.args)


# I/O (the integration tests prove it), not mutated: no unit test can reach it.
def drift(api: ApiClient, env: Environment) -> tuple[str, ...]:  # pragma: no mutate block
    """Containers of the stack's pods that run another image than ``env`` pins, one line
    each: what ``invoke plan`` shows, from this check's own targets and comparison."""
    from akops.verify import observe
    from akops.verify.probes import roles

    found: list[str] = []
    for _, args in _targets(env, roles(env)):
        pods = observe.pods(api, args["namespace"], args["selector"])
        found += [v.describe() for v in verdicts(pods, args) if not v.ok]
    return tuple(found)


CHECKS = (
    Check(
        "images.pinned",
        "every container of the stack's pods runs the image digest the environment pins",
        "cluster",
        probes=_probes,
        observe=_observe,
        # Right after a deploy old pods still run the old pin until the rollout replaces them.
        converges=True,
    ),
)
