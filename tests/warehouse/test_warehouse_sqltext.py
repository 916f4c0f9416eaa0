"""SQL literals (warehouse.sqltext) and the warehouse connection's own guarantees."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from jingyun.config import load_settings
from jingyun.errors import JingyunError
from jingyun.warehouse import filters
from jingyun.warehouse.connection import Warehouse
from jingyun.warehouse.filters import Filter
from jingyun.warehouse.sqltext import date_literal, ident, json_key, local_day, quote, ts_literal, utc_start, with_ctes


def test_quote_round_trips_through_duckdb() -> None:
    con = duckdb.connect()
    for value in ["plain", "it's", "''", "中文 '引号'", "", 3, -2.5, True, False]:
        assert con.execute(f"SELECT {quote(value)}").fetchall()[0][0] == value


def test_connection_is_utc_and_creates_every_table(tmp_path: Path) -> None:
    with Warehouse.open(load_settings(tmp_path)) as wh:
        assert wh.scalar("SELECT current_setting('TimeZone')") == "UTC"
        names = {r[0] for r in wh.rows("SELECT table_name FROM information_schema.tables")}
        assert {"events", "users", "orders", "_quarantine", "identities", "_ingest_log", "model_scores"} <= names
    # a read-only reader of the same file sees the tables and cannot write
    with Warehouse.open(load_settings(tmp_path), read_only=True) as ro:
        assert ro.count("events") == 0


# -- the SQL toolkit and the one Filter (issue 17 item 3) -------------------------------------


def test_literals_round_trip_at_one_precision() -> None:
    """Timestamps keep their microseconds (analysis and metrics used to cut them to the second),
    aware values are written as naive UTC, and identifiers/JSON keys survive quotes."""
    con = duckdb.connect()
    t = dt.datetime(2026, 10, 30, 23, 59, 59, 999_999)
    assert con.execute(f"SELECT {ts_literal(t)}").fetchone() == (t,)
    assert ts_literal(dt.datetime(2026, 10, 31)) == "TIMESTAMP '2026-10-31 00:00:00'"
    aware = dt.datetime(2026, 10, 31, 8, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    assert con.execute(f"SELECT {ts_literal(aware)}").fetchone() == (dt.datetime(2026, 10, 31),)
    assert con.execute(f"SELECT {date_literal(dt.date(2024, 2, 29))}").fetchone() == (dt.date(2024, 2, 29),)
    assert con.execute(f"SELECT {quote(None)} IS NULL").fetchone() == (True,)
    odd = ident('a "b')
    con.execute(f"CREATE TABLE t ({odd} INTEGER, j JSON)")
    con.execute("""INSERT INTO t VALUES (1, '{"价格": 5, "x\\"y": 6}')""")
    assert con.execute(f"SELECT {odd} FROM t").fetchone() == (1,)
    for key, want in (("价格", "5"), ('x"y', "6")):
        assert con.execute(f"SELECT json_extract_string(j, {quote('$.' + json_key(key))}) FROM t").fetchone() == (want,)


def test_a_window_bound_with_microseconds_is_exact() -> None:
    """The default reference time is the latest record + 1 µs: a bound written to the second
    would drop that record."""
    con = duckdb.connect()
    con.execute("CREATE TABLE e (ts TIMESTAMP)")
    last = dt.datetime(2026, 10, 31, 0, 0, 0, 500)
    con.execute("INSERT INTO e VALUES (?)", [last])
    as_of = last + dt.timedelta(microseconds=1)
    assert con.execute(f"SELECT count(*) FROM e WHERE ts < {ts_literal(as_of)}").fetchone() == (1,)


def test_with_ctes_and_local_day_agree_with_python() -> None:
    con = duckdb.connect()
    sql = with_ctes([("a", "SELECT 1 AS x"), ("b", "SELECT x + 1 AS y FROM a")], "SELECT y FROM b")
    assert con.execute(sql).fetchone() == (2,)
    con.execute("CREATE TABLE e (ts TIMESTAMP)")
    con.execute("INSERT INTO e VALUES ('2026-10-30 16:00:00'), ('2026-10-30 15:59:59.999999')")
    got = [r[0] for r in con.execute(f"SELECT {local_day('ts', 'Asia/Shanghai')} FROM e ORDER BY ts").fetchall()]
    assert got == [dt.date(2026, 10, 30), dt.date(2026, 10, 31)]
    assert utc_start(dt.date(2026, 10, 31), "Asia/Shanghai") == dt.datetime(2026, 10, 30, 16)


@pytest.mark.parametrize(("op", "value", "want"), [
    ("eq", "a", ["1"]), ("neq", "a", ["2", "3"]), ("in", ["a", "b"], ["1", "2"]), ("not_in", ["a"], ["2"]),
    ("gt", 1, ["2"]), ("between", [0, 1], ["1"]), ("contains", "b", ["2"]),
    ("is_set", None, ["1", "2"]), ("is_not_set", None, ["3"]),
])
def test_one_filter_compiles_every_operator(op: str, value: object, want: list[str]) -> None:
    """The same Filter on a typed column and on a JSON property: NULL satisfies only neq and is_not_set."""
    con = duckdb.connect()
    con.execute("CREATE TABLE t (id VARCHAR, s VARCHAR, n INTEGER, p JSON)")
    con.execute("""INSERT INTO t VALUES ('1', 'a', 1, '{"s": "a", "n": 1}'), ('2', 'b', 2, '{"s": "b", "n": 2}'),
                   ('3', NULL, NULL, '{}')""")
    col = "n" if isinstance(value, int) or op == "between" else "s"
    flt = filters.parse({"key": col, "op": op, "value": value}, "f")
    typed = [r[0] for r in con.execute(f"SELECT id FROM t WHERE {flt.sql(col)} ORDER BY id").fetchall()]
    text = "json_extract_string(p, " + quote("$." + col) + ")"
    json = [r[0] for r in con.execute(f"SELECT id FROM t WHERE {flt.json_sql(text)} ORDER BY id").fetchall()]
    assert typed == json == want


def test_filter_errors_name_the_field_and_old_spellings_still_read() -> None:
    with pytest.raises(JingyunError) as err:
        filters.parse({"key": "price", "op": ">"}, "steps[1].filters[0]")
    assert err.value.field == "steps[1].filters[0].op"
    with pytest.raises(JingyunError) as err:
        filters.parse({"key": "price", "op": "gte", "value": "ten"}, "steps[1].filters[0]")
    assert err.value.field == "steps[1].filters[0].value"
    assert filters.parse({"key": "score", "op": "not_null"}, "f") == Filter("score", "is_set")
    assert filters.parse({"key": "score", "op": "is_null"}, "f") == Filter("score", "is_not_set")


def test_funnel_metric_and_audience_share_the_vocabulary() -> None:
    """Operators the funnel and the metric dictionary did not know before (not_in, between, contains)
    now compile there too; the audience rules accept the metric dictionary's old spelling."""
    from jingyun.analysis.common import Step
    from jingyun.analysis.funnel import FunnelParams, build_funnel_sql
    from jingyun.segments import audience

    step = Step("view", (Filter("sku", "not_in", ("a",)), Filter("price", "between", (1, 9))))
    sql = build_funnel_sql(FunnelParams.create([step, "pay"], 3600))
    assert "NOT IN ('a')" in sql and "BETWEEN 1.0 AND 9.0" in sql
    with pytest.raises(JingyunError) as err:
        FunnelParams.create([Step("view"), Step("pay", (Filter("price", "gt", "x"),))], 3600)
    assert err.value.field == "steps[1].filters[0].value"
    node = audience.parse({"event": "view", "where": [{"prop": "sku", "op": "not_null"}]})
    assert node.where == (Filter("sku", "is_set"),)
