"""Ingestion endpoints. 数据接入接口。

A request is either rejected as a whole (wrong Content-Type 415, too large
413, not JSON or the wrong envelope 422 — nothing stored) or answered per
record by index: ``accepted``, ``duplicate`` or ``rejected`` with the reason
(rejected records are in the quarantine). The answer comes only after the
DuckDB commit, so an acknowledged batch survives ``kill -9``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Callable
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from jingyun.api import idempotency
from jingyun.api.bodies import check_charset, parse_json
from jingyun.api.deps import ServiceState, StateDep, permit, request_id
from jingyun.api.writer import Arrival, Job, Outcome
from jingyun.errors import JingyunError
from jingyun.security.roles import Principal

router = APIRouter(prefix="/api/v1", tags=["ingest 数据接入"])
Ingest = Annotated[Principal, Depends(permit("events:ingest"))]

MAX_RECORDS = 1000
MAX_RECORD_BYTES = 32 * 1024
MAX_CALL_BYTES = 1_048_576


def _record_encoder() -> Callable[[Any], str]:
    """One encoder for every record, as ``json.dumps(x, ensure_ascii=False)`` writes it.

    ``json.dumps`` builds a JSONEncoder per call, and ``JSONEncoder.encode`` still builds a C encoder
    per call; the C encoder made once is the cheapest (docs/architecture.md, "Measured choices"). Records come from ``json.loads``: only dicts, lists, strings,
    numbers, booleans and null, never a cycle — so no ``default`` and no cycle check are needed.
    """
    if c_make_encoder is None:  # a Python without the _json accelerator
        return json.JSONEncoder(ensure_ascii=False).encode
    encoder = c_make_encoder(None, None, encode_basestring, None, ": ", ", ", False, False, True)
    return lambda value: "".join(encoder(value, 0))


_encode = _record_encoder()


class RecordResult(BaseModel):
    index: int
    status: Literal["accepted", "duplicate", "rejected"]
    reason: str | None = None
    field: str | None = None


class BatchResult(BaseModel):
    table: str
    received: int
    accepted: int
    duplicates: int
    rejected: int
    results: list[RecordResult]
    request_id: str


class UserSyncResult(BatchResult):
    data_source: str
    missing_user_ids: list[str]


class UserSync(BaseModel):
    """The operations API's user-sync envelope (用户同步)."""

    model_config = ConfigDict(extra="forbid")
    user_ids: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(max_length=MAX_RECORDS)
    data_source: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.\-]+$")
    timestamp: dt.datetime
    users: list[dict[str, Any]] = Field(default_factory=list, max_length=MAX_RECORDS)


def _envelope_schema(key: str) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": [key], "additionalProperties": False,
        "properties": {key: {"type": "array", "maxItems": MAX_RECORDS, "items": {"type": "object"}}},
    }}}}}


async def read_json(request: Request) -> tuple[bytes, Any]:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise JingyunError("unsupported_media_type", "send the body as Content-Type: application/json",
                           "Content-Type", status=415)
    body = await request.body()
    if len(body) > MAX_CALL_BYTES:
        raise JingyunError("too_large", f"body is {len(body)} bytes; at most {MAX_CALL_BYTES} per call", None, status=413)
    check_charset(request.headers.get("content-type", ""))
    return body, parse_json(body)  # the service's one JSON parser: UTF-8, depth cap, no NaN


def _records(payload: Any, key: str) -> list[Any]:
    if not isinstance(payload, dict) or set(payload) != {key}:
        raise JingyunError("bad_envelope", f'the body must be an object {{"{key}": [...]}} and nothing else', key, status=422)
    records = payload[key]
    if not isinstance(records, list):
        raise JingyunError("bad_envelope", f"{key} must be an array", key, status=422)
    if len(records) > MAX_RECORDS:
        raise JingyunError("too_many_records", f"{len(records)} records; at most {MAX_RECORDS} per call", key, status=413)
    return records


def _job(table: str, records: list[Any], origin: str = "", extra_rejects: dict[int, tuple[str, str | None]] | None = None) -> Job:
    texts: list[str] = []
    rejects: dict[int, tuple[str, str | None]] = dict(extra_rejects or {})
    for i, item in enumerate(records):
        text = _encode(item)
        texts.append(text)
        if i in rejects:
            continue
        if not isinstance(item, dict):
            rejects[i] = ("not_an_object", None)
        elif len(text) * 4 > MAX_RECORD_BYTES and len(text.encode()) > MAX_RECORD_BYTES:  # UTF-8: <= 4 bytes a char
            rejects[i] = ("record_too_large", None)
    return Job(table=table, items=records, texts=texts, pre_rejected=rejects, origin=origin)


