"""Connecting to the cluster an environment names, and nowhere else.

Rule: I/O. ``connect`` builds a ``kubernetes.client.ApiClient`` from the kubeconfig
(``KUBECONFIG`` or ``~/.kube/config``) or, when the environment says ``in-cluster``,
from the pod's service account. It refuses (``ClusterError``, exit 2) when the
current context is not the environment's ``kube.context``, unless the caller names a
context explicitly (``--context``).

Every request made through the returned client is bounded by ``env.kube.api_timeout``
seconds *in total*, retries included: 429, 500, 502, 503, 504 and connection failures
(refused, reset, dropped) are retried with exponential backoff (honouring
``Retry-After``) up to ``ATTEMPTS`` attempts, but never past that deadline. urllib3's
own ``Retry`` is switched off because it cannot keep such a total deadline; a caller
that streams (a watch) passes its own ``_request_timeout``, which then bounds the
call instead.
"""

from __future__ import annotations

import functools
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from akops.environment import Environment
from akops.errors import ClusterError, InputError
from akops.kubeconfig import check_kubeconfig
from akops.yamldoc import read_text

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

#: ``kube.context`` (or ``--context``) value meaning "the pod's service account".
IN_CLUSTER = "in-cluster"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
ATTEMPTS = 5
BACKOFF = 0.2  # seconds before the 2nd attempt; doubles each time
MAX_BACKOFF = 2.0


def kubeconfig_paths() -> list[Path]:
    """The kubeconfig files the client reads, in merge order (``KUBECONFIG`` wins)."""
    raw = os.environ.get("KUBECONFIG") or "~/.kube/config"
    return [Path(p).expanduser() for p in raw.split(os.pathsep) if p]


def _budget(request_timeout: Any, default: float) -> float:
    if isinstance(request_timeout, int | float) and request_timeout > 0:
        return float(request_timeout)
    if isinstance(request_timeout, tuple) and len(request_timeout) == 2:
        return float(sum(t for t in request_timeout if t))
    return default


def _retry_after(headers: Any) -> float | None:
    try:
        value = headers.get("Retry-After") if headers is not None else None
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


@functools.cache
def _client_class() -> type[ApiClient]:
    """Build the subclass lazily: importing ``kubernetes`` costs ~0.5 s."""
    import urllib3
    from kubernetes.client import ApiClient
    from kubernetes.client.exceptions import ApiException

    retryable = (
        urllib3.exceptions.NewConnectionError,
        urllib3.exceptions.ProtocolError,  # connection reset / remote closed
        urllib3.exceptions.ConnectTimeoutError,
        urllib3.exceptions.MaxRetryError,
    )

    class BoundedApiClient(ApiClient):
        """An ApiClient whose every call has a total deadline and bounded retries."""

        api_timeout: float = 10.0
        attempts: int = ATTEMPTS

        def call_api(
            self,
            method: str,
            url: str,
            header_params: Any = None,
            body: Any = None,
            post_params: Any = None,
            _request_timeout: Any = None,
        ) -> Any:
            budget = _budget(_request_timeout, self.api_timeout)
            deadline = time.monotonic() + budget
            streaming = _request_timeout is not None
            delay = BACKOFF
            attempt = 0
            while True:
                attempt += 1
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ClusterError(
                        f"Kubernetes API at {self.configuration.host} did not answer "
                        f"{method} {_path(url)} within {budget:g}s"
                    )
                timeout = _request_timeout if streaming else remaining
                try:
                    response = super().call_api(
                        method, url, header_params, body, post_params, _request_timeout=timeout
                    )
                except retryable as e:
                    wait = min(delay, MAX_BACKOFF)
                    if attempt >= self.attempts or time.monotonic() + wait >= deadline:
                        raise ClusterError(
                            f"cannot reach the Kubernetes API at {self.configuration.host} "
                            f"({_reason(e)}; {attempt} attempt(s) in {budget:g}s)"
                        ) from e
                    time.sleep(wait)
                    delay *= 2
                    continue
                except urllib3.exceptions.TimeoutError as e:
                    raise ClusterError(
                        f"Kubernetes API at {self.configuration.host} did not answer "
                        f"{method} {_path(url)} within {budget:g}s"
                    ) from e
                except ApiException as e:
                    # The REST layer reports TLS failures as status 0; anything else is a
                    # real answer and belongs to the caller.
                    if e.status:
                        raise
                    raise ClusterError(
                        f"cannot talk to the Kubernetes API at {self.configuration.host}: "
                        f"{_one_line(BaseException(e.reason))}"
                    ) from e
                if response.status not in RETRY_STATUSES or attempt >= self.attempts:
                    return response
                asked = _retry_after(response.headers)
                wait = min(delay if asked is None else asked, MAX_BACKOFF)
                if time.monotonic() + wait >= deadline:
                    return response
                response.read()  # type: ignore[no-untyped-call]  # drain so the connection goes back to the pool
                time.sleep(wait)
                delay *= 2

    return BoundedApiClient


