"""Sending the embedded outpost's ``kubernetes_json_patches`` to the Authentik API.

Rule: I/O (HTTP). Authentik owns the outpost's Kubernetes objects, so the /dev/shm
and memory fix goes in through its API: find the outpost by name, then
``PATCH /api/v3/outposts/instances/{uuid}/`` with its config where only
``kubernetes_json_patches`` is replaced. Every request has the environment's API
timeout; the token comes from the source the environment names and never appears
in output or errors.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from akops import network
from akops.environment import Environment
from akops.errors import ClusterError, InputError, NetworkError
from akops.secrets import Secrets


@dataclass(frozen=True)
class RenderedPatches:
    """The rendered outpost-patches.yaml."""

    outpost: str
    patches: dict[str, Any]


def parse_patches(text: str, source: str = "outpost-patches.yaml") -> RenderedPatches:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise InputError(f"{source}: invalid YAML: {e}") from e
    if not isinstance(doc, dict) or not isinstance(doc.get("kubernetes_json_patches"), dict):
        raise InputError(
            f"{source}: expected a mapping with 'outpost' and 'kubernetes_json_patches'"
        )
    return RenderedPatches(str(doc.get("outpost")), doc["kubernetes_json_patches"])


@dataclass(frozen=True)
class PatchOutcome:
    outpost: str
    uuid: str
    changed: bool

    def describe(self) -> str:
        state = "patched" if self.changed else "already up to date"
        return f"outpost {self.outpost} ({self.uuid}): kubernetes_json_patches {state}"


#: An outpost's config is a few kB; a list of outposts, a few hundred.
MAX_ANSWER = 8 * 1024 * 1024


class AuthentikApi:
    """A minimal Authentik API client: bearer token, JSON, one timeout for every request."""

    def __init__(self, base_url: str, token: str, timeout: float) -> None:
        self.base = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.secrets = Secrets({"authentik_token": token})

    def request(self, method: str, path: str, body: Any = None) -> Any:
        url = f"{self.base}{path}"
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        what = f"Authentik API {method} {path.split('?')[0]}"
        try:
            answer = network.request(
                url,
                method=method,
                headers=headers,
                body=data,
                timeouts=network.Timeouts.within(self.timeout),
                max_body=MAX_ANSWER,
            )
        except NetworkError as e:
            raise ClusterError(
                self.secrets.mask(f"{what}: cannot reach {self.base}: {e.reason}")
            ) from e
        if not 200 <= answer.status < 300:
            detail = answer.body[:200].decode("utf-8", "replace")
            raise ClusterError(
                self.secrets.mask(f"{what}: HTTP {answer.status} {' '.join(detail.split())}")
            )
        try:
            return json.loads(answer.body) if answer.body else None
        except ValueError as e:
            raise ClusterError(f"{what}: answer is not JSON") from e

    def find_outpost(self, name: str) -> Mapping[str, Any]:
        query = urllib.parse.urlencode({"name__iexact": name})
        doc = self.request("GET", f"/api/v3/outposts/instances/?{query}")
        results = doc.get("results") if isinstance(doc, dict) else None
        for item in results or []:
            if isinstance(item, dict) and item.get("name") == name:
                return item
        raise ClusterError(f"Authentik API: no outpost named {name!r} at {self.base}")


@dataclass(frozen=True)
class LiveOutpost:
    """The outpost as Authentik has it: its UUID and whole config."""

    name: str
    uuid: str
    config: dict[str, Any]

    @property
    def patches(self) -> Any:
        return self.config.get("kubernetes_json_patches")


def _api(env: Environment, token: str) -> AuthentikApi:
    api_cfg = env.authentik.outpost.api
    if not api_cfg.enabled or not api_cfg.url:
        raise InputError(
            f"environment {env.name!r}: authentik.outpost.api.enabled is false; "
            "apply the outpost patches by hand or enable the API there"
        )
    return AuthentikApi(api_cfg.url, token, env.kube.api_timeout)


def read_outpost(env: Environment, name: str, token: str) -> LiveOutpost:
    """The outpost ``name`` and its config, from the Authentik API."""
    outpost = _api(env, token).find_outpost(name)
    return LiveOutpost(name, str(outpost.get("pk")), dict(outpost.get("config") or {}))


def write_patches(
    env: Environment, live: LiveOutpost, patches: RenderedPatches, token: str
) -> None:
    """Replace only ``kubernetes_json_patches`` in the outpost's config (the rest is kept)."""
    config = {**live.config, "kubernetes_json_patches": patches.patches}
    _api(env, token).request(
        "PATCH", f"/api/v3/outposts/instances/{live.uuid}/", {"config": config}
    )


def patches_diff(live: LiveOutpost, patches: RenderedPatches) -> str:
    """A unified diff of the live and rendered ``kubernetes_json_patches`` ("" when equal).

    Pure. Both sides as sorted YAML, so the operator reads the patch operations, not JSON noise.
    """
    if live.patches == patches.patches:
        return ""
    import difflib

    def lines(value: Any) -> list[str]:
        if value is None:
            return []
        return yaml.safe_dump(value, sort_keys=True, default_flow_style=False).splitlines(True)

    label = f"outpost {live.name} kubernetes_json_patches"
    return "".join(
        difflib.unified_diff(
            lines(live.patches),
            lines(patches.patches),
            fromfile=f"{label} (Authentik)",
            tofile=f"{label} (rendered)",
        )
    )


def send_patches(
    env: Environment, patches: RenderedPatches, token: str, *, dry_run: bool = False
) -> PatchOutcome:
    """Replace the outpost's ``kubernetes_json_patches`` when they differ from the rendered ones."""
    live = read_outpost(env, patches.outpost, token)
    if live.patches == patches.patches:
        return PatchOutcome(patches.outpost, live.uuid, False)
    if not dry_run:
        write_patches(env, live, patches, token)
    return PatchOutcome(patches.outpost, live.uuid, True)
