"""A thin adapter over kmock's KubernetesEmulator: server-side apply and the rest we rely on.

kmock (by the author of kopf) serves a stateful Kubernetes API on 127.0.0.1: objects,
lists, watch streams, deletes, with every request recorded. What it lacks for this
project is added here, as close to the real API server as our code can observe:

- server-side apply (PATCH ``application/apply-patch+yaml``): creates missing objects
  (kmock answers 404), honours ``dryRun=All`` (kmock would store the change), keeps
  ``managedFields`` per field manager, answers 409 naming the other managers unless
  ``force=true``, removes fields a manager stopped applying, folds Secret
  ``stringData`` into ``data``, sets uid/resourceVersion/generation/creationTimestamp;
- label selectors on lists (kmock ignores them), pod logs, a Kyverno-like mutation that
  injects ``dnsConfig`` ``ndots``, and a tiny Deployment "controller" that marks a
  rollout converged;
- fault injection (status codes or dropped connections for the next N matching requests);
- ``coordination.k8s.io/v1`` Leases with the API server's optimistic concurrency: a
  create of an existing Lease and an update carrying a stale ``resourceVersion`` are
  refused with 409, as the deploy lock relies on.

akops never uses API discovery (paths come from ``akops.cluster.objects``), so kmock's
``/api/v1`` answer with a wrong ``groupVersion`` does not matter here.

The synchronous kubernetes client must not run in kmock's event loop, so ``Cluster``
runs the emulator in a background thread with its own loop.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import datetime
import json
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp.web
import kmock

Path = tuple[str, ...]
APPLY = "application/apply-patch+yaml"
IDENTITY = {("apiVersion",), ("kind",), ("metadata", "name"), ("metadata", "namespace")}
NAMESPACE_PATH = re.compile(r"/api/v1/namespaces/([^/]+)")
LEASE_PATH = re.compile(r"/apis/coordination\.k8s\.io/v1/namespaces/([^/]+)/leases(?:/([^/]+))?")


def leaves(obj: Any, path: Path = ()) -> Iterator[tuple[Path, Any]]:
    """Leaf paths; lists are atomic (a simplification of keyed lists)."""
    if isinstance(obj, dict) and obj:
        for k, v in obj.items():
            yield from leaves(v, (*path, k))
    else:
        yield path, obj


def fields_v1(paths: set[Path]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for p in sorted(paths):
        node = out
        for part in p:
            node = node.setdefault(f"f:{part}", {})
    return out


def paths_of(fields: dict[str, Any], prefix: Path = ()) -> set[Path]:
    out: set[Path] = set()
    for k, v in fields.items():
        p = (*prefix, k[2:])
        if v:
            out |= paths_of(v, p)
        else:
            out.add(p)
    return out


def get_path(obj: Any, path: Path) -> Any:
    for part in path:
        if not isinstance(obj, dict) or part not in obj:
            return None
        obj = obj[part]
    return obj


def set_path(obj: dict[str, Any], path: Path, value: Any) -> None:
    for part in path[:-1]:
        obj = obj.setdefault(part, {})
    obj[path[-1]] = copy.deepcopy(value)


def drop_path(obj: dict[str, Any], path: Path) -> None:
    parents = [obj]
    for part in path[:-1]:
        nxt = parents[-1].get(part)
        if not isinstance(nxt, dict):
            return
        parents.append(nxt)
    parents[-1].pop(path[-1], None)
    for i in range(len(path) - 1, 0, -1):  # prune emptied parents
        if parents[i] == {}:
            parents[i - 1].pop(path[i - 1], None)


def status_body(
    code: int, reason: str, message: str, causes: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Status",
        "metadata": {},
        "status": "Failure",
        "code": code,
        "reason": reason,
        "message": message,
        "details": {"causes": causes or []},
    }


@dataclass
class Fault:
    method: str
    path: re.Pattern[str]
    status: int  # 0: drop the connection without an answer; -1: stall (never answer)
    times: int
    real_only: bool = False  # skip dry-run requests (fail the apply, not the plan)
    message: str = ""  # the Status message (default: "injected <status>")
    watch: bool | None = None  # True: only watch requests; False: only non-watch ones


class SsaEmulator(kmock.KubernetesEmulator):
    """kmock's emulator plus server-side apply, selectors, logs, faults (see module doc)."""

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.faults: list[Fault] = []
        self.logs: dict[str, str] = {}
        self.kyverno = True
        self.auto_converge = True
        self.version = 0
        self.apply_log: list[dict[str, Any]] = []
        self.leases: dict[tuple[str, str], dict[str, Any]] = {}
        self.namespaces: dict[str, dict[str, Any]] = {}

    # --- request dispatch -------------------------------------------------------------

    async def _handle(self, request: Any) -> aiohttp.web.StreamResponse:
        for fault in self.faults:
            if fault.real_only and request.params.get("dryRun"):
                continue
            is_watch = request.params.get("watch") == "true"
            if fault.watch is not None and fault.watch != is_watch:
                continue
            if (
                fault.times > 0
                and request.method.value == fault.method
                and fault.path.search(request.url.path)
            ):
                fault.times -= 1
                if fault.status == 0:
                    request._raw_request.transport.abort()
                    return aiohttp.web.Response(status=500)
                if fault.status == -1:  # the client's read timeout ends it
                    await asyncio.sleep(3600)
                return aiohttp.web.json_response(
                    status_body(
                        fault.status, "Injected", fault.message or f"injected {fault.status}"
                    ),
                    status=fault.status,
                    headers={"Retry-After": "0"} if fault.status == 429 else None,
                )
        namespace = NAMESPACE_PATH.fullmatch(request.url.path)
        if namespace:
            return await self._namespace(request, namespace.group(1))
        lease = LEASE_PATH.fullmatch(request.url.path)
        if lease:
            return await self._lease(request, lease.group(1), lease.group(2))
        if request.method.value == "PATCH" and request.headers.get("Content-Type", "").startswith(
            APPLY
        ):
            return await self._apply(request)
        if request.subresource == "log":
            return aiohttp.web.Response(text=self.logs.get(request.name, ""))
        return await super()._handle(request)

    async def _serve_list(self, request: Any) -> dict[str, Any]:
        selector = request.params.get("labelSelector")
        wanted = dict(t.split("=", 1) for t in selector.split(",")) if selector else {}
        items = []
        async with self._lock:
            for (res, ns, _name), obj in self.objects.items():
                if res != request.resource or obj.deleted:
                    continue
                if request.namespace is not None and ns != request.namespace:
                    continue
                labels = (obj.raw.get("metadata") or {}).get("labels") or {}
                if all(labels.get(k) == v for k, v in wanted.items()):
                    items.append(obj.raw)
        return {"metadata": {"resourceVersion": str(self.version)}, "items": items}

    # --- Namespaces (kmock reads /api/v1/namespaces/NAME as a list) ------------------------

    async def __call__(self, raw_request: Any) -> aiohttp.web.StreamResponse:
        # kmock cannot parse the cluster-scoped collection /api/v1/namespaces at all.
        if raw_request.path == "/api/v1/namespaces" and raw_request.method == "POST":
            return await self._create_namespace(json.loads(await raw_request.read()))
        return await super().__call__(raw_request)

    async def _create_namespace(self, body: dict[str, Any]) -> aiohttp.web.StreamResponse:
        name = str((body.get("metadata") or {}).get("name"))
        if name in self.namespaces:
            body = status_body(409, "AlreadyExists", f'namespaces "{name}" already exists')
            return aiohttp.web.json_response(body, status=409)
        self.version += 1
        self.namespaces[name] = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": name,
                "uid": str(uuid.uuid4()),
                "resourceVersion": str(self.version),
            },
        }
        return aiohttp.web.json_response(self.namespaces[name], status=201)

    async def _namespace(self, request: Any, name: str) -> aiohttp.web.StreamResponse:
        """GET and server-side apply of one Namespace: the stack applies only its labels."""
        method = request.method.value
        if method == "PATCH":
            applied = json.loads(request.body)
            self.apply_log.append(
                {
                    "params": dict(request.params),
                    "content_type": request.headers.get("Content-Type"),
                }
            )
            live = copy.deepcopy(self.namespaces.get(name)) or {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": name, "uid": str(uuid.uuid4())},
            }
            live["metadata"]["labels"] = dict((applied.get("metadata") or {}).get("labels") or {})
            if request.params.get("dryRun") != "All":
                self.version += 1
                live["metadata"]["resourceVersion"] = str(self.version)
                self.namespaces[name] = live
            return aiohttp.web.json_response(live)
        if method == "GET" and name in self.namespaces:
            return aiohttp.web.json_response(self.namespaces[name])
        if method == "GET":
            body = status_body(404, "NotFound", f'namespaces "{name}" not found')
            return aiohttp.web.json_response(body, status=404)
        return await super()._handle(request)

    # --- Leases (optimistic concurrency) ------------------------------------------------

    async def _lease(
        self, request: Any, namespace: str, name: str | None
    ) -> aiohttp.web.StreamResponse:
        method = request.method.value
        async with self._lock:
            if method == "POST" and name is None:
                body = json.loads(request.body)
                key = (namespace, body["metadata"]["name"])
                if key in self.leases:
                    message = f'leases.coordination.k8s.io "{key[1]}" already exists'
                    return aiohttp.web.json_response(
                        status_body(409, "AlreadyExists", message), status=409
                    )
                return aiohttp.web.json_response(self._store_lease(key, body), status=201)
            key = (namespace, name or "")
            live = self.leases.get(key)
            if live is None:
                message = f'leases.coordination.k8s.io "{name}" not found'
                return aiohttp.web.json_response(status_body(404, "NotFound", message), status=404)
            if method == "GET":
                return aiohttp.web.json_response(live)
            if method == "PUT":
                body = json.loads(request.body)
                given = (body.get("metadata") or {}).get("resourceVersion")
                if given != live["metadata"]["resourceVersion"]:
                    message = (
                        f'Operation cannot be fulfilled on leases.coordination.k8s.io "{name}": '
                        "the object has been modified; please apply your changes to the latest "
                        "version and try again"
                    )
                    return aiohttp.web.json_response(
                        status_body(409, "Conflict", message), status=409
                    )
                return aiohttp.web.json_response(self._store_lease(key, body))
            if method == "DELETE":
                del self.leases[key]
                return aiohttp.web.json_response(status_body(200, "Success", "deleted"))
        return aiohttp.web.json_response(status_body(405, "MethodNotAllowed", method), status=405)

    def _store_lease(self, key: tuple[str, str], body: dict[str, Any]) -> dict[str, Any]:
        self.version += 1
        stored = copy.deepcopy(body)
        meta = stored.setdefault("metadata", {})
        meta.update(namespace=key[0], resourceVersion=str(self.version))
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", now())
        self.leases[key] = stored
        return copy.deepcopy(stored)

    # --- server-side apply ------------------------------------------------------------

    async def _apply(self, request: Any) -> aiohttp.web.StreamResponse:
        params = request.params
        manager = params.get("fieldManager")
        if not manager:
            body = status_body(422, "Invalid", "PATCH with apply-patch requires fieldManager")
            return aiohttp.web.json_response(body, status=422)
        force = params.get("force") == "true"
        dry = params.get("dryRun") == "All"
        applied = json.loads(request.body)
        self.apply_log.append(
            {"params": dict(params), "content_type": request.headers.get("Content-Type")}
        )
        key = (request.resource, request.namespace, request.name)
        async with self._lock:
            exists = key in self.objects and not self.objects[key].deleted
            live = copy.deepcopy(self.objects[key].raw) if exists else None
            if applied.get("kind") == "Secret" and "stringData" in applied:
                data = applied.setdefault("data", {})
                for k, v in applied.pop("stringData").items():
                    data[k] = base64.b64encode(v.encode()).decode()
            mine = {p for p, _ in leaves(applied) if p not in IDENTITY}
            entries = copy.deepcopy((live or {}).get("metadata", {}).get("managedFields") or [])
            owned = {e["manager"]: paths_of(e.get("fieldsV1") or {}) for e in entries}
            conflicts: list[tuple[str, Path]] = []
            for other, paths in owned.items():
                if other == manager:
                    continue
                for p in sorted(paths & mine):
                    if get_path(live, p) != get_path(applied, p):
                        conflicts.append((other, p))
            if conflicts and not force:
                api_version = applied.get("apiVersion", "v1")
                causes = [
                    {
                        "reason": "FieldManagerConflict",
                        "message": f'conflict with "{m}" using {api_version}',
                        "field": "." + ".".join(p),
                    }
                    for m, p in conflicts
                ]
                listed = ", ".join(
                    f'conflict with "{m}" using {api_version}: .{".".join(p)}' for m, p in conflicts
                )
                message = f"Apply failed with {len(conflicts)} conflict{'s' if len(conflicts) > 1 else ''}: {listed}"
                return aiohttp.web.json_response(
                    status_body(409, "Conflict", message, causes), status=409
                )
            merged = copy.deepcopy(live) if live else {}
            others = (
                set().union(*(paths for m, paths in owned.items() if m != manager))
                if owned
                else set()
            )
            for p in owned.get(manager, set()) - mine - others:
                drop_path(merged, p)
            for p, v in leaves(applied):
                if p not in IDENTITY or live is None:
                    set_path(merged, p, v)
            for m, paths in owned.items():  # force: the others lose what we took
                if m != manager:
                    owned[m] = paths - {p for _, p in conflicts}
            owned[manager] = mine
            if applied.get("kind") == "Deployment" and self.kyverno:
                pod = (
                    merged.setdefault("spec", {}).setdefault("template", {}).setdefault("spec", {})
                )
                pod.setdefault("dnsConfig", {"options": [{"name": "ndots", "value": "2"}]})
                owned["kyverno"] = owned.get("kyverno", set()) | {
                    ("spec", "template", "spec", "dnsConfig")
                }
            if applied.get("kind") == "Deployment":
                merged["spec"].setdefault("progressDeadlineSeconds", 600)  # a server default
            meta = merged.setdefault("metadata", {})
            old_meta = (live or {}).get("metadata", {})
            meta["uid"] = old_meta.get("uid") or str(uuid.uuid4())
            meta["creationTimestamp"] = old_meta.get("creationTimestamp") or now()
            spec_changed = live is None or live.get("spec") != merged.get("spec")
            generation = int(old_meta.get("generation") or 0)
            if "spec" in merged:
                meta["generation"] = generation + 1 if spec_changed else max(generation, 1)
            meta["managedFields"] = [
                {
                    "manager": m,
                    "operation": "Apply",
                    "apiVersion": applied.get("apiVersion"),
                    "fieldsType": "FieldsV1",
                    "fieldsV1": fields_v1(paths),
                }
                for m, paths in sorted(owned.items())
                if paths
            ]
            if dry:
                meta["resourceVersion"] = old_meta.get("resourceVersion", "0")
                return aiohttp.web.json_response(merged, status=200 if live else 201)
            self.version += 1
            meta["resourceVersion"] = str(self.version)
            if live is None:
                self.objects[key] = merged
            else:
                self.objects[key].create(merged)
            await self._buses[request.resource].put(
                {"type": "MODIFIED" if live else "ADDED", "object": merged}
            )
        if applied.get("kind") == "Deployment" and self.auto_converge and spec_changed:
            asyncio.get_running_loop().call_later(
                0.2, lambda: asyncio.ensure_future(self.converge(key))
            )
        return aiohttp.web.json_response(merged, status=200 if live else 201)

    # --- the "controllers" ------------------------------------------------------------

    async def put_object(self, obj: dict[str, Any], plural: str) -> None:
        """Create or replace any object (pods, events, ReplicaSets) as a controller would."""
        api_version = obj["apiVersion"]
        res = kmock.resource(f"{api_version}/{plural}")
        key = (res, obj["metadata"].get("namespace"), obj["metadata"]["name"])
        async with self._lock:
            self.version += 1
            obj.setdefault("metadata", {})["resourceVersion"] = str(self.version)
            existed = key in self.objects and not self.objects[key].deleted
            if key in self.objects:
                self.objects[key].create(obj)
            else:
                self.objects[key] = obj
            await self._buses[res].put({"type": "MODIFIED" if existed else "ADDED", "object": obj})

    async def converge(self, key: Any) -> None:
        """Mark a Deployment's rollout as complete (what the controller and kubelet would do)."""
        async with self._lock:
            if key not in self.objects or self.objects[key].deleted:
                return
            obj = copy.deepcopy(self.objects[key].raw)
        replicas = obj.get("spec", {}).get("replicas", 1)
        obj["status"] = {
            "observedGeneration": obj["metadata"].get("generation", 1),
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
        }
        await self.put_object(obj, "deployments")


