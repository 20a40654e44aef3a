"""``http.*``: Authentik's endpoints, the outpost ping, forward auth on the protected services.

Rule: pure (probes and verdicts); the observation is declared: an HTTP answer, read by
``akops.verify.observe`` with one GET that never follows redirects (``verify.fetch``), or,
for the outpost ping on the cluster target without ``--outpost-url``, a GET through the
API server's service proxy.
"""

from __future__ import annotations

from collections.abc import Callable

from akops.verify.check import Answer, Check, Observation, Probe, Subject, skip
from akops.verify.results import Outcome, failed, passed

READY = "/-/health/ready/"
LIVE = "/-/health/live/"
CONFIG = "/api/v3/root/config/"
FLOW = "/api/v3/flows/executor/default-authentication-flow/?query="
PING = "/outpost.goauthentik.io/ping"
REDIRECTS = frozenset({301, 302, 303, 307, 308})


# --- verdicts ------------------------------------------------------------------------------


def health(answer: Answer, what: str) -> Outcome:
    """Health endpoints: any 2xx (older releases answer 204 where newer answer 200)."""
    if (bad := answer.unanswered()) is not None:
        return bad
    assert answer.status is not None
    if 200 <= answer.status < 300:
        return passed(answer.describe())
    if answer.status == 503 and what == "ready":
        return failed(
            f"{answer.describe()}: Authentik is not ready (database or cache unreachable)"
        )
    if 300 <= answer.status < 400:
        return failed(f"{answer.describe()}: redirected instead of answering 2xx")
    return failed(f"{answer.describe()}: expected 2xx")


def config(answer: Answer) -> Outcome:
    if (bad := answer.unanswered()) is not None:
        return bad
    if answer.status != 200:
        return failed(f"{answer.describe()}: expected 200")
    if '"capabilities"' not in answer.body:
        return failed('200 but the answer has no "capabilities": not the Authentik API?')
    return passed('200 with "capabilities"')


def flow(answer: Answer) -> Outcome:
    if (bad := answer.unanswered()) is not None:
        return bad
    if answer.status in (200, 302):
        return passed(answer.describe())
    return failed(f"{answer.describe()}: expected 200 or 302")


def outpost_ping(answer: Answer) -> Outcome:
    if (bad := answer.unanswered()) is not None:
        return bad
    if answer.status == 204:
        return passed(answer.describe())
    return failed(f"{answer.describe()}: expected 204")


def forward_auth(answer: Answer, auth_host: str) -> Outcome:
    """An anonymous request must be redirected to the Authentik host."""
    if (bad := answer.unanswered()) is not None:
        return bad
    assert answer.status is not None
    if answer.status in REDIRECTS and answer.location:
        target = answer.location_host
        if target.lower() == auth_host.lower():
            return passed(f"{answer.status} -> {auth_host}")
        return failed(f"{answer.status} redirects to {target or answer.location}, not {auth_host}")
    if 200 <= answer.status < 300:
        return failed(f"{answer.status} to an anonymous request: not behind forward auth")
    return failed(f"{answer.describe()}: expected a redirect to {auth_host}")


# --- probes and judges ------------------------------------------------------------------


def _shown(url: str) -> str:
    """A URL without its scheme, for the table (the JSON report keeps it whole)."""
    return url.split("://", 1)[-1]


def _endpoint_probes(cid: str, s: Subject, path: str) -> list[Probe]:
    url = s.base + path
    return [Probe(cid, _shown(url), "http", args={"url": url})]


# Runs at import, before mutmut picks a mutant: no test could see a mutant of it (the
# registry's tests pin what it builds).
def _endpoint(
    cid: str, path: str, judge: Callable[[Answer], Outcome], what: str
) -> Check:  # pragma: no mutate block
    return Check(
        cid,
        what,
        "any",
        probes=lambda cid, s: _endpoint_probes(cid, s, path),
        observe=Observation("answer", lambda answer, probe: judge(answer)),
        served=True,
    )


def _ping_probes(cid: str, s: Subject) -> list[Probe]:
    if s.outpost:
        url = s.outpost + PING
        return [Probe(cid, _shown(url), "http", args={"url": url})]
    svc = s.env.authentik.outpost.deployment
    args = {"namespace": s.namespace, "service": svc, "port": "http", "path": PING}
    return [Probe(cid, f"service/{svc}{PING}", "api", args=args)]


def _forward_auth_probes(cid: str, s: Subject) -> list[Probe]:
    if not s.protected:
        return [skip(cid, "(none)", "no protected services configured")]
    return [
        Probe(cid, url, "http", args={"url": url, "auth_host": s.auth_host}) for url in s.protected
    ]


def _judge_forward_auth(answer: Answer, probe: Probe) -> Outcome:
    return forward_auth(answer, probe.args["auth_host"])


CHECKS = (
    _endpoint(
        "http.ready",
        READY,
        lambda a: health(a, "ready"),
        "/-/health/ready/ answers 2xx (Authentik reaches its database)",
    ),
    _endpoint("http.live", LIVE, lambda a: health(a, "live"), "/-/health/live/ answers 2xx"),
    _endpoint(
        "http.config", CONFIG, config, '/api/v3/root/config/ answers JSON with "capabilities"'
    ),
    _endpoint("http.flow", FLOW, flow, "the default authentication flow answers 200 or 302"),
    Check(
        "http.outpost-ping",
        "the outpost ping answers 204",
        "any",
        probes=_ping_probes,
        observe=Observation("answer", lambda answer, probe: outpost_ping(answer)),
        uses_api=lambda options: not options.outpost_url,
        served=True,
    ),
    Check(
        "http.forward-auth",
        "each protected service redirects an anonymous request to the Authentik host",
        "any",
        probes=_forward_auth_probes,
        observe=Observation("answer", _judge_forward_auth),
        served=True,
    ),
)
