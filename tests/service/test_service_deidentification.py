"""The de-identification gate at the API edge: breakdowns, lists and free text in properties, Chinese keys,
small counts where people are selected, and one pseudonym across edges (issue findings 1-4 and 12)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from service_support import Service, build_service

from jingyun.security.masking import Masker, pseudonym, salt_for
from jingyun.segments import saved
from jingyun.segments.store import SavedSegment

PHONE = "+8613912340000"
LIST_PHONE, LIST_EMAIL, LIST_ID = "+8613700001111", "list.person@example.com", "110101199001011237"
NOTE_PHONE = "13655556666"
ZH = {"联系电话": "+8613811112222", "收货地址": "浙江省杭州市滨江区秘密路9号", "真实姓名": "李秘密",
      "身份证号": "330106199107131234"}


def _users() -> list[dict[str, object]]:
    people: list[dict[str, object]] = []
    for i in range(12):  # 12 in 浙江省: above the small-count threshold of 10
        people.append({"user_id": f"z{i}", "province": "浙江省", "member_level": "gold", "name": f"王{i}",
                       "phone": f"+86139123400{i:02d}", "email": f"z{i}@corp.cn", "birth_date": f"1990-01-{i + 1:02d}",
                       "address": f"浙江省杭州市西湖区{i}号"})
    for i in range(3):  # 3 in 上海: below it
        people.append({"user_id": f"s{i}", "province": "上海", "member_level": "silver", "phone": f"+86138000000{i:02d}"})
    people[0]["attributes"] = dict(ZH)
    return people


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    old = os.environ.get("JINGYUN_EXPORT_ALERT_ROWS")
    os.environ["JINGYUN_EXPORT_ALERT_ROWS"] = "5"  # a breakdown listing 12 phones is a bulk export
    try:
        for svc in build_service(tmp_path_factory.mktemp("deid")):
            users = _users()
            r = svc.client.post("/api/v1/user/sync", headers=svc.headers("admin"), json={
                "user_ids": [u["user_id"] for u in users], "data_source": "CRM", "timestamp": "2026-10-01T08:00:00Z",
                "users": users})
            assert r.json()["accepted"] == 15, r.text
            events = [{"event_id": f"e{i}", "user_id": f"z{i}", "event": "view_home", "ts": "2026-10-02T08:00:00Z",
                       "platform": "app", "properties": {"note": f"call me at {NOTE_PHONE}", "contacts": [
                           {"phone": LIST_PHONE if i == 0 else f"+86137000022{i:02d}", "email": LIST_EMAIL,
                            "id_card": LIST_ID}]}} for i in range(12)]
            r = svc.client.post("/api/v1/events/batch", headers=svc.headers("ingest_key"), json={"events": events})
            assert r.json()["accepted"] == 12, r.text
            orders = [{"order_id": f"o{i}", "user_id": f"z{i}", "ts": "2026-10-03T08:00:00Z", "amount": 100 + i,
                       "status": "paid"} for i in range(12)]
            r = svc.client.post("/api/v1/orders/batch", headers=svc.headers("ingest_key"), json={"orders": orders})
            assert r.json()["accepted"] == 12, r.text
            yield svc
    finally:
        if old is None:
            os.environ.pop("JINGYUN_EXPORT_ALERT_ROWS", None)
        else:
            os.environ["JINGYUN_EXPORT_ALERT_ROWS"] = old


def _values(svc: Service, who: str, by: str, metric: str = "gmv"):
    return svc.client.get(f"/api/v1/metrics/{metric}/values", headers=svc.headers(who),
                          params={"from": "2026-10-01", "to": "2026-10-31", "grain": "total", "by": by})


@pytest.mark.parametrize("by", ["users.phone", "users.email", "users.name", "users.address", "users.birth_date"])
def test_breakdown_by_a_sensitive_column_is_refused_for_masked_roles(planted: Service, by: str) -> None:
    for who in ("analyst", "read_key"):
        r = _values(planted, who, by)
        assert r.status_code == 403, (who, by, r.text[:200])
        assert r.json()["error"]["code"] == "sensitive_field" and r.json()["error"]["field"] == "by"
        assert "+86139" not in r.text


def test_raw_breakdown_is_audited_as_an_export_and_raises_the_bulk_alert(planted: Service) -> None:
    """A raw role's breakdown that lists personal values (12 contact lists with phones) is an export."""
    r = _values(planted, "manager", "properties.contacts", metric="dau")
    assert r.status_code == 200 and LIST_PHONE in r.text
    audit = planted.client.get("/api/v1/audit", headers=planted.headers("admin"), params={"action": "export"}).json()
    entries = [e for e in audit["items"] if e["target"] == "metric:dau"]
    assert entries and entries[0]["detail"]["by"] == "properties.contacts" and entries[0]["detail"]["rows"] == 12
    alerts = planted.client.get("/api/v1/admin/alerts", headers=planted.headers("admin")).json()
    assert any(a["kind"] == "bulk_export" for a in alerts["items"])
    # phones are encrypted at rest: no role can group by them (each value has its own nonce)
    sealed = _values(planted, "admin", "users.phone")
    assert sealed.status_code == 422 and sealed.json()["error"]["code"] == "encrypted_field"


