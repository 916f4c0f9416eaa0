"""``Idempotency-Key``: the first response to a key is stored and replayed to retries.

A retry with the same key but a different body is refused (409): that is a
client bug, and replaying the old answer would hide it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from jingyun.api.deps import ServiceState
from jingyun.errors import JingyunError
from jingyun.store import IdempotencyKey


def body_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def check_key(key: str) -> str:
    key = key.strip()
    if not key or len(key) > 200:
        raise JingyunError("bad_idempotency_key", "Idempotency-Key must be 1-200 characters", "Idempotency-Key", status=422)
    return key


def lookup(state: ServiceState, principal: str, key: str, route: str, digest: str) -> tuple[int, dict[str, Any]] | None:
    with state.store.session() as ses:
        row = ses.scalar(select(IdempotencyKey).where(IdempotencyKey.principal == principal, IdempotencyKey.key == key))
        if row is None:
            return None
        if row.route != route or row.request_hash != digest:
            raise JingyunError("idempotency_key_reused", "this Idempotency-Key was used for a different request; "
                               "use a new key for a new batch", "Idempotency-Key", status=409)
        return row.status_code, json.loads(row.response)


def save(state: ServiceState, principal: str, key: str, route: str, digest: str, status: int, response: dict[str, Any]) -> None:
    try:
        with state.store.session() as ses:
            ses.add(IdempotencyKey(principal=principal, key=key, route=route, request_hash=digest, status_code=status,
                                   response=json.dumps(response, ensure_ascii=False)))
    except IntegrityError:
        pass  # a concurrent retry stored it first; its records were duplicates here, nothing lost
