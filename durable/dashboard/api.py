"""The dashboard's JSON API (DESIGN section 7a): read instances, histories and workers; control
instances. Every handler reads through the ``Client`` the server opened; errors are JSON
``{"error": ...}`` with a status code (400 for a bad argument, 404 for an unknown id)."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .._client import Client
from .._errors import InstanceNotFound
from .._events import event_to_dict
from .._status import Status
from .._worker.announce import unserved
from ..stores.base import InstanceFilter, InstanceRecord
from .flow import build_flow, flow_json

#: the most instances one page of ``GET /api/instances`` returns
MAX_LIMIT = 500
#: status counts stop at this many per status (shown as "1000+")
COUNT_CAP = 1000
#: nested sub-orchestration flows drawn below an instance, at most
MAX_CHILDREN, MAX_DEPTH = 20, 2
_ACTIONS = ("terminate", "suspend", "resume", "cancel", "rewind")
_TICK = timedelta(microseconds=1)


class ApiError(Exception):
    """A request the API refuses: the status code and the one-line reason."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Json(JSONResponse):
    """JSON that also carries the values decoded payloads may hold (shown as text)."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, default=str, ensure_ascii=False, separators=(",", ":")).encode()


def _client(request: Request) -> Client:
    client: Client = request.app.state.client
    return client


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def instance_json(client: Client, record: InstanceRecord) -> dict[str, Any]:
    """The fields of ``InstanceStatus``, plus the failure's parts and the parent."""
    status = client._status_of(record, None)
    error = record.error
    return {
        "instance_id": status.instance_id,
        "name": status.name,
        "status": status.status.value,
        "created_at": _iso(status.created_at),
        "updated_at": _iso(status.updated_at),
        "input": status.input,
        "output": status.output,
        "error": status.error,
        "error_detail": (
            None
            if error is None
            else {"type": error.error_type, "message": error.message, "traceback": error.traceback}
        ),
        "custom_status": status.custom_status,
        "parent_instance_id": record.parent_instance_id,
        "tags": dict(status.tags),
    }


# -- the cursor of GET /api/instances: the last row's creation time and how many rows created at
# that very time were already shown (rows tie on it; both stores order ties the same each time)


