"""Excel workbooks: the first sheet or a chosen one, Excel row numbers in the quarantine,
dates and numbers as Excel holds them."""

from __future__ import annotations

import datetime as dt
import decimal
from pathlib import Path

import pytest
from openpyxl import Workbook

from jingyun.errors import JingyunError
from jingyun.ingest import ingest_file
from jingyun.ingest import quarantine as q
from jingyun.ingest.excel import cell_text
from jingyun.ingest.readers import detect_format
from jingyun.warehouse import Warehouse


def orders_book(path: Path) -> Path:
    book = Workbook()
    cover = book.active
    cover.title = "说明"
    cover.append(["这个工作表只有说明"])
    ws = book.create_sheet("订单")
    ws.append(["order_id", "user_id", "ts", "amount", "status", "备注"])
    for i in range(1, 21):
        ws.append([f"o{i}", f"u{i % 4}", dt.datetime(2026, 10, 1, 9, i), 100 + i / 4, "paid", f"第{i}单"])
    ws.cell(row=5, column=3, value="昨天")  # order o4: not a time
    ws.cell(row=9, column=4, value=-5)  # order o8: negative money
    ws.cell(row=12, column=7, value="多出来的")  # order o11: a value beyond the header
    ws.append([])  # row 22 empty, skipped
    ws.append([None] * 6)
    ws.append(["o21", "u1", dt.date(2026, 10, 2), 0.1 + 0.2, "paid", None])  # row 24
    book.save(path)
    return path


def test_cell_text_is_exact() -> None:
    assert [cell_text(v) for v in (12.0, 1234.5, 0.1 + 0.2, 7, True, None, dt.date(2026, 10, 1))] == [
        "12", "1234.5", "0.30000000000000004", "7", "true", "", "2026-10-01"]
    assert cell_text(dt.datetime(2026, 10, 1, 9, 0, 5)) == "2026-10-01 09:00:05"


def test_xlsx_sheet_by_name_and_number_reconciles_with_row_numbers(wh: Warehouse, files: Path) -> None:
    path = orders_book(files / "订单导出.xlsx")
    assert detect_format(path) == "xlsx"
    report = ingest_file(wh, "orders", path, sheet="订单")
    assert (report.received, report.stored, report.duplicates, report.quarantined) == (21, 18, 0, 3)
    assert report.reconciles and report.encodings == {}
    assert report.reasons == {"bad_timestamp:ts": 1, "negative_amount:amount": 1, "extra_cells": 1}
    _, rows = q.list_rows(wh)
    assert sorted((r.line, r.reason) for r in rows) == [(5, "bad_timestamp"), (9, "negative_amount"), (12, "extra_cells")]
    # Excel's wall-clock 09:01 in the workspace zone (Asia/Shanghai) is 01:01 UTC; numbers exact
    got = dict(wh.rows("SELECT order_id, strftime(ts, '%Y-%m-%d %H:%M') || ' ' || CAST(amount AS VARCHAR) FROM orders"))
    assert got["o1"] == "2026-10-01 01:01 100.25"
    assert got["o21"] == "2026-10-01 16:00 0.30"
    assert wh.rows("SELECT sum(amount) FROM orders")[0][0] == sum(
        (decimal.Decimal(str(round(100 + i / 4, 2))) for i in range(1, 21) if i not in (4, 8, 11)), decimal.Decimal("0.30"))
    assert wh.rows("SELECT attributes->>'备注' FROM orders WHERE order_id = 'o2'") == [("第2单",)]
    # by number (from 1) the same sheet: everything is now a duplicate or already quarantined
    again = ingest_file(wh, "orders", path, sheet="2")
    assert (again.received, again.stored, again.duplicates, again.quarantined) == (21, 0, 18, 3)
    assert q.list_rows(wh)[0] == 3


def test_xlsx_first_sheet_by_default_and_clear_errors(wh: Warehouse, files: Path) -> None:
    path = orders_book(files / "book.xlsx")
    with pytest.raises(JingyunError) as err:
        ingest_file(wh, "orders", path, sheet="客户")
    assert err.value.code == "bad_sheet" and err.value.field == "sheet" and "订单" in err.value.message
    # the first sheet (a note, no records) is the default: nothing to load, nothing lost
    report = ingest_file(wh, "orders", path)
    assert (report.received, report.stored, report.quarantined) == (0, 0, 0)
    broken = files / "broken.xlsx"
    broken.write_bytes(b"not a zip")
    with pytest.raises(JingyunError) as err:
        ingest_file(wh, "orders", broken)
    assert err.value.code == "bad_file"
    with pytest.raises(JingyunError) as err:
        detect_format(files / "old.xls")
    assert err.value.code == "bad_format" and ".xlsx" in err.value.message
