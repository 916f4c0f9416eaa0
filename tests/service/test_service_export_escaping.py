"""Issue 15, finding 8: no formula reaches a spreadsheet from any CSV or Excel export.

Each exporter is fed a value an attacker controls (a user name, a customer's name) of
``=HYPERLINK("http://x","y")`` and read back the way a spreadsheet would: the text must start
with a single quote, and numbers (negative ones too) must stay numbers."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from openpyxl import load_workbook
from service_support import Service, build_service

from jingyun.config import load_settings
from jingyun.security.exports import safe_cell
from jingyun.segments import saved
from jingyun.segments.common import ensure_segment_tables
from jingyun.segments.store import SavedSegment
from jingyun.warehouse import Warehouse
from jingyun.web.panels import Column, PanelData, Table
from jingyun.web.routes.common import _csv, _xlsx

EVIL = '=HYPERLINK("http://x","y")'
NASTY = [EVIL, "+1-2", "-2+3", "@SUM(A1:A9)", "\tcmd", "\r=1"]


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    yield from build_service(tmp_path_factory.mktemp("exports"))


def test_safe_cell_escapes_text_only() -> None:
    assert [safe_cell(v) for v in NASTY] == ["'" + v for v in NASTY]
    assert [safe_cell(v) for v in (-5, -2.5, 0, True, None, dt.date(2026, 1, 1))] == [-5, -2.5, 0, True, None,
                                                                                      dt.date(2026, 1, 1)]
    assert [safe_cell(v) for v in ("张三", "a=b", "1-2", "", "'=already")] == ["张三", "a=b", "1-2", "", "'=already"]


def test_audit_export_escapes_a_hostile_username(svc: Service) -> None:
    r = svc.client.post("/api/v1/auth/login", json={"username": EVIL, "password": "wrong-password-123"})
    assert r.status_code in (401, 429)
    export = svc.client.get("/api/v1/audit/export", headers=svc.headers("admin"))
    assert export.status_code == 200, export.text
    rows = list(csv.reader(io.StringIO(export.text)))
    actors = [row[rows[0].index("actor")] for row in rows[1:]]
    assert "'" + EVIL in actors and EVIL not in actors
    assert all(row[0].isdigit() for row in rows[1:])  # the ids stay numbers
    for row in rows[1:]:
        assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row), row


def _panel() -> PanelData:
    rows: list[list[object]] = [[v, -5, -2.5] for v in NASTY] + [["张三", 3, 1.5]]
    return PanelData(title="t", table=Table([Column("name"), Column("n", "int"), Column("x", "num")], rows))


def test_console_panel_csv_and_excel_escape_text_and_keep_numbers() -> None:
    text = _csv(_panel()).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert [r[0] for r in rows[1:]] == ["'" + v for v in NASTY] + ["张三"]
    assert {r[1] for r in rows[1:-1]} == {"-5"} and {r[2] for r in rows[1:-1]} == {"-2.5"}
    sheet = load_workbook(io.BytesIO(_xlsx(_panel()))).active
    assert sheet is not None
    values = list(sheet.iter_rows(values_only=True))
    # XML stores a carriage return as a line feed
    assert [v[0] for v in values[1:]] == ["'" + v.replace("\r", "\n") for v in NASTY] + ["张三"]
    assert all(v[1] == -5 and v[2] == -2.5 for v in values[1:-1])  # typed numbers, not text
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)  # no formula cell at all


@pytest.fixture
def segment_wh(tmp_path: Path) -> Iterator[Warehouse]:
    wh = Warehouse.open(load_settings(tmp_path / "home"))
    ensure_segment_tables(wh)
    rows = [{"user_id": "a", "person_id": "a", "name": EVIL, "city": "-1+2", "province": "浙江省", "is_test": False,
             "registered_at": dt.datetime(2026, 1, 1), "_ingested_at": dt.datetime(2026, 1, 1)},
            {"user_id": "b", "person_id": "b", "name": "@cmd", "city": "杭州", "province": "浙江省", "is_test": False,
             "registered_at": dt.datetime(2026, 1, 1), "_ingested_at": dt.datetime(2026, 1, 1)}]
    wh.con.register("_rows", pa.Table.from_pylist(rows))
    wh.con.execute(f"INSERT INTO users BY NAME SELECT {', '.join(rows[0])} FROM _rows")
    wh.con.unregister("_rows")
    saved.create(wh, SavedSegment("zj", {"attr": "province", "op": "eq", "value": "浙江省"}))
    yield wh
    wh.close()


def test_segment_exports_escape_names(segment_wh: Warehouse, tmp_path: Path) -> None:
    out = tmp_path / "zj.csv"
    assert saved.export(segment_wh, "zj", out, mask=None, as_of=dt.datetime(2026, 6, 1)) == 2
    with out.open(encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["name"], r["city"]) for r in rows] == [("'" + EVIL, "'-1+2"), ("'@cmd", "杭州")]
    xlsx = tmp_path / "zj.xlsx"
    saved.export(segment_wh, "zj", xlsx, mask=None, as_of=dt.datetime(2026, 6, 1))
    sheet = load_workbook(xlsx).active
    assert sheet is not None
    values = list(sheet.iter_rows(values_only=True))
    name = values[0].index("name")
    assert [v[name] for v in values[1:]] == ["'" + EVIL, "'@cmd"]
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)
