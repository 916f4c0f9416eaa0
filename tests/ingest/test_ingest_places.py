"""Users' province and city hold official names after ingestion: short forms, abbreviations and
combined texts merge into one group; the text as given stays in attributes; unknown places are
kept as given and counted, never quarantined."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from pathlib import Path

from jingyun.demo.build import generate_and_write
from jingyun.demo.params import DemoParams
from jingyun.ingest import ingest_file
from jingyun.warehouse import Warehouse

ROWS = [  # user_id, province, city → official province, city
    ("u1", "广东", "深圳", "广东省", "深圳市"),
    ("u2", "广东省", "深圳市", "广东省", "深圳市"),
    ("u3", "粤", "", "广东省", None),
    ("u4", "广东省广州市", "", "广东省", "广州市"),
    ("u5", "", "深圳", "广东省", "深圳市"),
    ("u6", "上海", "上海", "上海市", "上海市"),
    ("u7", "火星", "奥林匹斯", "火星", "奥林匹斯"),  # unknown: kept as given, counted
    ("u8", "浙江", "杭州", "浙江省", "杭州市"),
    ("u9", "", "", None, None),
]


def test_users_places_are_official_names_with_the_raw_text_kept(wh: Warehouse, files: Path) -> None:
    path = files / "crm.csv"
    path.write_text("user_id,province,city\n" + "".join(f"{u},{p},{c}\n" for u, p, c, *_ in ROWS), encoding="utf-8")
    report = ingest_file(wh, "users", path)
    assert (report.received, report.stored, report.quarantined) == (9, 9, 0)
    assert report.unknown_places == {"province": 1, "city": 1}
    assert report.to_dict()["unknown_places"] == {"city": 1, "province": 1}
    got = {u: (p, c, json.loads(a)) for u, p, c, a in wh.rows("SELECT user_id, province, city, attributes FROM users")}
    for user, _, _, province, city in ROWS:
        assert got[user][:2] == (province, city), user
    assert got["u1"][2] == {"province_raw": "广东", "city_raw": "深圳"}
    assert got["u2"][2] == {} and got["u7"][2] == {}  # already official / unknown: nothing to keep
    assert got["u4"][2] == {"province_raw": "广东省广州市"}
    assert wh.rows("SELECT province, count(*) FROM users WHERE province LIKE '广东%' GROUP BY ALL") == [("广东省", 5)]


def test_demo_province_counts_merge(wh: Warehouse, tmp_path: Path) -> None:
    """The demo's CRM export with some places typed short, as a real CRM has them: the stored
    province and city counts equal those of the clean export, counted independently by csv."""
    demo_dir = tmp_path / "demo"
    _, _, _, _ = generate_and_write(DemoParams(users=600, days=30, seed=5), demo_dir)
    crm = demo_dir / "sources" / "crm" / "users.csv"
    text = crm.read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    clean_provinces = Counter(r["省份"] for r in rows)
    clean_cities = Counter(r["城市"] for r in rows)
    shortened = 0
    for i, r in enumerate(rows):
        if i % 7 == 0 and r["省份"].endswith("省"):
            r["省份"], shortened = r["省份"][:-1], shortened + 1
        if i % 5 == 0 and r["城市"] == "深圳市":
            r["城市"] = "深圳"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    crm.write_text(out.getvalue(), encoding="utf-8")
    assert shortened > 10
    report = ingest_file(wh, "users", crm, mapping=demo_dir / "sources" / "crm" / "mapping.yaml")
    assert report.reconciles and report.stored == len(rows) and report.unknown_places == {}
    stored_provinces = dict(wh.rows("SELECT province, count(*) FROM users GROUP BY ALL"))
    stored_cities = dict(wh.rows("SELECT city, count(*) FROM users GROUP BY ALL"))
    assert stored_provinces == dict(clean_provinces) and "广东" not in stored_provinces
    assert stored_cities == dict(clean_cities) and "深圳" not in stored_cities
