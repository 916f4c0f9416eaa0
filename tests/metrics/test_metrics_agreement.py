"""The guard of issue 17: every number an analysis or page reports that is also a metric equals the
metric dictionary's value, on a hand-made warehouse with every order status and on the demo business;
and a workspace's definition override changes the metric, explain and the KPI card together."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from tests.metrics.conftest import insert

from jingyun.analysis.anomaly import AnomalyParams, run_anomalies
from jingyun.analysis.channels import ChannelParams, run_channels
from jingyun.analysis.explain import ExplainParams, run_explain
from jingyun.analysis.retention import RetentionParams, run_retention
from jingyun.config import load_settings
from jingyun.demo.build import build
from jingyun.demo.params import DemoParams
from jingyun.metrics.compute import ComputeParams, compute, value_over
from jingyun.metrics.dictionary import load_dictionary
from jingyun.metrics.kpi import Target, TargetSet, kpi_card
from jingyun.metrics.model import Dictionary
from jingyun.schema.tables import ORDER_STATUSES
from jingyun.warehouse import Warehouse
from jingyun.warehouse.backends.duckdb import DuckDBBackend

SEP, OCT = (dt.date(2026, 9, 1), dt.date(2026, 9, 30)), (dt.date(2026, 10, 1), dt.date(2026, 10, 31))
EXPLAINED = ("gmv", "orders", "aov", "conversion_rate")


def _order(oid: str, pid: str, ts: str, amount: str, status: str | None, test: bool = False) -> dict[str, object]:
    return {"order_id": oid, "user_id": pid, "person_id": pid, "ts": dt.datetime.fromisoformat(ts),
            "amount": Decimal(amount), "status": status, "channel": "app", "is_test": test}


def _event(i: int, pid: str, ts: str) -> dict[str, object]:
    return {"event_id": f"e{i}", "user_id": pid, "person_id": pid, "event": "app_start",
            "ts": dt.datetime.fromisoformat(ts), "platform": "app", "is_test": False}


def _fill(wh: Warehouse, *, every_status: bool) -> None:
    """September: one paid order. October: one paid order of 100 and one unpaid created order of 900
    (the bug of issue 17); with ``every_status`` an order of each status (and none) besides."""
    insert(wh, "users", [{"user_id": p, "person_id": p, "registered_at": dt.datetime(2026, 8, 1),
                          "channel": "ads" if p == "a" else "organic", "is_test": False} for p in ("a", "b")])
    orders = [_order("s1", "a", "2026-09-10 04:00:00", "50", "paid"),
              _order("o1", "a", "2026-10-10 04:00:00", "100", "paid"),
              _order("o2", "b", "2026-10-11 04:00:00", "900", "created")]
    if every_status:
        orders += [_order(f"x{i}", "b" if i % 2 else "c", "2026-10-12 04:00:00", str(10 + i), s)
                   for i, s in enumerate((*ORDER_STATUSES, None))]
        orders.append(_order("t1", "t", "2026-10-12 04:00:00", "7777", "paid", test=True))
    insert(wh, "orders", orders)
    insert(wh, "events", [_event(1, "a", "2026-09-10 03:00:00"), _event(2, "a", "2026-10-10 03:00:00"),
                          _event(3, "b", "2026-10-11 03:00:00"), _event(4, "c", "2026-10-12 03:00:00")])


def _assert_explain_agrees(backend: DuckDBBackend, d: Dictionary, current: tuple[dt.date, dt.date],
                           previous: tuple[dt.date, dt.date], tz: str = "Asia/Shanghai") -> None:
    for metric in EXPLAINED:
        ex = run_explain(backend, ExplainParams.create(metric, f"{current[0]}..{current[1]}",
                                                       f"{previous[0]}..{previous[1]}", timezone=tz), d)
        cur = value_over(backend, d, metric, *current, timezone=tz)
        prev = value_over(backend, d, metric, *previous, timezone=tz)
        assert ex.current == pytest.approx(cur or 0.0), metric
        assert ex.previous == pytest.approx(prev or 0.0), metric
        assert ex.change == pytest.approx((cur or 0.0) - (prev or 0.0)), metric


def test_explain_gmv_is_the_metric_gmv(wh: Warehouse, settings) -> None:  # type: ignore[no-untyped-def]
    """The issue's example: the dictionary says October GMV = 100; explain said +900 more (+950)."""
    _fill(wh, every_status=False)
    backend, d = DuckDBBackend(wh), load_dictionary(settings)
    assert value_over(backend, d, "gmv", *OCT) == 100
    ex = run_explain(backend, ExplainParams.create("gmv", "2026-10"))
    assert (ex.previous, ex.current, ex.change) == (50, 100, 50)