def _path(url: str) -> str:
    rest = url.split("://", 1)[-1]
    return "/" + rest.split("/", 1)[1].split("?", 1)[0] if "/" in rest else url


def _reason(e: BaseException) -> str:
    inner = getattr(e, "reason", None) or e
    text = str(inner)
    # urllib3 formats as "<object at 0x..>: Failed to establish ... [Errno 111] Connection refused"
    if "] " in text:
        text = text.rsplit("] ", 1)[1]
    return " ".join(text.split()) or type(inner).__name__


def _shown(paths: list[Path]) -> str:
    return os.pathsep.join(str(p) for p in paths)


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


def connect(env: Environment, context: str | None = None) -> ApiClient:
    """An API client for ``env``'s cluster; refuses a context the environment does not name.

    ``context`` (from ``--context``) selects a kubeconfig context explicitly and skips the
    current-context check; ``"in-cluster"`` uses the pod's service account.
    """
    from kubernetes import client, config

    wanted = context or env.kube.context
    cfg = client.Configuration()
    if wanted == IN_CLUSTER:
        try:
            config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
        except config.ConfigException as e:
            raise ClusterError(f"in-cluster configuration unavailable: {_one_line(e)}") from e
    else:
        paths = kubeconfig_paths()
        existing = [p for p in paths if p.exists() or p.is_symlink()]
        if not existing:
            raise ClusterError(
                f"no kubeconfig at {_shown(paths)}; set KUBECONFIG to the file for "
                f"context {wanted!r}"
            )
        for path in existing:
            try:
                text = read_text(path)
            except InputError as e:
                raise ClusterError(f"kubeconfig {e}") from e
            try:
                check_kubeconfig(text, f"kubeconfig {path}")
            except InputError as e:
                raise ClusterError(str(e)) from e
        try:
            contexts, active = config.list_kube_config_contexts(_shown(existing))  # type: ignore[no-untyped-call]
        except (config.ConfigException, OSError, ValueError, TypeError) as e:
            raise ClusterError(f"kubeconfig {_shown(existing)}: {_one_line(e)}") from e
        names = sorted(str(c["name"]) for c in contexts or [])
        active_name = str(active["name"]) if active else None
        if context is None and active_name != env.kube.context:
            raise ClusterError(
                f"current kube context is {active_name!r} but environment {env.name!r} runs "
                f"against {env.kube.context!r}; switch with `kubectl config use-context "
                f"{env.kube.context}` or pass --context {env.kube.context}"
            )
        if wanted not in names:
            raise ClusterError(
                f"kube context {wanted!r} is not in {_shown(existing)} "
                f"(known: {', '.join(names) or 'none'})"
            )
        try:
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=_shown(existing),
                context=wanted,
                client_configuration=cfg,
                persist_config=False,
            )
        except (config.ConfigException, OSError, ValueError, TypeError) as e:
            raise ClusterError(f"kube context {wanted!r}: {_one_line(e)}") from e
    # The deadline-bounded retries in BoundedApiClient replace urllib3's (see module doc).
    cfg.retries = False
    api = _client_class()(configuration=cfg)
    api.api_timeout = env.kube.api_timeout  # type: ignore[attr-defined]
    return api
