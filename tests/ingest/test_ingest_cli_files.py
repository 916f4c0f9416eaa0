"""`jingyun ingest` with --encoding and --sheet: the report names the encoding, errors are one line, exit 2."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from openpyxl import Workbook

from jingyun.cli.main import main


def test_cli_encoding_and_sheet(home: Path, files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gbk = files / "会员.csv"
    gbk.write_bytes("user_id,province,city\nu1,广东,深圳\nu2,浙江省,杭州市\nu3,火星,\n".encode("gbk"))
    assert main(["ingest", "users", str(gbk), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["received"], out["stored"], out["reconciles"]) == (3, 3, True)
    assert out["encodings"] == {str(gbk): "gb18030"} and out["unknown_places"] == {"province": 1}
    assert main(["ingest", "users", str(gbk), "--encoding", "shift-jis-x"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "shift-jis-x" in err and len(err.strip().splitlines()) == 1

    book = Workbook()
    book.active.append(["说明"])
    ws = book.create_sheet("订单")
    ws.append(["order_id", "user_id", "ts", "amount", "status"])
    ws.append(["o1", "u1", dt.datetime(2026, 10, 1, 9), 19.9, "paid"])
    ws.append(["o2", "u1", "不是时间", 5, "paid"])
    path = files / "orders.xlsx"
    book.save(path)
    assert main(["ingest", "orders", str(path), "--sheet", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["stored"], out["quarantined"], out["reasons"]) == (1, 1, {"bad_timestamp:ts": 1})
    assert main(["ingest", "orders", str(path), "--sheet", "客户"]) == 2
    assert "订单" in capsys.readouterr().err
    assert main(["ingest", "orders", str(path), "--sheet", "订单"]) == 0  # the readable table
    assert "duplicates" in capsys.readouterr().out
