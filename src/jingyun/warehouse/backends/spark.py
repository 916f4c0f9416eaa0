"""Spark backend: portable queries, transpiled by sqlglot, over the Parquet lake.

Each canonical table in the lake (``jingyun export-lake``) becomes a temporary
view. The session runs in UTC like the DuckDB one, so timestamps agree.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from jingyun.errors import JingyunError
from jingyun.warehouse.backends import EngineBase
from jingyun.warehouse.portable import to_spark

if TYPE_CHECKING:
    from jingyun.config import Settings


class SparkBackend(EngineBase):
    name = "spark"

    def __init__(self, lake: Path, master: str = "local[2]", *, settings: Settings | None = None):
        if settings is None:
            from jingyun.config import load_settings

            settings = load_settings()
        self.settings = settings
        try:
            from pyspark.sql import SparkSession
        except ImportError:  # pragma: no cover - depends on the install
            raise JingyunError("no_spark", "pyspark is not installed: pip install 'jingyun[spark]'", "engine") from None
        if not lake.exists():
            raise JingyunError("no_lake", f"no Parquet lake at {lake}; run `jingyun export-lake` first", "lake")
        self.spark: Any = (
            SparkSession.builder.master(master)
            .appName("jingyun")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.ui.enabled", "false")
            .config("spark.sql.shuffle.partitions", "4")
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
            .config("spark.ui.showConsoleProgress", "false")
            .getOrCreate()
        )
        self.spark.sparkContext.setLogLevel("ERROR")
        for table_dir in sorted(p for p in lake.iterdir() if p.is_dir()):
            self.spark.read.parquet(str(table_dir)).createOrReplaceTempView(table_dir.name)

    def run(self, sql: str) -> pa.Table:
        result: pa.Table = self.spark.sql(to_spark(sql)).toArrow()
        return result

    def has_table(self, name: str) -> bool:
        return bool(self.spark.catalog.tableExists(name))

    def interrupt(self) -> None:
        self.spark.sparkContext.cancelAllJobs()

    def stop(self) -> None:
        self.spark.stop()

    def close(self) -> None:
        self.stop()