def test_property_breakdown_values_are_masked_for_masked_roles(planted: Service) -> None:
    salt = planted.state.service.mask_salt
    for by in ("properties.contacts", "properties.note"):
        r = _values(planted, "analyst", by, metric="dau")
        assert r.status_code == 200, r.text
        for raw in (LIST_PHONE, LIST_EMAIL, LIST_ID, NOTE_PHONE):
            assert raw not in r.text, (by, raw)
    contacts = _values(planted, "analyst", "properties.contacts", metric="dau").json()["points"]
    assert pseudonym(LIST_PHONE, salt) in {json.loads(p["by_value"])[0]["phone"] for p in contacts}
    raw = _values(planted, "manager", "properties.contacts", metric="dau")
    assert LIST_PHONE in raw.text  # the raw role still sees them, so the test cannot pass on an empty answer


def test_lists_and_free_text_in_properties_are_masked_in_profiles(planted: Service) -> None:
    salt = planted.state.service.mask_salt
    body = planted.client.get("/api/v1/profiles/z0", headers=planted.headers("analyst"))
    assert body.status_code == 200
    for raw in (LIST_PHONE, LIST_EMAIL, LIST_ID, NOTE_PHONE):
        assert raw not in body.text, raw
    props = body.json()["recent_events"][0]["properties"]
    props = json.loads(props) if isinstance(props, str) else props
    assert props["note"] == f"call me at {pseudonym(NOTE_PHONE, salt)}"
    assert props["contacts"][0]["id_card"] == pseudonym(LIST_ID, salt)
    admin = planted.client.get("/api/v1/profiles/z0", headers=planted.headers("admin"))
    assert LIST_ID in admin.text and NOTE_PHONE in admin.text


def test_chinese_attribute_keys_are_personal_data(planted: Service) -> None:
    for url in ("/api/v1/users/z0", "/api/v1/profiles/z0"):
        for who in ("analyst", "specialist", "read_key"):
            r = planted.client.get(url, headers=planted.headers(who))
            if r.status_code == 403:
                continue
            assert r.status_code == 200 and r.json()["deidentified"] is True
            for raw in (*ZH.values(), "13811112222", "秘密路"):
                assert raw not in r.text, (url, who, raw)
    admin = planted.client.get("/api/v1/users/z0", headers=planted.headers("admin"))
    assert ZH["真实姓名"] in admin.text


