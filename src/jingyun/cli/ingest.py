"""``jingyun ingest TABLE FILE...``: load files through the pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from jingyun.cli.output import print_json, print_table
from jingyun.config import load_settings
from jingyun.ingest import ingest_file
from jingyun.schema.tables import TABLES
from jingyun.warehouse import Warehouse


def ingest(
    table: Annotated[str, typer.Argument(help=f"Target table / 目标表: {', '.join(TABLES)}")],
    files: Annotated[list[Path], typer.Argument(help="CSV, Excel (.xlsx), Parquet or NDJSON files / 数据文件")],
    fmt: Annotated[str | None, typer.Option("--format", help="csv | xlsx | parquet | ndjson (default: from the file name)")] = None,
    mapping: Annotated[Path | None, typer.Option(help="YAML mapping that renames/converts source columns / 字段映射")] = None,
    source: Annotated[str | None, typer.Option(help="Source name recorded with each row (default: the file path)")] = None,
    encoding: Annotated[str | None, typer.Option(
        help="Text encoding of CSV/NDJSON files, e.g. gb18030, gbk, utf-8 (default: detected) / 文件编码(默认自动识别)")] = None,
    sheet: Annotated[str | None, typer.Option(
        help="Excel sheet: a name or a number from 1 (default: the first) / 工作表名称或序号")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON / 以JSON输出")] = False,
) -> None:
    """Ingest files: validate, dedup, map identities, quarantine bad records. 导入数据文件。

    Example: jingyun ingest events app_log.ndjson web_log.ndjson --json
    Example: jingyun ingest users 会员导出.xlsx --sheet 会员 --mapping crm.yaml
    """
    with Warehouse.open(load_settings()) as wh:
        report = ingest_file(wh, table, files, fmt=fmt, mapping=mapping, source=source, progress=not as_json,
                             text_encoding=encoding, sheet=sheet)
    if as_json:
        print_json(report.to_dict())
        return
    rows = [["received / 接收", report.received], ["stored / 入库", report.stored],
            ["duplicates / 重复", report.duplicates], ["quarantined / 隔离", report.quarantined]]
    rows += [[f"  {reason}", n] for reason, n in sorted(report.reasons.items())]
    rows += [[f"  tracking: {issue}", n] for issue, n in sorted(report.tracking_issues.items())]
    rows += [[f"unknown {level} (kept) / 未识别地区", n] for level, n in sorted(report.unknown_places.items())]
    rows += [[f"encoding / 编码: {Path(f).name}", enc] for f, enc in report.encodings.items()]
    print_table(f"ingest {report.table}", ["", "count"], rows)


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)
