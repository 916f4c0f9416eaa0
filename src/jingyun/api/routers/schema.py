"""The data dictionary (数据字典) with each column's classification (public / internal / sensitive)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel

from jingyun.api.deps import permit
from jingyun.errors import JingyunError
from jingyun.schema.tables import TABLES, Table, get_table
from jingyun.security.roles import Principal

router = APIRouter(prefix="/api/v1/schema", tags=["schema 数据字典"])
Reader = Annotated[Principal, Depends(permit("schema:read"))]


class ColumnOut(BaseModel):
    name: str
    type: str
    zh: str
    en: str
    classification: str
    required: bool
    meaning_en: str
    meaning_zh: str


class TableOut(BaseModel):
    """A canonical table (schema.tables.Table) with its columns' classification."""

    name: str
    zh: str
    en: str
    key: list[str]
    columns: list[ColumnOut]


class TableList(BaseModel):
    items: list[TableOut]
    total: int


def table_dict(t: Table) -> dict[str, Any]:
    return {
        "name": t.name, "zh": t.zh, "en": t.en, "key": list(t.key),
        "columns": [{"name": c.name, "type": c.sql_type, "zh": c.zh, "en": c.en, "classification": c.classification,
                     "required": c.required, "meaning_en": c.meaning_en, "meaning_zh": c.meaning_zh} for c in t.columns],
    }


@router.get("/tables", summary="Every canonical table", response_model=TableList)
def list_tables(_: Reader) -> dict[str, Any]:
    return {"items": [table_dict(t) for t in TABLES.values()], "total": len(TABLES)}


@router.get("/tables/{name}", summary="One table's columns", response_model=TableOut)
def one_table(_: Reader, name: Annotated[str, Path(pattern=r"^[a-z_]{1,40}$")]) -> dict[str, Any]:
    try:
        return table_dict(get_table(name))
    except JingyunError as exc:
        raise JingyunError("not_found", exc.message, "name", status=404) from None
