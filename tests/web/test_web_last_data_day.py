"""The console's default range ends on the local day of the last order or event (``filters.last_data_day``):
it reads max(ts) and converts that one instant (every panel of every page asks), and says the same day as
pandas converting every row's time to the workspace time zone."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

from jingyun.api.app import app_state
from jingyun.web.context import ConsoleCtx
from jingyun.web.filters import last_data_day


class _Ctx:
    """What last_data_day reads from a console context: the state's reader and the time zone."""

    reader = ConsoleCtx.reader

    def __init__(self, state: Any, timezone: str) -> None:
        self.state, self.timezone = state, timezone


def _pandas_last_day(state: Any, timezone: str) -> dt.date:
    wh = state.writer.reader()
    try:
        days = []
        for table in ("orders", "events"):
            ts = pd.to_datetime(wh.arrow(f"SELECT ts FROM {table}").to_pandas()["ts"])
            ts = ts.dt.tz_localize("UTC") if ts.dt.tz is None else ts
            days.append(ts.dt.tz_convert(timezone).dt.date.max())
        return max(days)
    finally:
        wh.close()


def test_last_data_day_is_the_local_day_of_the_latest_fact(console: Any) -> None:
    state = app_state(console.app)
    for tz in ("Asia/Shanghai", "UTC", "America/Los_Angeles", "Pacific/Kiritimati"):
        got = last_data_day(_Ctx(state, tz))  # type: ignore[arg-type]
        assert got == _pandas_last_day(state, tz), tz
    # the same instant in UTC-10 and UTC+14 (24 h apart) falls on consecutive local days
    west, east = last_data_day(_Ctx(state, "Pacific/Honolulu")), last_data_day(_Ctx(state, "Pacific/Kiritimati"))  # type: ignore[arg-type]
    assert east - west == dt.timedelta(days=1)
