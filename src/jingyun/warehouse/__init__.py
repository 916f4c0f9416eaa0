"""The analytic store and the portable query layer."""

from jingyun.warehouse.connection import Warehouse, open_warehouse

__all__ = ["Warehouse", "open_warehouse"]
