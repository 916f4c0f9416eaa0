"""Anomaly rules read the workspace calendar: a 双11 spike is an expected effect, not an alert."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from jingyun.calendar import WorkCalendar
from jingyun.config import Settings
from jingyun.metrics.dictionary import load_dictionary
from jingyun.ops.alerts.evaluate import evaluate
from jingyun.ops.alerts.rules import parse_rules
from jingyun.warehouse import Warehouse
from jingyun.warehouse.backends import Backend, open_backend

D = load_dictionary()
DOUBLE_11 = dt.date(2026, 11, 11)
ORDINARY = dt.date(2026, 11, 25)  # the same spike on a day no calendar explains


class _NoEffects(WorkCalendar):
    def expected_effects(self, days: list[dt.date], locale: str = "zh-CN") -> dict[dt.date, str]:
        return {}


def _gmv(day: dt.date) -> float:
    if day in (DOUBLE_11, ORDINARY):
        return 6000.0  # about six times an ordinary day
    i = day.toordinal()
    return 1000.0 + 20 * (i % 7) + 3 * ((i * 37) % 11 - 5)


@pytest.fixture
def backend(settings: Settings) -> Iterator[Backend]:
    wh = Warehouse.open(settings)
    wh.con.execute("INSERT INTO users (user_id, registered_at, channel, person_id, is_test) "
                   "VALUES ('u1', TIMESTAMP '2026-01-01 00:00:00', 'ads', 'u1', FALSE)")
    first = dt.date(2026, 8, 1)
    days = [first + dt.timedelta(days=i) for i in range((ORDINARY - first).days + 1)]
    wh.con.executemany("INSERT INTO orders (order_id, user_id, ts, amount, status, person_id, is_test) "
                       "VALUES (?, 'u1', ?, CAST(? AS DECIMAL(18,2)), 'paid', 'u1', FALSE)",
                       [(f"o{n}", dt.datetime.combine(d, dt.time(4)), f"{_gmv(d):.2f}") for n, d in enumerate(days)])
    yield open_backend(settings, warehouse=wh)
    wh.close()


def _fired(backend: Backend, day: dt.date, cal: WorkCalendar | None = None) -> list[str]:
    # direction lower: a jump is the bad way (as for a refund count); lookback 60 days
    rules = parse_rules({"rules": [{"id": "jump", "kind": "anomaly", "metric": "gmv", "lookback": 60,
                                    "direction": "lower"}]}, D, None)
    ev = evaluate(backend, D, rules, day, diagnose_findings=False, work_calendar=cal)
    return [f.rule.id for f in ev.findings]


def test_double_11_is_expected_by_the_workspace_calendar(backend: Backend) -> None:
    assert _fired(backend, DOUBLE_11) == []  # default: the backend's workspace calendar knows 双11
    assert _fired(backend, DOUBLE_11, _NoEffects()) == ["jump"]  # the same day without the calendar is flagged


def test_an_unexplained_spike_still_fires(backend: Backend) -> None:
    assert _fired(backend, ORDINARY) == ["jump"]