@pytest.fixture
def every_status(wh: Warehouse, settings) -> Iterator[tuple[DuckDBBackend, Dictionary]]:  # type: ignore[no-untyped-def]
    _fill(wh, every_status=True)
    yield DuckDBBackend(wh), load_dictionary(settings)


def test_every_metric_agrees_on_every_order_status(every_status: tuple[DuckDBBackend, Dictionary]) -> None:
    backend, d = every_status
    _assert_explain_agrees(backend, d, OCT, SEP)
    # The KPI card reports the metric for every metric of the dictionary.
    for name, metric in d.metrics.items():
        t = Target(name, name, ">=", 1.0, 1.0, "", metric.perspective, "month")
        card = kpi_card(backend, d, TargetSet((t,)), t, *OCT)
        assert card.actual == value_over(backend, d, name, *OCT), name
    # Paid (GMV) and revenue (net) differ exactly by the refund statuses; the created order is in neither.
    gmv, revenue = value_over(backend, d, "gmv", *OCT), value_over(backend, d, "revenue", *OCT)
    statuses = {s: 10 + i for i, s in enumerate((*ORDER_STATUSES, None))}
    assert gmv == 100 + sum(statuses[s] for s in d.definitions.paid_orders.statuses)
    assert revenue == 100 + sum(statuses[s] for s in d.definitions.revenue_orders.statuses)


def test_override_changes_metric_explain_and_kpi_card_together(every_status: tuple[DuckDBBackend, Dictionary],
                                                               home: Path) -> None:
    backend, before = every_status
    t = Target("gmv", "gmv", ">=", 1000.0, 1.0, "", "financial", "month")
    card_before = kpi_card(backend, before, TargetSet((t,)), t, *OCT)
    (home / "definitions.yaml").write_text("paid_orders:\n  statuses: [paid, shipped, completed, refunded, "
                                          "returned, created]\n", encoding="utf-8")
    after = load_dictionary(load_settings(home))
    gmv = value_over(backend, after, "gmv", *OCT)
    assert gmv == (value_over(backend, before, "gmv", *OCT) or 0) + 900 + 10  # the two created orders
    # explain finds the workspace's dictionary through the backend's warehouse, with no argument.
    assert run_explain(backend, ExplainParams.create("gmv", "2026-10")).current == gmv
    card = kpi_card(backend, after, TargetSet((t,)), t, *OCT)
    assert card.actual == gmv != card_before.actual
    # Channels, retention and the anomaly detector read the override through the backend's warehouse too.
    _assert_anomaly_agrees(backend, after, OCT)
    revenue_before = value_over(backend, before, "revenue", *OCT)
    (home / "definitions.yaml").write_text("revenue_orders:\n  statuses: [paid, shipped, completed, created]\n",
                                          encoding="utf-8")
    after = load_dictionary(load_settings(home))
    revenue = value_over(backend, after, "revenue", *OCT)
    assert revenue == (revenue_before or 0) + 900 + 10
    _assert_channels_agree(backend, after, OCT)
    ret = run_retention(backend, RetentionParams.create(days=1, cohort="purchase", returning="purchase",
                                                        period="month", date_from=OCT[0], date_to=OCT[1],
                                                        revenue=True, timezone="Asia/Shanghai"))
    assert ret.cohorts[0].revenue_per_member == pytest.approx([(revenue or 0) / 3] * 2, abs=0.005)