def _encode_cursor(created: datetime, shown: int) -> str:
    raw = json.dumps({"t": created.isoformat(), "n": shown}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(text: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        data = json.loads(raw)
        return datetime.fromisoformat(data["t"]), int(data["n"])
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise ApiError(400, f"cursor={text!r} is not a cursor this API gave") from exc


def _int_param(request: Request, name: str, default: int, high: int) -> int:
    text = request.query_params.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise ApiError(400, f"{name}={text!r}: expected a whole number") from None
    if not 1 <= value <= high:
        raise ApiError(400, f"{name}={value}: expected 1 to {high}")
    return value


def _status_param(request: Request) -> Status | None:
    text = request.query_params.get("status") or None
    if text is None:
        return None
    try:
        return Status(text.upper())
    except ValueError:
        names = ", ".join(status.value for status in Status)
        raise ApiError(400, f"status={text!r}: expected one of {names}") from None


def _tags_param(request: Request) -> dict[str, str] | None:
    """``tag=k=v`` (repeatable): instances carrying every one of them."""
    tags = {}
    for text in request.query_params.getlist("tag"):
        key, sep, value = text.partition("=")
        if not sep or not key or not value:
            raise ApiError(400, f"tag={text!r}: expected key=value")
        tags[key] = value
    return tags or None


async def list_instances(request: Request) -> Response:
    client = _client(request)
    params = request.query_params
    tags = _tags_param(request)
    limit = _int_param(request, "limit", 50, MAX_LIMIT)
    status, name = _status_param(request), params.get("name") or None
    query = (params.get("q") or "").strip()
    if query:
        record = await client.store.get_instance(query)
        rows = []
        if (
            record is not None
            and status in (None, record.status)
            and name in (None, record.name)
            and all(record.tags.get(key) == value for key, value in (tags or {}).items())
        ):
            rows.append(instance_json(client, record))
        return Json({"instances": rows, "next_cursor": None})
    before, skip = (None, 0)
    if params.get("cursor"):
        before, skip = _decode_cursor(params["cursor"])
    records = await client.store.list_instances(
        InstanceFilter(
            status=status,
            name=name,
            created_before=before + _TICK if before else None,
            limit=skip + limit + 1,
            tags=tags,
        )
    )
    page, more = records[skip : skip + limit], len(records) > skip + limit
    next_cursor = None
    if more and page:
        last = page[-1].created_at
        shown = sum(1 for record in records[: skip + limit] if record.created_at == last)
        next_cursor = _encode_cursor(last, shown)
    return Json({"instances": [instance_json(client, r) for r in page], "next_cursor": next_cursor})


async def counts(request: Request) -> Response:
    store = _client(request).store
    out: dict[str, Any] = {}
    for status in Status:
        found = await store.list_instances(InstanceFilter(status=status, limit=COUNT_CAP + 1))
        out[status.value] = len(found) if len(found) <= COUNT_CAP else f"{COUNT_CAP}+"
    return Json({"counts": out})


async def _record(client: Client, instance_id: str) -> InstanceRecord:
    record = await client.store.get_instance(instance_id)
    if record is None:
        raise ApiError(404, f"no instance {instance_id!r}")
    return record


async def get_instance(request: Request) -> Response:
    client = _client(request)
    record = await _record(client, request.path_params["instance_id"])
    body = instance_json(client, record)
    if record.status is Status.PENDING and body["error"] is None:  # no live worker serves it?
        body["error"] = await unserved(client.store, record.name)
    return Json(body)


async def get_history(request: Request) -> Response:
    client = _client(request)
    instance_id = request.path_params["instance_id"]
    await _record(client, instance_id)
    events = await client.store.get_history(instance_id)
    return Json({"events": [event_to_dict(event) for event in events]})


async def _flow_of(client: Client, instance_id: str, depth: int) -> dict[str, Any]:
    flow = build_flow(await client.store.get_history(instance_id))
    nested: dict[str, dict[str, Any] | None] = {}
    if depth < MAX_DEPTH:
        children = [effect.child for effect in flow.effects if effect.child][:MAX_CHILDREN]
        for child in children:
            nested[child] = await _flow_of(client, child, depth + 1)
    return flow_json(flow, nested.get)


async def get_flow(request: Request) -> Response:
    client = _client(request)
    instance_id = request.path_params["instance_id"]
    await _record(client, instance_id)
    return Json(await _flow_of(client, instance_id, 0))


async def list_workers(request: Request) -> Response:
    workers = await _client(request).workers()
    return Json({"workers": [worker.to_json() for worker in workers]})


async def _body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise ApiError(400, "the body is not JSON") from None


async def control(request: Request) -> Response:
    client = _client(request)
    instance_id, action = request.path_params["instance_id"], request.path_params["action"]
    if action not in _ACTIONS:
        raise ApiError(404, f"no action {action!r}: use one of {', '.join(_ACTIONS)}")
    body = await _body(request)
    reason = body.get("reason") if isinstance(body, dict) else None
    if reason is not None and not isinstance(reason, str):
        raise ApiError(400, "reason: expected text")
    await _record(client, instance_id)
    handle = client.get(instance_id)
    if action == "resume":
        await handle.resume()
    else:
        await getattr(handle, action)(reason)
    return Json({"instance_id": instance_id, "requested": action}, status_code=202)


async def raise_event(request: Request) -> Response:
    client = _client(request)
    instance_id, name = request.path_params["instance_id"], request.path_params["name"]
    payload = await _body(request)
    await _record(client, instance_id)
    await client.get(instance_id).raise_event(name, payload)
    return Json({"instance_id": instance_id, "raised": name}, status_code=202)


async def on_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, ApiError):
        return Json({"error": exc.message}, status_code=exc.status)
    if isinstance(exc, InstanceNotFound):
        return Json({"error": str(exc)}, status_code=404)
    return Json({"error": f"{type(exc).__name__}: {exc}"}, status_code=409)


async def info(request: Request) -> Response:
    return Json({"store": _client(request).store.display_url})


ROUTES = [
    Route("/api/instances", list_instances),
    Route("/api/counts", counts),
    Route("/api/info", info),
    Route("/api/workers", list_workers),
    Route("/api/instances/{instance_id:path}/history", get_history),
    Route("/api/instances/{instance_id:path}/flow", get_flow),
    Route("/api/instances/{instance_id:path}/events/{name}", raise_event, methods=["POST"]),
    Route(
        "/api/instances/{instance_id:path}/{action:str}",
        control,
        methods=["POST"],
    ),
    Route("/api/instances/{instance_id:path}", get_instance),
]
