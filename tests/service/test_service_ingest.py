"""Ingestion over HTTP: per-record outcomes, idempotent retries, whole-request rejections."""

from __future__ import annotations

import json

from service_support import Service


def _events(prefix: str, n: int, **extra: object) -> list[dict[str, object]]:
    return [{"event_id": f"{prefix}-{i}", "user_id": f"u{i % 7}", "event": "view_home", "ts": "2024-05-01T08:00:00Z",
             "platform": "app", **extra} for i in range(n)]


def _post(svc: Service, path: str, body: object, who: str = "ingest_key", **headers: str):
    return svc.client.post(path, content=json.dumps(body), headers={"Content-Type": "application/json",
                                                                      **svc.headers(who), **headers})


def test_retry_of_the_same_batch_stores_once(svc: Service) -> None:
    batch = {"events": _events("retry", 50)}
    first = _post(svc, "/api/v1/events/batch", batch)
    assert first.status_code == 200, first.text
    assert (first.json()["accepted"], first.json()["duplicates"]) == (50, 0)
    again = _post(svc, "/api/v1/events/batch", batch)
    assert (again.json()["accepted"], again.json()["duplicates"]) == (0, 50)
    assert [r["status"] for r in again.json()["results"]] == ["duplicate"] * 50
    assert svc.count("SELECT count(*) FROM events WHERE event_id LIKE 'retry-%'") == 50


def test_idempotency_key_replays_the_stored_response(svc: Service) -> None:
    batch = {"events": _events("idem", 10)}
    first = _post(svc, "/api/v1/events/batch", batch, **{"Idempotency-Key": "k-1"})
    again = _post(svc, "/api/v1/events/batch", batch, **{"Idempotency-Key": "k-1"})
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == first.json() and first.json()["accepted"] == 10
    other = _post(svc, "/api/v1/events/batch", {"events": _events("idem2", 3)}, **{"Idempotency-Key": "k-1"})
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_key_reused"
    assert svc.count("SELECT count(*) FROM events WHERE event_id LIKE 'idem%'") == 10


def test_partly_bad_batch_stores_the_good_and_quarantines_the_rest(svc: Service) -> None:
    events = _events("mixed", 6)
    events[1]["ts"] = "not a time"
    events[3] = {"user_id": "u1", "event": "view_home", "ts": "2024-05-01T08:00:00Z"}  # no event_id
    events.append("just a string")  # type: ignore[arg-type]
    events.append({**_events("mixed", 1)[0], "event_id": "mixed-big", "properties": {"blob": "x" * 40_000}})
    events.append(dict(events[0]))  # same record again within the batch
    resp = _post(svc, "/api/v1/events/batch", {"events": events})
    assert resp.status_code == 200, resp.text
    statuses = [r["status"] for r in resp.json()["results"]]
    assert statuses == ["accepted", "rejected", "accepted", "rejected", "accepted", "accepted", "rejected", "rejected",
                        "duplicate"]
    reasons = {r["index"]: r["reason"] for r in resp.json()["results"] if r["status"] == "rejected"}
    assert reasons[7] == "record_too_large"
    assert all(reasons[i] for i in (1, 3, 6))
    assert svc.count("SELECT count(*) FROM events WHERE event_id LIKE 'mixed-%'") == 4
    assert svc.count("SELECT count(*) FROM _quarantine WHERE source LIKE 'api:events:%' AND line IS NOT NULL") >= 4


def test_whole_request_rejections_store_nothing(svc: Service) -> None:
    before = svc.count("SELECT count(*) FROM events")
    q_before = svc.count("SELECT count(*) FROM _quarantine")
    big = b'{"events": [' + b",".join([b'{"event_id": "' + b"y" * 1000 + b'"}'] * 10_500) + b"]}"
    assert len(big) > 10_000_000
    r413 = svc.client.post("/api/v1/events/batch", content=big,
                           headers={"Content-Type": "application/json", **svc.headers("ingest_key")})
    assert r413.status_code == 413 and r413.json()["error"]["code"] == "too_large"
    r422 = svc.client.post("/api/v1/events/batch", content=b'{"events": [{"event_id": "a",}',
                           headers={"Content-Type": "application/json", **svc.headers("ingest_key")})
    assert r422.status_code == 422 and "not valid JSON" in r422.json()["error"]["message"]
    r415 = svc.client.post("/api/v1/events/batch", content=json.dumps({"events": _events("ct", 2)}),
                           headers={"Content-Type": "text/plain", **svc.headers("ingest_key")})
    assert r415.status_code == 415
    too_many = _post(svc, "/api/v1/events/batch", {"events": _events("many", 1001)})
    assert too_many.status_code == 413 and too_many.json()["error"]["code"] == "too_many_records"
    envelope = _post(svc, "/api/v1/events/batch", {"evnts": _events("env", 2)})
    assert envelope.status_code == 422 and envelope.json()["error"]["field"] == "events"
    assert svc.count("SELECT count(*) FROM events") == before
    assert svc.count("SELECT count(*) FROM _quarantine") == q_before


def test_orders_and_user_sync(svc: Service) -> None:
    orders = [{"order_id": f"o{i}", "user_id": "u1", "ts": "2024-05-01T09:00:00Z", "amount": 10 + i, "status": "paid"}
              for i in range(3)]
    r = _post(svc, "/api/v1/orders/batch", {"orders": orders})
    assert r.status_code == 200 and r.json()["accepted"] == 3
    sync = {"user_ids": ["s1", "s2", "s3"], "data_source": "CRM", "timestamp": "2023-12-01T08:00:00Z",
            "users": [{"user_id": "s1", "province": "浙江省"}, {"user_id": "s2"}, {"user_id": "zz"}]}
    r = _post(svc, "/api/v1/user/sync", sync)
    body = r.json()
    assert r.status_code == 200, r.text
    assert [x["status"] for x in body["results"]] == ["accepted", "accepted", "rejected"]
    assert body["results"][2]["reason"] == "not_in_user_ids" and body["missing_user_ids"] == ["s3"]
    assert svc.count("SELECT count(*) FROM users WHERE user_id IN ('s1', 's2')") == 2
    bad = _post(svc, "/api/v1/user/sync", {**sync, "timestamp": "yesterday"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "timestamp"


def test_ingest_rate_limit_answers_429_and_keeps_what_was_accepted(svc: Service) -> None:
    limiter = svc.state.ingest_limiter
    old = (limiter.rate, limiter.burst)
    limiter.rate, limiter.burst = 0.01, 2
    limiter._buckets.clear()
    try:
        codes = [_post(svc, "/api/v1/events/batch", {"events": _events(f"rl{i}", 5)}).status_code for i in range(4)]
        assert codes[:2] == [200, 200] and codes[2] == 429
        last = _post(svc, "/api/v1/events/batch", {"events": _events("rlx", 5)})
        assert int(last.headers["Retry-After"]) >= 1
    finally:
        limiter.rate, limiter.burst = old
        limiter._buckets.clear()
    assert svc.count("SELECT count(*) FROM events WHERE event_id LIKE 'rl%'") == 10


def test_request_ids_are_echoed_or_generated(svc: Service) -> None:
    r = svc.client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert r.headers["X-Request-ID"] == "abc-123"
    generated = svc.client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"}).headers["X-Request-ID"]
    assert len(generated) == 32 and " " not in generated
