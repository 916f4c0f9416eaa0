"""``jingyun schema show``: the data dictionary."""

from __future__ import annotations

from typing import Annotated

import typer

from jingyun.cli.output import print_json, print_table
from jingyun.schema.dictionary import dictionary

app = typer.Typer(help="Canonical tables and the data dictionary. 数据模型与数据字典。", no_args_is_help=True)


@app.command()
def show(
    table: Annotated[str | None, typer.Argument(help="One table (default: all)")] = None,
    lang: Annotated[str, typer.Option(help="zh | en")] = "zh",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Print every column with zh/en names, meaning and classification. 打印数据字典。 Example: jingyun schema show orders"""
    rows = dictionary(table)
    if as_json:
        print_json(rows)
        return
    zh = lang != "en"
    for name in dict.fromkeys(r["table"] for r in rows):
        cols = [r for r in rows if r["table"] == name]
        print_table(
            f"{name} ({cols[0]['table_zh']})",
            ["column", "type", "名称" if zh else "name", "含义" if zh else "meaning", "required", "class", "values"],
            [[("*" if r["key"] else "") + r["column"], r["type"], r["zh"] if zh else r["en"],
              r["meaning_zh"] if zh else r["meaning_en"], "yes" if r["required"] else "",
              r["classification"], ",".join(r["values"])] for r in cols],
        )


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="schema")
