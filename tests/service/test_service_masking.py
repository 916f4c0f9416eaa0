"""De-identification: an analyst never sees a planted raw value through any route; admins do."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import pytest
from service_support import Service, build_service

from jingyun.schema.tables import USERS
from jingyun.security.masking import age_band, deidentify, province_of, pseudonym

RAW = {"name": "张伟明", "phone": "+8613912345678", "email": "zhang.weiming@corp.cn",
       "address": "浙江省杭州市西湖区文三路88号", "birth_date": "1990-03-15"}


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    for svc in build_service(tmp_path_factory.mktemp("mask")):
        users = [{"user_id": "p1", "province": "浙江省", "member_level": "gold", **RAW,
                  "attributes": {"id_card": "330102199003150011", "note": "vip"}},
                 {"user_id": "p2", "province": "上海", "member_level": "gold"}]
        r = svc.client.post("/api/v1/user/sync", json={"user_ids": ["p1", "p2"], "data_source": "CRM",
                                                       "timestamp": "2023-12-01T08:00:00Z", "users": users},
                            headers=svc.headers("admin"))
        assert r.json()["accepted"] == 2, r.text
        yield svc


def _bodies(svc: Service, who: str) -> list[str]:
    seg = svc.client.post("/api/v1/segments", json={"name": f"gold-{who}", "department": "growth",
                                                     "rule": {"member_level": "gold"}}, headers=svc.headers("admin"))
    sid = seg.json()["id"]
    tree = svc.client.post("/api/v1/segments", json={"name": f"zj-{who}", "department": "growth", "rule": {
        "and": [{"attr": "province", "op": "eq", "value": "浙江省"}]}}, headers=svc.headers("admin"))
    tid = tree.json()["id"]
    calls = [("GET", "/api/v1/users/p1"), ("GET", "/api/v1/users/export"), ("GET", f"/api/v1/segments/{sid}/export"),
             ("GET", f"/api/v1/segments/{tid}/export"), ("GET", "/api/v1/profiles/p1")]
    out = []
    for method, url in calls:
        r = svc.client.request(method, url, headers=svc.headers(who))
        if r.status_code == 200:
            out.append(r.text)
    return out


def test_analyst_and_specialist_never_see_raw_personal_data(planted: Service) -> None:
    raw_values = [*RAW.values(), "13912345678", "330102199003150011", "文三路"]
    for who in ("analyst", "specialist", "read_key"):
        bodies = _bodies(planted, who)
        assert len(bodies) >= (3 if who == "specialist" else 2), who  # specialists export, others read profiles
        for body in bodies:
            for value in raw_values:
                assert value not in body, (who, value)
    profile = planted.client.get("/api/v1/users/p1", headers=planted.headers("analyst")).json()
    user = profile["user"]
    assert "name" not in user and "birth_date" not in user
    assert user["address"] == "浙江省"
    assert user["phone"] == pseudonym("+8613912345678", planted.state.service.mask_salt)
    assert user["age_band"] == age_band(dt.date(1990, 3, 15))
    assert json.loads(user["attributes"])["id_card"].startswith("sha256:")
    full = planted.client.get("/api/v1/profiles/p1", headers=planted.headers("analyst")).json()
    assert full["attributes"]["phone"] == user["phone"] and full["attributes"]["age_band"] == user["age_band"]
    assert "name" not in full["attributes"] and full["deidentified"] is True
    raw = planted.client.get("/api/v1/profiles/p1", headers=planted.headers("manager")).json()
    assert raw["attributes"]["phone"] == RAW["phone"] and raw["attributes"]["name"] == RAW["name"]


def test_admin_and_manager_see_raw_and_reads_are_audited(planted: Service) -> None:
    for who in ("admin", "manager"):
        profile = planted.client.get("/api/v1/users/p1", headers=planted.headers(who)).json()
        assert profile["user"]["phone"] == RAW["phone"] and profile["deidentified"] is False
    audit = planted.client.get("/api/v1/audit", params={"action": "read_personal", "limit": 1000},
                               headers=planted.headers("admin")).json()
    actors = {e["actor"] for e in audit["items"]}
    assert {"ana", "root", "mgr_a"} <= actors
    assert all(RAW["phone"] not in json.dumps(e) for e in audit["items"])


def test_masking_rules() -> None:
    today = dt.date(2024, 6, 1)
    assert age_band("1999-06-01", today) == "25-30"  # 25 on the day
    assert age_band("1999-06-02", today) == "18-24"  # still 24 (the one scheme: jingyun.security.age_bands)
    assert province_of("广西壮族自治区南宁市青秀区") == "广西壮族自治区"
    assert province_of("北京市朝阳区") == "北京"
    assert pseudonym("A@B.cn", b"s") == pseudonym(" a@b.cn ", b"s") != pseudonym("a@b.cn", b"t")
    row = {"user_id": "u", "name": "李雷", "phone": "+8613800000000", "birth_date": dt.date(2000, 1, 1),
           "address": "江苏省南京市", "province": None, "city": "南京"}
    masked = deidentify(USERS, row, b"salt", today)
    assert masked == {"user_id": "u", "phone": pseudonym("+8613800000000", b"salt"), "age_band": "18-24",
                      "address": "江苏省", "province": None, "city": "南京"}


