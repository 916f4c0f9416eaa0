"""Canonical tables, the data dictionary and the tracking plan."""

from jingyun.schema.tables import TABLES, Column, Table, get_table

__all__ = ["TABLES", "Column", "Table", "get_table"]
