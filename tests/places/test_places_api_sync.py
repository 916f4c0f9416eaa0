"""Users sent through the HTTP user sync get the same place step as a file ingest: province and city hold the
official names, the raw text stays in attributes — row for row what a file ingest of the same records stores."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from jingyun.api import create_app
from jingyun.api.app import app_state
from jingyun.config import load_settings
from jingyun.ingest import ingest_file
from jingyun.security import auth
from jingyun.warehouse import Warehouse

USERS: list[dict[str, Any]] = [
    {"user_id": "s1", "province": "广东", "city": "深圳"},
    {"user_id": "s2", "province": "广东省", "city": "深圳市"},
    {"user_id": "s3", "province": "广东省广州市"},
    {"user_id": "s4", "city": "深圳"},
    {"user_id": "s5", "province": "火星", "city": "奥林匹斯"},  # unknown: kept as given
    {"user_id": "s6", "name": "无地址"},
]
SQL = "SELECT user_id, province, city, attributes FROM users ORDER BY user_id"


def _rows(rows: list[tuple[Any, ...]]) -> dict[str, tuple[Any, Any, Any]]:
    return {u: (p, c, json.loads(a) if a else {}) for u, p, c, a in rows}


def test_user_sync_normalises_places_like_a_file_ingest(tmp_path: Path) -> None:
    api_home, file_home = tmp_path / "api", tmp_path / "file"
    api_home.mkdir()
    file_home.mkdir()
    app = create_app(load_settings(api_home))
    state = app_state(app)
    key = auth.create_api_key(state.store, name="crm", scope="ingest")[1]
    body = {"user_ids": [u["user_id"] for u in USERS], "data_source": "CRM", "timestamp": "2026-10-01T01:00:00Z",
            "users": USERS}
    with TestClient(app) as client:
        r = client.post("/api/v1/user/sync", json=body, headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 200, r.text
        assert [x["status"] for x in r.json()["results"]] == ["accepted"] * len(USERS)
        reader = state.writer.reader()
        try:
            via_api = _rows(reader.rows(SQL))
        finally:
            reader.close()

    src = tmp_path / "users.ndjson"
    src.write_text("".join(json.dumps(u, ensure_ascii=False) + "\n" for u in USERS), encoding="utf-8")
    with Warehouse.open(load_settings(file_home)) as wh:
        report = ingest_file(wh, "users", src)
        assert (report.received, report.stored) == (len(USERS), len(USERS))
        via_file = _rows(wh.rows(SQL))

    assert via_api == via_file
    assert via_api["s1"] == ("广东省", "深圳市", {"province_raw": "广东", "city_raw": "深圳"})
    assert via_api["s2"] == ("广东省", "深圳市", {})
    assert via_api["s3"][:2] == ("广东省", "广州市") and via_api["s3"][2] == {"province_raw": "广东省广州市"}
    assert via_api["s4"][:2] == ("广东省", "深圳市") and via_api["s4"][2] == {"city_raw": "深圳"}
    assert via_api["s5"] == ("火星", "奥林匹斯", {})
    assert via_api["s6"][:2] == (None, None)
    assert sum(1 for p, _, _ in via_api.values() if p == "广东省") == 4  # one province, not two
