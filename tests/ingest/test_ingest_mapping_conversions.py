"""Mapping conversions for the formats Chinese exports use: 男/女, ¥ amounts with 元/万, Chinese
dates and Excel serials. Each converted value is checked against an independent Python reading;
a value a conversion cannot read is quarantined with its line and field, never dropped."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from jingyun.errors import JingyunError
from jingyun.ingest import ingest_file
from jingyun.ingest import quarantine as q
from jingyun.ingest.mapping import load_mapping, parse_mapping
from jingyun.schema.tables import get_table
from jingyun.warehouse import Warehouse

MAPPING = {
    "columns": {
        "订单号": "order_id", "会员": "user_id", "状态": "status",
        "下单时间": {"to": "ts", "convert": "datetime"},
        "实付": {"to": "amount", "convert": "amount"},
    },
}
SH = ZoneInfo("Asia/Shanghai")
# (source time, source amount, expected UTC time or None when bad, expected amount or None when bad)
ROWS = [
    ("2026年10月1日", "¥1,234.50", dt.datetime(2026, 10, 1, 0, 0, tzinfo=SH), Decimal("1234.50")),
    ("2026年10月1日 9:00", "1234.5元", dt.datetime(2026, 10, 1, 9, 0, tzinfo=SH), Decimal("1234.50")),
    ("2026/10/1 9:00", "¥1.2万", dt.datetime(2026, 10, 1, 9, 0, tzinfo=SH), Decimal("12000.00")),
    ("2026-10-1 21:05:07", "￥1.25万元", dt.datetime(2026, 10, 1, 21, 5, 7, tzinfo=SH), Decimal("12500.00")),
    ("46296.375", "RMB 88", dt.datetime(2026, 10, 1, 9, 0, tzinfo=SH), Decimal("88.00")),  # an Excel serial
    ("2026年10月1日下午3点", "0.5万", dt.datetime(2026, 10, 1, 15, 0, tzinfo=SH), Decimal("5000.00")),
    ("2026年10月2日9时30分", "1,000", dt.datetime(2026, 10, 2, 9, 30, tzinfo=SH), Decimal("1000.00")),
    ("2026-10-01T09:00:00+08:00", "12", dt.datetime(2026, 10, 1, 9, 0, tzinfo=SH), Decimal("12.00")),
    ("2026年13月1日", "10", None, Decimal("10.00")),  # line 10: no 13th month
    ("2026年10月1日", "十块", dt.datetime(2026, 10, 1, tzinfo=SH), None),  # line 11: not an amount
]


def test_orders_with_chinese_formats_convert_or_quarantine(wh: Warehouse, files: Path) -> None:
    mpath = files / "erp.yaml"
    mpath.write_text(yaml.safe_dump(MAPPING, allow_unicode=True), encoding="utf-8")
    path = files / "orders.csv"
    lines = ["订单号,会员,状态,下单时间,实付"] + [f'o{i},u1,paid,{t},"{a}"' for i, (t, a, *_) in enumerate(ROWS, start=1)]
    path.write_bytes(("\n".join(lines) + "\n").encode("gb18030"))  # as an ERP saves it (¥ is not in GBK)
    report = ingest_file(wh, "orders", path, mapping=mpath)
    assert (report.received, report.stored, report.quarantined) == (10, 8, 2) and report.reconciles
    assert report.reasons == {"bad_timestamp:ts": 1, "wrong_type:amount": 1}
    _, rows = q.list_rows(wh)
    assert sorted((r.line, r.reason, r.field) for r in rows) == [(10, "bad_timestamp", "ts"), (11, "wrong_type", "amount")]
    stored = {oid: (ts, amount) for oid, ts, amount in wh.rows("SELECT order_id, ts, amount FROM orders")}
    for i, (_, _, when, amount) in enumerate(ROWS, start=1):
        if when is None or amount is None:
            assert f"o{i}" not in stored
            continue
        expected = when.astimezone(dt.UTC).replace(tzinfo=None)
        assert stored[f"o{i}"] == (expected, amount), i


def test_gender_and_birth_dates_for_users(wh: Warehouse, files: Path) -> None:
    mapping = parse_mapping({"columns": {"性别": {"to": "gender", "convert": "gender"},
                                         "生日": {"to": "birth_date", "convert": "datetime"}, "编号": "user_id"}})
    path = files / "crm.csv"
    words = ["男", "女", "男性", "女士", "保密", "未知", "M", "f", "先生", "小姐", "外星人"]
    births = ["1990年1月2日", "1990/1/2", "32875", "1990-01-02", "1990年1月2日", "1990.1.2", "32875", "1990年1月2日",
              "1990年1月2日", "1990年1月2日", "1990年1月2日"]
    path.write_text("编号,性别,生日\n" + "".join(f"u{i},{g},{b}\n" for i, (g, b) in enumerate(zip(words, births, strict=True))),
                    encoding="utf-8")
    report = ingest_file(wh, "users", path, mapping=mapping)
    # every birth date read (a bad one would be bad_date:birth_date); the unknown gender quarantined
    assert (report.stored, report.quarantined, dict(report.reasons)) == (10, 1, {"unknown_enum:gender": 1})
    _, rows = q.list_rows(wh)
    assert [(r.line, r.field) for r in rows] == [(12, "gender")]
    got = dict(wh.rows("SELECT user_id, gender FROM users"))
    assert [got[f"u{i}"] for i in range(10)] == ["male", "female", "male", "female", "unknown", "unknown", "male",
                                                  "female", "male", "female"]


def test_dates_convert_on_a_date_column(wh: Warehouse, files: Path) -> None:
    mapping = parse_mapping({"columns": {"上架日期": {"to": "launched_at", "convert": "datetime"}}})
    path = files / "products.csv"
    days = ["2026年10月1日", "2026/10/1", "46296", "2026.10.1", "2026年10月1日 23:59", "2026年2月30日"]
    path.write_text("product_id,category,price,上架日期\n" + "".join(f"p{i},tea,9.9,{d}\n" for i, d in enumerate(days)),
                    encoding="utf-8")
    report = ingest_file(wh, "products", path, mapping=mapping)
    assert (report.stored, dict(report.reasons)) == (5, {"bad_date:launched_at": 1})
    assert wh.rows("SELECT DISTINCT CAST(launched_at AS VARCHAR) FROM products") == [("2026-10-01",)]


def test_conversions_are_checked_against_the_column(files: Path) -> None:
    with pytest.raises(JingyunError) as err:
        parse_mapping({"columns": {"x": {"to": "ts", "convert": "lunar"}}})
    assert err.value.field == "columns.x.convert"
    with pytest.raises(JingyunError) as err:
        parse_mapping({"columns": {"x": {"to": "ts", "convert": "datetime", "format": "%Y"}}})
    assert err.value.field == "columns.x.convert"
    with pytest.raises(JingyunError) as err:
        parse_mapping({"columns": {"x": {"to": "user_id", "convert": "amount"}}}).check_against(get_table("orders"))
    assert err.value.field == "columns.x.convert" and "user_id" in err.value.message
    # the YAML form round-trips (a quarantined record replays through the same mapping)
    path = files / "m.yaml"
    path.write_text(yaml.safe_dump(MAPPING, allow_unicode=True), encoding="utf-8")
    mapping = load_mapping(path)
    assert parse_mapping(mapping.to_dict()) == mapping
    assert mapping.rules["实付"].convert == "amount"
