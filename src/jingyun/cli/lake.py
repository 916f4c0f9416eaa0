"""``jingyun export-lake DIR`` and ``jingyun query SQL [--engine spark]``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from jingyun.cli.identity import ApiKeyOpt, gate, identify
from jingyun.cli.output import print_json, print_table
from jingyun.config import load_settings
from jingyun.errors import JingyunError
from jingyun.warehouse import Warehouse
from jingyun.warehouse.backends import ENGINES, open_backend
from jingyun.warehouse.lake import export_lake


def export_lake_cmd(
    directory: Annotated[Path, typer.Argument(help="Target folder / 目标目录")],
    overwrite: Annotated[bool, typer.Option(help="Replace an existing lake")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Write the warehouse as a date-partitioned Parquet lake. 导出为按日期分区的Parquet数据湖。

    Example: jingyun export-lake /data/lake --overwrite
    """
    with Warehouse.open(load_settings(), read_only=True) as wh:
        tables = export_lake(wh, directory, overwrite=overwrite)
    if as_json:
        print_json([t.__dict__ for t in tables])
    else:
        print_table("lake", ["table", "rows", "partitioned by dt", "path"],
                    [[t.table, t.rows, "yes" if t.partitioned else "", t.path] for t in tables])


def query(
    sql: Annotated[str, typer.Argument(help="A query in the portable SQL subset / 可移植SQL")],
    engine: Annotated[str | None, typer.Option(help="duckdb | spark (default: the JINGYUN_ENGINE setting)")] = None,
    lake: Annotated[Path | None, typer.Option(help="Parquet lake for spark (default: $JINGYUN_HOME/lake)")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    api_key: ApiKeyOpt = None,
) -> None:
    """Run a portable query on DuckDB or Spark (the same text on both). 在DuckDB或Spark上运行查询。

    Personal columns (traced through aliases and subqueries, or named so, or phone/ID/email in
    text) print de-identified unless a manager or admin is signed in; raw reads are audited.
    Example: jingyun query "SELECT platform, count(*) AS n FROM events GROUP BY platform" --engine spark
    """
    settings = load_settings()
    identity = identify(settings, api_key)
    chosen = engine or settings.engine
    if chosen not in ENGINES:
        raise JingyunError("bad_engine", "engine must be duckdb or spark", "engine")
    with open_backend(settings, engine=chosen, lake=lake) as backend:
        try:
            result = backend.run(sql)
        except Exception as exc:
            if not _engine_error(exc):
                raise
            # the user's SQL, not a bug of ours: say what the engine said
            raise _bad_query(exc) from None
    names, rows = gate(settings, identity, result.column_names, list(zip(*(c.to_pylist() for c in result.columns),
                                                                         strict=True)),
                       command="query", target="query", sql=sql)
    if as_json:
        print_json({"engine": chosen, "columns": names, "rows": [dict(zip(names, r, strict=True)) for r in rows]})
    else:
        print_table(f"{chosen}", names, rows)


def _engine_error(exc: Exception) -> bool:
    import duckdb

    if isinstance(exc, duckdb.Error):
        return True
    try:
        from pyspark.errors import PySparkException
    except ImportError:  # pragma: no cover - depends on the install
        return False
    return isinstance(exc, PySparkException)


def _bad_query(exc: Exception) -> JingyunError:
    first = " ".join(str(exc).split("\n")[:2]).strip()
    if "read-only mode" in first:
        return JingyunError("read_only_query", "queries run read-only: write a SELECT (or WITH ... SELECT)", "sql")
    return JingyunError("bad_query", f"the query failed: {first[:300]}", "sql")


def register(app: typer.Typer) -> None:
    app.command("export-lake")(export_lake_cmd)
    app.command("query")(query)