def _summary(table: str, outcomes: list[Outcome], rid: str) -> dict[str, Any]:
    return {
        "table": table, "received": len(outcomes),
        "accepted": sum(o.status == "accepted" for o in outcomes),
        "duplicates": sum(o.status == "duplicate" for o in outcomes),
        "rejected": sum(o.status == "rejected" for o in outcomes),
        "results": [o.to_dict() for o in outcomes], "request_id": rid,
    }


def _arrival(request: Request) -> Arrival | None:
    return getattr(request.state, "ingest_arrival", None)


async def _ingest(request: Request, state: ServiceState, principal: Principal, key: str, table: str,
                  build: Any) -> JSONResponse:
    arrival = _arrival(request)
    try:
        state.ingest_limiter.check(principal.name)
        body, payload = await read_json(request)
        idem_key = request.headers.get("idempotency-key")
        route = f"{request.method} {request.url.path}"
        digest = ""
        if idem_key is not None:
            digest = idempotency.body_hash(body)  # only with a key: hashing 1 MB is not free
            idem_key = idempotency.check_key(idem_key)
            if arrival is not None:
                arrival.settle()  # the lookup is a store round trip: let the writer go on without us meanwhile
            stored = await asyncio.to_thread(idempotency.lookup, state, principal.name, idem_key, route, digest)
            if stored is not None:
                return JSONResponse(stored[1], status_code=stored[0], headers={"Idempotent-Replayed": "true"})
        job, extra = build(payload)
    except BaseException:
        if arrival is not None:
            arrival.settle()  # refused as a whole: the writer need not wait for a job from it
        raise
    future = state.writer.submit(job, expected=arrival is not None and arrival.take())
    outcomes = await asyncio.wrap_future(future)
    result = {**_summary(table, outcomes, request_id(request)), **extra}
    if idem_key is not None:
        await asyncio.to_thread(idempotency.save, state, principal.name, idem_key, route, digest, 200, result)
    return JSONResponse(result)


@router.post("/events/batch", summary="Ingest up to 1,000 events (32 KB each, 1 MB per call)",
             response_model=BatchResult, openapi_extra=_envelope_schema("events"))
async def events_batch(request: Request, state: StateDep, principal: Ingest) -> JSONResponse:
    return await _ingest(request, state, principal, "events", "events",
                         lambda payload: (_job("events", _records(payload, "events")), {}))


@router.post("/orders/batch", summary="Ingest up to 1,000 orders (32 KB each, 1 MB per call)",
             response_model=BatchResult, openapi_extra=_envelope_schema("orders"))
async def orders_batch(request: Request, state: StateDep, principal: Ingest) -> JSONResponse:
    return await _ingest(request, state, principal, "orders", "orders",
                         lambda payload: (_job("orders", _records(payload, "orders")), {}))


def _user_sync_job(payload: Any) -> tuple[Job, dict[str, Any]]:
    try:
        sync = UserSync.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or None
        raise JingyunError("invalid", f"{field}: {first['msg']}" if field else first["msg"], field, status=422) from None
    wanted = set(sync.user_ids)
    rejects: dict[int, tuple[str, str | None]] = {}
    seen: set[str] = set()
    for i, user in enumerate(sync.users):
        uid = str(user.get("user_id", "")).strip()
        if uid not in wanted:
            rejects[i] = ("not_in_user_ids", "user_id")
        seen.add(uid)
    missing = [u for u in sync.user_ids if u not in seen]
    job = _job("users", list(sync.users), origin=sync.data_source, extra_rejects=rejects)
    return job, {"data_source": sync.data_source, "missing_user_ids": missing}


@router.post("/user/sync", summary="Sync user records from a source system (CRM…) 用户同步",
             response_model=UserSyncResult,
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": UserSync.model_json_schema()}}}})
async def user_sync(request: Request, state: StateDep, principal: Ingest) -> JSONResponse:
    return await _ingest(request, state, principal, "users", "users", _user_sync_job)
