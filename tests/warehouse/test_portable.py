"""The portable SQL subset: the lint rejects DuckDB-only nodes; Spark agrees with DuckDB."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from jingyun.errors import JingyunError
from jingyun.warehouse import Warehouse
from jingyun.warehouse.backends.duckdb import DuckDBBackend
from jingyun.warehouse.lake import export_lake
from jingyun.warehouse.portable import check, lint, to_spark


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM a ASOF LEFT JOIN b ON a.t >= b.t",
        "SELECT list_transform([1, 2], lambda x: x + 1)",
        "SELECT user_id FROM events QUALIFY row_number() OVER (PARTITION BY user_id ORDER BY ts) = 1",
        "SELECT my_duckdb_macro(ts) FROM events",
    ],
)
def test_lint_rejects_non_portable(sql: str) -> None:
    assert lint(sql)
    with pytest.raises(JingyunError):
        check(sql)


def test_portable_query_transpiles() -> None:
    sql = ("WITH x AS (SELECT person_id, CAST((ts AT TIME ZONE 'UTC') AT TIME ZONE 'Asia/Shanghai' AS DATE) AS d "
           "FROM events) SELECT d, count(DISTINCT person_id) AS n FROM x GROUP BY d")
    assert lint(sql) == []
    assert "FROM_UTC_TIMESTAMP" in to_spark(sql)


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Warehouse, Path]]:
    from jingyun.config import load_settings
    from jingyun.ingest import ingest_file

    home = tmp_path_factory.mktemp("ws")
    wh = Warehouse.open(load_settings(home))
    src = home / "e.ndjson"
    # around local midnight: 15:59:59Z is 23:59:59 in Shanghai, 16:00:00Z is the next day
    src.write_text("\n".join(
        f'{{"event_id":"e{i}","user_id":"u{i % 3}","event":"{ev}","ts":"{ts}","platform":"app"}}'
        for i, (ev, ts) in enumerate([
            ("view_product", "2026-10-01T15:59:59Z"), ("view_product", "2026-10-01T16:00:00Z"),
            ("pay", "2026-10-02T01:00:00Z"), ("view_product", "2026-10-03T12:00:00+08:00"),
            ("pay", "2026-10-03T23:30:00+08:00"), ("view_home", "1790820000000"),
        ])
    ) + "\n", encoding="utf-8")
    ingest_file(wh, "events", src)
    export_lake(wh, home / "lake")
    yield wh, home / "lake"
    wh.close()


@pytest.mark.spark
def test_same_query_same_rows_on_duckdb_and_spark(lake: tuple[Warehouse, Path]) -> None:
    from jingyun.warehouse.backends.spark import SparkBackend

    wh, path = lake
    sql = ("SELECT CAST((ts AT TIME ZONE 'UTC') AT TIME ZONE 'Asia/Shanghai' AS DATE) AS d, event, "
           "count(DISTINCT person_id) AS users, count(*) AS n FROM events WHERE NOT is_test GROUP BY 1, 2 ORDER BY 1, 2")
    duck = DuckDBBackend(wh).run(sql).to_pylist()
    spark = SparkBackend(path)
    try:
        rows = spark.run(sql).to_pylist()
        from pyspark.errors import PySparkException

        with pytest.raises(PySparkException):  # what `jingyun query --engine spark` turns into bad_query
            spark.run("SELECT * FROM nosuch")
    finally:
        spark.stop()
    assert rows == duck
    assert [(str(r["d"]), r["event"]) for r in duck][:3] == [
        ("2026-10-01", "view_home"), ("2026-10-01", "view_product"), ("2026-10-02", "pay"),
    ]


def test_lake_is_partitioned_by_local_date(lake: tuple[Warehouse, Path]) -> None:
    _, path = lake
    parts = sorted(p.name for p in (path / "events").iterdir())
    assert parts == ["dt=2026-10-01", "dt=2026-10-02", "dt=2026-10-03"]
    assert (path / "users" / "data.parquet").exists()


def test_lake_refuses_a_file_a_full_folder_and_an_unwritable_place(wh: Warehouse, tmp_path: Path) -> None:
    afile = tmp_path / "lake.txt"
    afile.write_text("x", encoding="utf-8")
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine", encoding="utf-8")
    cases = [(afile, "not_a_dir"), (full, "exists"), (afile / "under-a-file", "cannot_write")]
    for target, code in cases:
        with pytest.raises(JingyunError) as caught:
            export_lake(wh, target)
        assert (caught.value.code, caught.value.field) == (code, "dir")
    assert (full / "keep.txt").read_text(encoding="utf-8") == "mine"  # nothing replaced without --overwrite
    assert [t.table for t in export_lake(wh, tmp_path / "new" / "lake")][:2] == ["events", "users"]
