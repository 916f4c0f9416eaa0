"""The planted person for the role × route × sensitive-field matrix (tests/service/test_service_pii_matrix.py).

One person whose personal values are distinctive enough to grep for in any response body: in
the schema's sensitive columns, in JSON attributes under English and Chinese keys, in a list
inside event properties, and in free text. Around them, enough other people, events and orders
that every analysis returns rows. Everything goes in through the ingestion API, as a gateway
would send it; the service is the API with the console mounted, one person per role.
"""

from __future__ import annotations

import contextlib
import html
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from service_support import PASSWORD

from jingyun.api import create_app
from jingyun.api.app import app_state
from jingyun.config import load_settings
from jingyun.security import auth

PLANTED_ID = "planted-001"
EXPERIMENT = "pii_matrix_exp"
SAVED_SEGMENT = "pii_gold"
DAYS = [f"2024-05-{d:02d}" for d in range(1, 22)]  # three weeks: enough for the daily anomaly model
RANGE = ("2024-05-01", "2024-05-31")

# field -> every form its raw value could take in a body (with/without +86, digits only, parts)
NEEDLES: dict[str, tuple[str, ...]] = {
    "users.phone": ("+8613912345678", "13912345678"),
    "users.email": ("planted.person@example.com", "planted.person"),
    "users.name": ("王秘密",),
    "users.address": ("浙江省杭州市西湖区秘密路88号", "秘密路"),
    "users.birth_date": ("1991-07-13", "19910713", "1991/07/13"),
    "attributes.id_card": ("330106199107131234",),
    "attributes.联系电话": ("+8613811112222", "13811112222"),
    "attributes.收货地址": ("江苏省南京市鼓楼区暗号街7号", "暗号街"),
    "attributes.真实姓名": ("赵隐名",),
    "attributes.身份证号": ("320106198502021236",),
    "properties.note": ("13655556666",),
    "properties.contacts[].phone": ("+8613700001111", "13700001111"),
    "properties.contacts[].email": ("list.person@example.com", "list.person"),
    "properties.contacts[].id_card": ("110101199001011237",),
}
# what a raw role must see on the profile (the positive control)
PROFILE_FIELDS = ("users.phone", "users.email", "users.name", "users.address", "users.birth_date",
                  "attributes.联系电话", "attributes.真实姓名", "properties.note", "properties.contacts[].phone")

_ATTRS = {"id_card": "330106199107131234", "联系电话": "+8613811112222", "收货地址": "江苏省南京市鼓楼区暗号街7号",
          "真实姓名": "赵隐名", "身份证号": "320106198502021236"}
_PROPS = {"note": "call me at 13655556666",
          "contacts": [{"phone": "+8613700001111", "email": "list.person@example.com", "id_card": "110101199001011237"}],
          "联系电话": "+8613811112222", "真实姓名": "赵隐名"}
PEOPLE = {"specialist": ("spec_a", ["growth"]), "analyst": ("ana", []), "manager": ("mgr_a", ["growth"]),
          "admin": ("root", [])}
CHANNELS = ("app", "web", "store", "mini_program")
PROVINCES = ("浙江省", "上海", "江苏省", "广东省")


def users() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{
        "user_id": PLANTED_ID, "registered_at": "2024-04-20T02:00:00Z", "channel": "app", "name": "王秘密",
        "phone": "+8613912345678", "email": "planted.person@example.com", "gender": "female",
        "birth_date": "1991-07-13", "province": "浙江省", "city": "杭州", "address": "浙江省杭州市西湖区秘密路88号",
        "member_level": "gold", "attributes": _ATTRS}]
    for i in range(1, 30):
        out.append({"user_id": f"other-{i:03d}", "registered_at": f"2024-04-{1 + i % 28:02d}T03:00:00Z",
                    "channel": CHANNELS[i % 4], "name": f"顾客{i}", "phone": f"+86135{i:08d}",
                    "email": f"customer{i}@shop.test", "gender": ("male", "female")[i % 2],
                    "birth_date": f"19{70 + i}-0{1 + i % 9}-1{i % 10}", "province": PROVINCES[i % 4],
                    "city": "某市", "address": f"{PROVINCES[i % 4]}某市某路{i}号",
                    "member_level": ("gold", "silver", "regular")[i % 3], "attributes": {"source": "crm"}})
    return out


def events() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for u in users():
        uid, planted = u["user_id"], u["user_id"] == PLANTED_ID
        for d, day in enumerate(DAYS):
            if not planted and d % 2 == int(uid[-1]) % 2:
                continue
            steps = ["app_start", "view_product", "add_to_cart", "checkout", "pay"][: 2 + (d + len(uid)) % 4]
            for s, event in enumerate(steps):
                props: dict[str, Any] = {"sku": f"sku-{d % 3}"}
                if planted and event in ("view_product", "add_to_cart"):
                    props |= _PROPS
                out.append({"event_id": f"e-{uid}-{d}-{s}", "user_id": uid, "event": event,
                            "ts": f"{day}T0{2 + s}:00:00Z", "platform": ("app", "web")[d % 2], "properties": props})
        out.append({"event_id": f"x-{uid}", "user_id": uid, "event": "exp_exposure", "ts": "2024-05-02T01:00:00Z",
                    "platform": "app",
                    "properties": {"experiment": EXPERIMENT, "variation": ("control", "treatment")[len(out) % 2]}})
    return out