def _assert_channels_agree(backend: DuckDBBackend, d: Dictionary, days: tuple[dt.date, dt.date],
                           tz: str = "Asia/Shanghai") -> None:
    """The channel report's revenue and gross profit, summed over channels, are the dictionary's."""
    report = run_channels(backend, ChannelParams.create(*days, timezone=tz))
    for metric in ("revenue", "gross_profit"):
        want = value_over(backend, d, metric, *days, timezone=tz) or 0.0
        assert sum(getattr(r, metric) for r in report.channels) == pytest.approx(want), metric
        assert report.totals[metric] == pytest.approx(want), metric


def _assert_anomaly_agrees(backend: DuckDBBackend, d: Dictionary, days: tuple[dt.date, dt.date],
                           tz: str = "Asia/Shanghai") -> None:
    """The anomaly detector's daily gmv/orders series is the dictionary's metric, day by day."""
    for metric in ("gmv", "orders"):
        series = run_anomalies(backend, AnomalyParams.create(metric, *days, timezone=tz))
        daily = compute(backend, d, ComputeParams.create(metric, *days, grain="day", timezone=tz))
        want = {p.bucket.isoformat(): p.value or 0.0 for p in daily.points}
        got = {a.date: a.value or 0.0 for a in series.days}
        assert len(got) == (days[1] - days[0]).days + 1, metric
        assert any(got.values()), metric  # not a comparison of two empty series
        assert got == pytest.approx({k: want.get(k, 0.0) for k in got}), metric


def test_channels_anomaly_and_retention_agree_on_every_order_status(
        every_status: tuple[DuckDBBackend, Dictionary]) -> None:
    """Channels and retention counted every order not cancelled, refunded or returned as revenue: the unpaid
    created orders (900 + 10) and the status-less one (17) too. Now they read revenue_orders, as the metric."""
    backend, d = every_status
    _assert_channels_agree(backend, d, OCT)
    revenue = value_over(backend, d, "revenue", *OCT)
    assert revenue == 100 + sum(10 + i for i, s in enumerate(ORDER_STATUSES) if s in ("paid", "shipped", "completed"))
    _assert_anomaly_agrees(backend, d, OCT)
    # Retention's LTV curve: October's purchase cohort holds every October buyer, so its month-0 revenue is
    # October's net revenue.
    ret = run_retention(backend, RetentionParams.create(days=1, cohort="purchase", returning="purchase",
                                                        period="month", date_from=OCT[0], date_to=OCT[1],
                                                        revenue=True, timezone="Asia/Shanghai"))
    (cohort,) = ret.cohorts
    assert cohort.size == 3  # a, b and c, each with a revenue order in October
    assert cohort.revenue_per_member is not None
    assert cohort.revenue_per_member[0] == pytest.approx((revenue or 0.0) / 3, abs=0.005)  # rounded to cents


@pytest.fixture(scope="module")
def demo() -> Iterator[tuple[DuckDBBackend, Dictionary]]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(Path(tmp))
        build(settings, DemoParams(users=300, days=60, seed=5))
        warehouse = Warehouse.open(settings, read_only=True)
        try:
            yield DuckDBBackend(warehouse), load_dictionary(settings)
        finally:
            warehouse.close()


def test_every_metric_agrees_on_the_demo(demo: tuple[DuckDBBackend, Dictionary]) -> None:
    backend, d = demo
    _assert_explain_agrees(backend, d, OCT, SEP)
    _assert_channels_agree(backend, d, OCT)
    _assert_anomaly_agrees(backend, d, OCT)
    week = (dt.date(2026, 10, 20), dt.date(2026, 10, 26))
    for name, metric in d.metrics.items():
        t = Target(name, name, ">=", 1.0, 1.0, "", metric.perspective, "month")
        card = kpi_card(backend, d, TargetSet((t,)), t, *week)
        assert card.actual == value_over(backend, d, name, *week), name
