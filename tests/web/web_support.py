"""Plain helpers for the console tests (the fixtures stay in conftest.py).

A uniquely named module: every test folder has a conftest.py, so importing names from `conftest`
picks whichever folder's conftest was imported first."""

from __future__ import annotations

# Two saved segments refreshed at four successive as-of days: the size history the console draws.
SAVED = {"recent_buyers": {"orders": "count", "within_days": 30, "op": "gte", "value": 1},
         "active_viewers": {"event": "view_product", "within_days": 14, "count": {"op": "gte", "value": 2}}}
REFRESH_DAYS_BACK = (45, 30, 15, 0)
