"""Send-time optimisation on built engagement with known best hours, zones, shrinkage and quiet hours."""

from __future__ import annotations

import datetime as dt

import automation_rows as rows
import numpy as np
import pandas as pd
import pytest

from jingyun.automation.guards import GuardRules
from jingyun.automation.sendtime import allowed_hours, best_hours, next_best, schedule, shrink
from jingyun.errors import JingyunError
from jingyun.warehouse import Warehouse
from jingyun.warehouse.backends.duckdb import DuckDBBackend

SH = "Asia/Shanghai"
DAY = dt.datetime(2026, 9, 1)  # UTC midnight = 08:00 in Shanghai


def _at(local_hour: int, day: int, offset: int = 8) -> dt.datetime:
    """Naive UTC of ``local_hour``:15 on September ``1 + day`` in a zone ``offset`` hours ahead of UTC."""
    return DAY + dt.timedelta(days=day, hours=local_hour - offset, minutes=15)


@pytest.fixture
def built(wh: Warehouse) -> Warehouse:
    rows.users(wh, [{"user_id": "morning"}, {"user_id": "evening"}, {"user_id": "ny", "timezone": "America/New_York"},
                    {"user_id": "few"}, {"user_id": "night"}, {"user_id": "tester", "is_test": True}])
    ev: list[tuple[object, ...]] = []
    for d in range(20):  # the crowd: 09:00 Shanghai, so the workspace curve peaks at 9
        ev += [(f"c{k}", "app_start", _at(9, d)) for k in range(5)]
    ev += [("morning", "app_start", _at(10, d)) for d in range(12)] + [("morning", "app_start", _at(15, 1))]
    ev += [("evening", "view_product", _at(20, d)) for d in range(15)]
    ev += [("ny", "app_start", _at(19, d, offset=-4)) for d in range(15)]  # 19:00 in New York (EDT) = 07:00 Shanghai
    ev += [("few", "app_start", _at(18, 0))]  # one event: the crowd's 9 still wins after shrinkage
    ev += [("night", "app_start", _at(23, d)) for d in range(30)] + [("night", "app_start", _at(12, d)) for d in range(8)]
    ev += [("tester", "app_start", _at(14, d), None, True) for d in range(30)]
    rows.events(wh, ev)
    return wh


def test_best_hours_known(built: Warehouse) -> None:
    best = best_hours(DuckDBBackend(built), timezone=SH, as_of=DAY + dt.timedelta(days=40))
    assert best.overall_best == 9
    assert best.hour("morning") == 10 and best.events["morning"] == 13
    assert best.hour("evening") == 20
    assert best.hour("ny") == 19 and best.zone("ny") == "America/New_York"
    assert best.hour("few") == 9  # shrunk toward the workspace's curve
    assert best.hour("night") == 12  # 23:00 lies in quiet hours; its best allowed hour
    assert best.hour("nobody") == 9
    assert "tester" not in best.hours  # test accounts are left out
    # the overall curve agrees with an independent count of the real people's local hours
    assert best.overall[9] == pytest.approx(100 / (100 + 13 + 15 + 15 + 1 + 38))
    # without shrinkage the one event decides
    raw = best_hours(DuckDBBackend(built), timezone=SH, as_of=DAY + dt.timedelta(days=40), prior_weight=0)
    assert raw.hour("few") == 18
    # only the named events: evening's views are all that is left of the people
    views = best_hours(DuckDBBackend(built), timezone=SH, as_of=DAY + dt.timedelta(days=40), events=["view_product"])
    assert set(views.hours) == {"evening"} and views.overall_best == 20


def test_shrink_matches_the_formula() -> None:
    counts = np.array([[0.0] * 23 + [4.0]])
    overall = np.full(24, 1 / 24)
    got = shrink(counts, overall, 10.0)
    assert got[0, 23] == pytest.approx((4 + 10 / 24) / 14) and got[0, 0] == pytest.approx((10 / 24) / 14)
    assert got.sum() == pytest.approx(1.0)


def test_quiet_hours_and_next_best(built: Warehouse) -> None:
    assert allowed_hours(GuardRules(timezone=SH)) == list(range(8, 22))
    best = best_hours(DuckDBBackend(built), timezone=SH, as_of=DAY + dt.timedelta(days=40))
    at = dt.datetime(2026, 10, 1, 3, 0)  # 11:00 in Shanghai: evening's 20:00 is later today
    assert next_best(at, "evening", best) == dt.datetime(2026, 10, 1, 12, 0)
    assert next_best(at, "morning", best) == dt.datetime(2026, 10, 2, 2, 0)  # 10:00 passed: tomorrow
    assert next_best(dt.datetime(2026, 10, 1, 2, 0), "morning", best) == dt.datetime(2026, 10, 1, 2, 0)  # exactly now
    assert next_best(at, "ny", best) == dt.datetime(2026, 10, 1, 23, 0)  # 19:00 EDT
    sends = pd.DataFrame({"u": ["evening", "morning"], "step": ["push", "sms"],
                          "due": pd.Series([at, at], dtype="datetime64[us]")})
    moved = schedule(sends, best, ["push"])
    assert list(moved["due"]) == [pd.Timestamp("2026-10-01 12:00"), pd.Timestamp(at)]
    with pytest.raises(JingyunError) as err:
        best_hours(DuckDBBackend(built), timezone=SH, days=0)
    assert err.value.field == "days"