def now() -> str:
    return (
        datetime.datetime.now(tz=datetime.UTC)
        .replace(microsecond=0)
        .isoformat()
        .replace("+00:00", "Z")
    )


class Cluster:
    """The emulator running in its own thread and loop, with synchronous helpers for tests."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.stopping: asyncio.Event | None = None
        self.emulator: SsaEmulator | None = None
        self.port = 0
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="kmock", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._serve())
        except BaseException as e:  # surfaced by start()
            self.error = e
            self.ready.set()

    async def _serve(self) -> None:
        self.stopping = asyncio.Event()
        async with SsaEmulator() as emulator, kmock.Server(emulator) as server:
            self.emulator = emulator
            self.port = server.port
            self.ready.set()
            await self.stopping.wait()

    def start(self) -> Cluster:
        self.thread.start()
        self.ready.wait(10)
        if self.error is not None or self.emulator is None:
            raise RuntimeError(f"the Kubernetes emulator did not start: {self.error!r}")
        return self

    def stop(self) -> None:
        if self.stopping is not None:
            self.loop.call_soon_threadsafe(self.stopping.set)
        self.thread.join(10)
        self.loop.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api(self) -> SsaEmulator:
        assert self.emulator is not None
        return self.emulator

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    # --- conveniences for tests -------------------------------------------------------

    def get(
        self, plural: str, name: str, namespace: str = "authentik", api_version: str = "v1"
    ) -> dict[str, Any] | None:
        key = (kmock.resource(f"{api_version}/{plural}"), namespace, name)
        objects = self.api.objects
        if key not in objects or objects[key].deleted:
            return None
        return copy.deepcopy(objects[key].raw)

    def lease(
        self, name: str = "akops-deploy", namespace: str = "authentik"
    ) -> dict[str, Any] | None:
        """The stored Lease (a copy), or None."""
        found = self.api.leases.get((namespace, name))
        return copy.deepcopy(found) if found is not None else None

    def put_lease(self, body: dict[str, Any]) -> None:
        """Store a Lease as another client would have written it."""
        meta = body["metadata"]

        async def store() -> None:
            async with self.api._lock:
                self.api._store_lease((meta.get("namespace", "authentik"), meta["name"]), body)

        self.run(store())

    def put(self, obj: dict[str, Any], plural: str) -> None:
        self.run(self.api.put_object(copy.deepcopy(obj), plural))

    def fail(
        self,
        method: str,
        path: str,
        status: int,
        times: int = 1,
        real_only: bool = False,
        message: str = "",
        watch: bool | None = None,
    ) -> None:
        """Answer the next ``times`` matching requests with ``status``.

        0 drops the connection, -1 stalls (no answer until the client gives up); ``watch``
        limits the fault to watch requests (True) or to the others (False).
        """
        fault = Fault(method.upper(), re.compile(path), status, times, real_only, message, watch)
        self.api.faults.append(fault)

    def requests(self, method: str | None = None, path: str | None = None) -> list[Any]:
        out = []
        for r in list(self.api):  # kmock: iterating the handler yields its requests
            if method and r.method.value != method.upper():
                continue
            if path and not re.search(path, r.url.path):
                continue
            out.append(r)
        return out

    def kubeconfig(self, context: str, current: str | None = None) -> dict[str, Any]:
        """A kubeconfig pointing ``context`` at the emulator (``current`` may name another)."""
        contexts = {context, current or context}
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "emulator", "cluster": {"server": self.url}}],
            "users": [{"name": "tester", "user": {"token": "emulator-token"}}],
            "contexts": [
                {"name": c, "context": {"cluster": "emulator", "user": "tester"}}
                for c in sorted(contexts)
            ],
            "current-context": current or context,
        }
