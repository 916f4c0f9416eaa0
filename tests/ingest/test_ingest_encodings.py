"""Files in the encodings people have: GBK/GB18030 as Excel saves CSV, UTF-8 with a BOM, UTF-16.
Each ingests with exact reconciliation and line numbers; the encoding used is in the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jingyun.errors import JingyunError
from jingyun.ingest import encoding, ingest_file
from jingyun.ingest import quarantine as q
from jingyun.warehouse import Warehouse

HEADER = "user_id,member_level,gender,province,city,registered_at\n"


def users_csv(n: int = 40) -> str:
    rows = [f"u{i},张三{i},{'男' if i % 2 else '女'},广东省,深圳市,2026-10-01 09:00:00\n" for i in range(1, n + 1)]
    rows[4] = "u5,李四,男,浙江省,杭州市,不是时间\n"  # line 6: a bad timestamp
    rows[9] = "u10,王五,女\n"  # line 11: too few fields
    return HEADER + "".join(rows)


def test_detect_decides_once_from_the_head() -> None:
    text = users_csv()
    assert encoding.detect(text.encode("gbk")) == "gb18030"
    assert encoding.detect(text.encode("gb18030")) == "gb18030"
    assert encoding.detect(text.encode("utf-8")) == "utf-8"
    assert encoding.detect(b"\xef\xbb\xbf" + text.encode("utf-8")) == "utf-8"
    assert encoding.detect(text.encode("utf-16")) == "utf-16"
    assert encoding.detect(b"user_id,gender\nu1," + "男".encode("gbk") + b"\n") == "gb18030"  # short: not Big5
    # a UTF-8 file with one junk line stays UTF-8 (that line is quarantined, the rest read)
    junk = text.encode("utf-8") + b"u99,\xff\xfe,x,y,z,w\n"
    assert encoding.detect(junk) == "utf-8"
    assert encoding.detect(b"a,b\n1,2\n") == "utf-8"


@pytest.mark.parametrize("codec", ["gbk", "gb18030", "utf-8-sig", "utf-16"])
def test_a_csv_in_each_encoding_ingests_with_exact_reconciliation(wh: Warehouse, files: Path, codec: str) -> None:
    path = files / f"users_{codec}.csv"
    path.write_bytes(users_csv().encode(codec))
    report = ingest_file(wh, "users", path)
    assert (report.received, report.stored, report.duplicates, report.quarantined) == (40, 38, 0, 2)
    assert report.reconciles
    assert report.reasons == {"bad_timestamp:registered_at": 1, "malformed_csv_row": 1}
    assert report.encodings == {str(path): {"gbk": "gb18030", "utf-8-sig": "utf-8"}.get(codec, codec)}
    _, rows = q.list_rows(wh)
    assert sorted((r.line, r.reason) for r in rows) == [(6, "bad_timestamp"), (11, "malformed_csv_row")]
    bad_ts = next(r for r in rows if r.line == 6)
    assert json.loads(str(bad_ts.raw))["member_level"] == "李四"  # the payload is readable text, not mojibake
    got = dict(wh.rows("SELECT user_id, member_level FROM users WHERE user_id IN ('u1', 'u40')"))
    assert got == {"u1": "张三1", "u40": "张三40"}
    assert wh.rows("SELECT count(*) FROM users WHERE gender = 'male'") == [(19,)]


def test_gbk_file_read_as_utf8_is_quarantined_row_by_row_and_an_override_wins(wh: Warehouse, files: Path) -> None:
    path = files / "gbk.csv"
    body = "user_id,name\n" + "".join(f"u{i},名字{i}\n" for i in range(1, 6))
    path.write_bytes(body.encode("gbk"))
    # the header is ASCII, so an explicit utf-8 reads it and quarantines each row, as main did
    forced = ingest_file(wh, "users", path, text_encoding="utf-8")
    assert (forced.received, forced.stored, forced.quarantined) == (5, 0, 5)
    assert forced.reasons == {"invalid_utf8": 5} and forced.encodings == {str(path): "utf-8"}
    with pytest.raises(JingyunError) as err:
        ingest_file(wh, "users", path, text_encoding="klingon")
    assert err.value.code == "bad_encoding" and err.value.field == "encoding"


def test_bytes_the_codec_cannot_read_are_quarantined_with_their_line(wh: Warehouse, files: Path) -> None:
    path = files / "mixed.csv"
    lines = [f"u{i},名字{i}\n".encode("gbk") for i in range(1, 30)]
    lines[14] = b"u15,\xff\xff\n"  # line 16: not GB18030
    path.write_bytes(b"user_id,name\n" + b"".join(lines))
    report = ingest_file(wh, "users", path)
    assert (report.received, report.stored, report.quarantined) == (29, 28, 1)
    assert report.reasons == {"invalid_encoding": 1}
    _, rows = q.list_rows(wh)
    assert [(r.line, r.reason) for r in rows] == [(16, "invalid_encoding")]


def test_ndjson_in_gb18030(wh: Warehouse, files: Path) -> None:
    path = files / "events.ndjson"
    recs = [{"event_id": f"e{i}", "user_id": "u1", "event": "view_product", "ts": "2026-10-01T10:00:00+08:00",
             "platform": "小程序", "properties": {"标题": f"商品{i}"}} for i in range(1, 21)]
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in recs)
    path.write_bytes(text.encode("gb18030"))
    report = ingest_file(wh, "events", path)
    assert (report.received, report.stored) == (20, 20) and report.encodings == {str(path): "gb18030"}
    assert wh.rows("SELECT count(*) FROM events WHERE platform = 'miniprogram' AND properties->>'标题' = '商品7'") == [(1,)]
    # the same file again: every record is a duplicate of the stored one (same transcoded text)
    again = ingest_file(wh, "events", path)
    assert (again.stored, again.duplicates, again.quarantined) == (0, 20, 0)
