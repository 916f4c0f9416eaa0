"""The forecast's calendar regressors come from the calendar service (one source for every date fact)."""

from __future__ import annotations

import datetime as dt

from jingyun.calendar import WorkCalendar
from jingyun.models.forecast import ForecastParams, design
from jingyun.models.holidays_cn import calendar_regressors, weekly_regressors

D = dt.date


def test_regressors_follow_the_calendar() -> None:
    days = [D(2026, 1, 1) + dt.timedelta(days=k) for k in range(365)]
    cols = calendar_regressors(days, calendar=WorkCalendar())
    on = {name: {d for d, v in zip(days, col, strict=True) if v} for name, col in cols.items()}
    assert on["makeup_workday"] == {D(2026, 1, 4), D(2026, 2, 14), D(2026, 2, 28), D(2026, 5, 9), D(2026, 9, 20),
                                    D(2026, 10, 10)}
    assert len(on["holiday"]) == 33 and D(2026, 10, 4) in on["holiday"]  # the Sunday inside the 国庆 break
    assert min(on["nianhuo"]) == D(2026, 1, 23) and max(on["nianhuo"]) == D(2026, 2, 10)
    assert on["peak_1111"] == {D(2026, 11, 11)} and len(on["pre_1111"]) == 10
    assert on["d1212"] == {D(2026, 12, 12)}
    # a company holiday in the workspace calendar becomes a holiday regressor
    company = WorkCalendar(company_holidays={D(2026, 3, 18): "店庆"})
    assert calendar_regressors([D(2026, 3, 18)], calendar=company)["holiday"].tolist() == [1.0]
    week = weekly_regressors([D(2026, 9, 28)], calendar=WorkCalendar())  # Mon Sep 28 - Sun Oct 4
    assert week["holiday"].tolist() == [4.0]


def test_the_forecast_design_carries_the_calendar_columns() -> None:
    days = [D(2026, 9, 14) + dt.timedelta(days=k) for k in range(28)]
    names, X = design(ForecastParams(), days, None)
    assert {"holiday", "makeup_workday", "nianhuo", "peak_1111"} <= set(names)
    col = X[:, names.index("makeup_workday")]
    assert [days[i] for i in range(len(days)) if col[i]] == [D(2026, 9, 20), D(2026, 10, 10)]