def orders() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for n, u in enumerate(users()):
        for k, day in enumerate(DAYS[1::4]):
            attrs = {"收货地址": _ATTRS["收货地址"], "真实姓名": _ATTRS["真实姓名"]} if u["user_id"] == PLANTED_ID else {}
            out.append({"order_id": f"o-{u['user_id']}-{k}", "user_id": u["user_id"], "ts": f"{day}T06:00:00Z",
                        "amount": 50 + 7 * n + 11 * k, "channel": CHANNELS[(n + k) % 4], "status": "paid",
                        "payment_method": "alipay", "attributes": attrs})
    return out


def search(text: str) -> list[str]:
    """Every needle form found in ``text`` (already decoded), as ``field=form``."""
    # digits split by spaces or hyphens (139 1234 5678) count as the number
    collapsed = re.sub(r"(?<=\d)[ \-](?=\d)", "", text)
    return [f"{field}={form}" for field, forms in NEEDLES.items() for form in forms
            if form in text or form in collapsed]


def body_text(r: httpx.Response) -> str:
    """A response as every reader of it would see it: JSON unescaped, HTML entities and URL escapes
    decoded, CSV without its BOM, Excel cells read."""
    ctype = r.headers.get("content-type", "")
    if "spreadsheetml" in ctype:
        from openpyxl import load_workbook

        wb = load_workbook(io.BytesIO(r.content), read_only=True)
        return "\n".join(str(v) for ws in wb.worksheets for row in ws.iter_rows(values_only=True)
                         for v in row if v is not None)
    text = r.content.decode("utf-8-sig", errors="replace")
    parts = [text, html.unescape(text), unquote(text)]
    if "json" in ctype:
        with contextlib.suppress(ValueError):
            parts.append(json.dumps(r.json(), ensure_ascii=False))
    return "\n".join(parts)


@dataclass
class Planted:
    app: FastAPI
    client: TestClient
    tokens: dict[str, str]  # role / read_key / ingest_key -> bearer token or API key
    segment_id: int  # a department segment (growth) that holds the planted person
    qid: int | None  # a quarantined record carrying the planted phone

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def console(self, role: str) -> TestClient:
        """A fresh client signed in through the console's login form (the session cookie)."""
        c = TestClient(self.app, raise_server_exceptions=False)
        r = c.post("/console/login", data={"username": PEOPLE[role][0], "password": PASSWORD}, follow_redirects=False)
        assert r.status_code == 303, r.text
        return c


def _ingest(client: TestClient, path: str, key: str, records: list[Any], headers: dict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {key: records}
    r = client.post(path, json=body, headers=headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


def build_planted(home: Path) -> Iterator[Planted]:
    from jingyun.experiments.registry import experiment_from_dict, save_experiment
    from jingyun.segments import saved
    from jingyun.segments.store import SavedSegment
    from jingyun.web import mount

    # example.com marks test accounts by default, and analyses leave test accounts out: the planted
    # person is a customer here, so every analysis that could leak them counts them
    (home / "jingyun.toml").write_text('test_email_domains = ["test.jingyun.dev"]\n', encoding="utf-8")
    settings = load_settings(home)
    app = create_app(settings)
    mount(app, settings)
    state = app_state(app)
    tokens: dict[str, str] = {}
    for role, (username, deps) in PEOPLE.items():
        auth.create_person(state.store, username=username, password=PASSWORD, role=role, departments=deps,
                           service=state.service)
        tokens[role] = auth.issue_token(state.service, username)
    tokens["ingest_key"] = auth.create_api_key(state.store, name="gw", scope="ingest")[1]
    tokens["read_key"] = auth.create_api_key(state.store, name="bi", scope="read", role="analyst")[1]
    save_experiment(settings, experiment_from_dict({"key": EXPERIMENT, "name": "PII matrix", "status": "running",
                                                    "start": "2024-05-01T00:00:00Z", "conversion_event": "pay"}))
    # a 5xx is an answer the walk records and reports with the rest, not an exception that stops it
    with TestClient(app, raise_server_exceptions=False) as client:
        ingest = {"Authorization": f"Bearer {tokens['ingest_key']}"}
        all_users = users()
        sync = client.post(
            "/api/v1/user/sync", json={"user_ids": [u["user_id"] for u in all_users], "data_source": "CRM",
                                       "timestamp": "2024-04-30T00:00:00Z", "users": all_users}, headers=ingest).json()
        assert sync["accepted"] == len(all_users), sync
        evs = events()
        for i in range(0, len(evs), 1000):
            assert _ingest(client, "/api/v1/events/batch", "events", evs[i:i + 1000], ingest)["rejected"] == 0
        assert _ingest(client, "/api/v1/orders/batch", "orders", orders(), ingest)["rejected"] == 0
        # a record that fails validation lands in quarantine with its raw payload
        bad = _ingest(client, "/api/v1/events/batch", "events",
                      [{"user_id": PLANTED_ID, "event": "view_product", "ts": "not a time",
                        "properties": {"phone": "+8613912345678"}}], ingest)
        assert bad["rejected"] == 1, bad
        admin = {"Authorization": f"Bearer {tokens['admin']}"}
        seg = client.post("/api/v1/segments", json={"name": "gold growth", "department": "growth",
                                                     "rule": {"member_level": "gold"}}, headers=admin)
        assert seg.status_code == 201, seg.text
        q = client.get("/api/v1/quarantine", headers=admin).json()
        items = q.get("items") or []
        qid = int(items[0]["qid"]) if items else None
        with state.writer.lock:
            saved.create(state.writer.wh, SavedSegment(SAVED_SEGMENT, {"attr": "member_level", "op": "eq",
                                                                        "value": "gold"}, zh="金卡", en="Gold",
                                                       owner="mgr_a"))
            saved.refresh(state.writer.wh, SAVED_SEGMENT)
        yield Planted(app, client, tokens, int(seg.json()["id"]), qid)