def test_estimates_refuse_rules_that_pin_a_person(planted: Service) -> None:
    """Halving a birth-date range on one user_id recovered a birth date in 15 calls before."""
    pin = {"and": [{"attr": "user_id", "op": "eq", "value": "z3"},
                   {"attr": "birth_date", "op": "between", "value": ["1990-01-01", "1990-01-02"]}]}
    r = planted.client.post("/api/v1/audience/estimate", json={"rule": pin}, headers=planted.headers("specialist"))
    assert r.status_code == 403 and r.json()["error"]["code"] == "pins_person"
    assert r.json()["error"]["field"] == "rule.and[0].attr"
    born = {"attr": "birth_date", "op": "between", "value": ["1990-01-01", "1990-01-02"]}
    r = planted.client.post("/api/v1/audience/estimate", json={"rule": born}, headers=planted.headers("analyst"))
    assert r.status_code == 403 and r.json()["error"] == {**r.json()["error"], "code": "sensitive_field",
                                                          "field": "rule.attr"}
    by_neq = {"attr": "user_id", "op": "neq", "value": "z3"}  # differencing pins one person too
    assert planted.client.post("/api/v1/audience/estimate", json={"rule": by_neq},
                               headers=planted.headers("read_key")).status_code == 403
    phone_prop = {"event": "view_home", "where": [{"prop": "phone", "op": "eq", "value": "1"}]}
    r = planted.client.post("/api/v1/audience/estimate", json={"rule": phone_prop},
                            headers=planted.headers("specialist"))
    assert r.status_code == 403 and r.json()["error"]["field"] == "rule.where[0].prop"
    seg = planted.client.post("/api/v1/segments", headers=planted.headers("specialist"), json={
        "name": "one", "department": "growth", "rule": {"attr": "user_id", "op": "eq", "value": "z3"}})
    assert seg.status_code == 403
    admin = planted.client.post("/api/v1/audience/estimate", json={"rule": pin}, headers=planted.headers("admin"))
    assert admin.status_code == 200 and admin.json()["size"] == 0


def test_small_counts_read_below_ten_for_masked_roles_only(planted: Service) -> None:
    small = {"attr": "province", "op": "eq", "value": "上海市"}  # sent as 上海: stored under the official name
    large = {"attr": "province", "op": "eq", "value": "浙江省"}
    for who in ("specialist", "analyst", "read_key"):
        r = planted.client.post("/api/v1/audience/estimate", json={"rule": small}, headers=planted.headers(who)).json()
        assert (r["size"], r["share"], r["suppressed"]) == ("<10", None, True), who
        r = planted.client.post("/api/v1/audience/estimate", json={"rule": large}, headers=planted.headers(who)).json()
        assert (r["size"], r["universe"], r["suppressed"]) == (12, 15, False), who
    r = planted.client.post("/api/v1/audience/estimate", json={"rule": small}, headers=planted.headers("manager")).json()
    assert (r["size"], r["suppressed"]) == (3, False)
    seg = planted.client.post("/api/v1/segments", headers=planted.headers("admin"), json={
        "name": "sh", "department": "growth", "rule": {"province": "上海市"}}).json()
    sized = planted.client.get(f"/api/v1/segments/{seg['id']}/size", headers=planted.headers("specialist")).json()
    assert (sized["size"], sized["suppressed"]) == ("<10", True)
    assert planted.client.get(f"/api/v1/segments/{seg['id']}/size", headers=planted.headers("admin")).json()["size"] == 3
    # aggregate analyses stay exact for every role
    buyers = _values(planted, "analyst", "users.province", metric="buyers").json()["points"]
    assert {p["by_value"]: p["value"] for p in buyers}["浙江省"] == 12


def test_export_and_api_give_one_pseudonym_for_one_phone(planted: Service, tmp_path: Path) -> None:
    """The CLI / segment export hashed with its own `.salt` file and no normalisation before."""
    api = planted.client.get("/api/v1/users/z0", headers=planted.headers("analyst")).json()["user"]["phone"]
    assert api == pseudonym(PHONE, planted.state.service.mask_salt)
    salt = salt_for(planted.settings)
    assert salt == planted.state.service.mask_salt
    reader = planted.state.writer.reader()
    try:
        saved.create(reader, SavedSegment("zj0", {"attr": "province", "op": "eq", "value": "浙江省"}))
        out = tmp_path / "zj.csv"
        saved.export(reader, "zj0", out, mask=Masker(salt))
    finally:
        reader.close()
    text = out.read_text(encoding="utf-8-sig")
    assert api in text and PHONE not in text
