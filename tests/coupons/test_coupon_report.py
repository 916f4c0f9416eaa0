"""Redemption matched exactly on a hand-built warehouse, and report numbers against pandas and
experiments.stats (the lift's interval is compare()'s, checked against SciPy's Welch test)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator, Sequence
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from jingyun import coupons
from jingyun.config import Settings
from jingyun.coupons.report import report, thresholds
from jingyun.experiments.stats import SampleMeanStatistic, compare
from jingyun.store import Store, open_store
from jingyun.warehouse import Warehouse
from jingyun.warehouse.backends import Backend, open_backend

NOW = dt.datetime(2026, 10, 1, 6, 0)
DAY = dt.timedelta(days=1)
WINDOW = (dt.datetime(2026, 9, 30, 16), dt.datetime(2026, 10, 7, 16))  # local 10-01..10-07 as UTC


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    st = open_store(settings)
    yield st
    st.close()


@pytest.fixture
def backend(settings: Settings, wh: Warehouse) -> Iterator[Backend]:
    b = open_backend(settings, warehouse=wh)
    yield b


def _orders(wh: Warehouse, rows: Sequence[tuple[str, str, dt.datetime, str, str | None, str | None, str]]) -> None:
    wh.con.executemany(
        "INSERT INTO orders (order_id, user_id, ts, amount, discount, coupon_id, status, person_id, is_test) "
        "VALUES (?, ?, ?, CAST(? AS DECIMAL(18,2)), CAST(? AS DECIMAL(18,2)), ?, ?, ?, FALSE)",
        [(o, u, ts, amt, disc, cpn, st, u) for o, u, ts, amt, disc, cpn, st in rows])


@pytest.fixture
def business(settings: Settings, store: Store, wh: Warehouse) -> dict[str, str]:
    """满200减30 (t200) and 满100减10 (t100) for local 10-01..10-07; ten people each; ten in the holdout."""
    window = {"valid_from": "2026-10-01", "valid_until": "2026-10-07"}
    coupons.create_template(store, settings, {"key": "t200", "kind": "threshold", "threshold": "200",
                                              "amount_off": "30", **window}, now=NOW)
    coupons.create_template(store, settings, {"key": "t100", "kind": "threshold", "threshold": "100",
                                              "amount_off": "10", **window}, now=NOW)
    code = {f"u{i}": coupons.issue(store, settings, "t200", f"u{i}", now=NOW).code for i in range(1, 11)}
    code |= {f"v{i}": coupons.issue(store, settings, "t100", f"v{i}", now=NOW).code for i in range(1, 11)}
    d2 = NOW + DAY
    _orders(wh, [
        ("r1", "u1", d2, "220.00", "30.00", code["u1"], "paid"),  # redeemed: 250 before discount
        ("b2", "u2", d2, "150.00", "30.00", code["u2"], "paid"),  # below threshold: 180
        ("x3", "u3", dt.datetime(2026, 10, 7, 16), "300.00", "30.00", code["u3"], "paid"),  # expired at the instant
        ("c4", "u4", d2, "300.00", "30.00", code["u4"], "cancelled"),  # not a valid order
        ("r5", "u5", d2, "170.00", "30.00", code["u5"], "completed"),  # redeemed at exactly 200
        ("d5", "u5", d2 + DAY, "400.00", "30.00", code["u5"], "paid"),  # second use of the same code
        ("w7", "u7", d2, "400.00", "30.00", code["u6"], "paid"),  # u6's code used by u7
        ("r8", "u8", d2, "270.00", "30.00", "-".join([code["u8"][:4], code["u8"][4:8], code["u8"][8:]]).lower(), "shipped"),
        ("k9", "u9", d2, "500.00", "30.00", "CPN-202610-30", "paid"),  # a campaign id, not an issued code
        ("s1", "v1", d2, "90.00", "10.00", code["v1"], "paid"),  # t100 redeemed at 100
        ("s2", "v2", d2, "95.00", "4.00", code["v2"], "paid"),  # 99 before discount: below
        ("s3", "v3", d2, "300.00", "10.00", code["v3"], "refunded"),
    ])
    rng = np.random.default_rng(7)
    extra = []
    people = [f"u{i}" for i in range(1, 11)] + [f"h{i}" for i in range(1, 21)]
    for n in range(120):
        who = people[int(rng.integers(0, len(people)))]
        ts = WINDOW[0] + dt.timedelta(hours=int(rng.integers(-48, 24 * 9)))  # some fall outside the window
        status = ["paid", "paid", "completed", "cancelled", "created"][int(rng.integers(0, 5))]
        extra.append((f"g{n:03d}", who, ts, f"{int(rng.integers(20, 400))}.{int(rng.integers(0, 100)):02d}", None, None, status))
    _orders(wh, extra)
    return code


def _frame(wh: Warehouse) -> pd.DataFrame:
    return wh.con.execute("SELECT * FROM orders").df()


def test_redemption_matching_is_exact(settings: Settings, store: Store, backend: Backend,
                                      business: dict[str, str]) -> None:
    rep = report(store, settings, backend, templates=["t200", "t100"], with_orders=True)
    by_order = {o.order_id: o.reason for o in rep.orders}
    assert by_order == {"r1": None, "b2": "below_threshold", "x3": "outside_validity", "c4": "order_not_valid",
                        "r5": None, "d5": "already_redeemed", "w7": "wrong_person", "r8": None,
                        "s1": None, "s2": "below_threshold", "s3": "order_not_valid"}
    t200, t100 = rep.templates
    assert (t200.issued, t200.redeemed, t200.redemption_rate) == (10, 3, 0.3)
    assert t200.discount_cost == Decimal("90.00") and t200.redeemed_gmv == Decimal("660.00")
    assert t200.rejected == {"order_not_valid": 1, "wrong_person": 1, "outside_validity": 1, "below_threshold": 1,
                             "already_redeemed": 1}
    assert (t100.issued, t100.redeemed, t100.discount_cost) == (10, 1, Decimal("10.00"))
    assert t200.window_start is not None and t200.window_start.isoformat() == "2026-10-01T00:00:00+08:00"
    assert t200.lift is None and t200.message is not None


def test_report_agrees_with_pandas_and_lift_is_experiments_stats(settings: Settings, store: Store, backend: Backend,
                                                                 wh: Warehouse, business: dict[str, str]) -> None:
    holdout = [f"h{i}" for i in range(1, 21)]
    rep = report(store, settings, backend, templates=["t200"], holdout=holdout, margin_rate=0.4)
    t = rep.templates[0]
    # independent: pandas over the raw orders
    df = _frame(wh)
    df["gross"] = df["amount"].astype(float) + df["discount"].fillna(0).astype(float)
    codes = pd.DataFrame([(c.code, c.user_id) for c in coupons.codes(store, "t200")], columns=["code", "holder"])
    df["code"] = df["coupon_id"].fillna("").str.replace("-", "").str.upper()
    m = df.merge(codes, on="code").sort_values(["ts", "order_id"])
    ok = (m["status"].isin(["paid", "shipped", "completed", "created"]) & (m["user_id"] == m["holder"])
          & (m["ts"] >= WINDOW[0]) & (m["ts"] < WINDOW[1]) & (m["gross"] >= 200))
    first = m[ok].drop_duplicates("code")
    assert t.redeemed == len(first) and t.discount_cost == Decimal(30 * len(first))
    assert float(t.redeemed_gmv) == pytest.approx(first["amount"].astype(float).sum())
    valid = df[df["status"].isin(["paid", "shipped", "completed", "created"]) & (df["ts"] >= WINDOW[0])
               & (df["ts"] < WINDOW[1])]
    per = valid.groupby("user_id")["amount"].sum().astype(float)
    treated = [f"u{i}" for i in range(1, 11)]
    xt = np.array([per.get(u, 0.0) for u in treated])
    xc = np.array([per.get(u, 0.0) for u in holdout])
    assert t.lift is not None and (t.lift.treated, t.lift.control) == (10, 20)
    expected = compare(SampleMeanStatistic(len(xc), xc.sum(), (xc ** 2).sum()),
                       SampleMeanStatistic(len(xt), xt.sum(), (xt ** 2).sum()), variation="issued")
    for name in ("control_mean", "treatment_mean", "uplift_abs", "se_abs", "p_value"):
        assert getattr(t.lift.gmv, name) == pytest.approx(getattr(expected, name), rel=1e-12)
    assert t.lift.gmv.ci_abs == pytest.approx(expected.ci_abs, rel=1e-12)
    assert t.lift.gmv.method == "welch"
    welch = sps.ttest_ind(xt, xc, equal_var=False)
    assert t.lift.gmv.p_value == pytest.approx(welch.pvalue, rel=1e-9)
    ci = welch.confidence_interval(0.95)
    assert t.lift.gmv.ci_abs == pytest.approx((ci.low, ci.high), rel=1e-6)
    assert t.lift.incremental_gmv == pytest.approx((xt.mean() - xc.mean()) * 10)
    assert t.lift.incremental_gmv_ci == pytest.approx((ci.low * 10, ci.high * 10), rel=1e-6)
    assert t.lift.conversion.treatment_mean == pytest.approx((xt > 0).mean())
    assert t.incremental_margin == pytest.approx(t.lift.incremental_gmv * 0.4)
    assert t.net == pytest.approx(t.lift.incremental_gmv * 0.4 - 90)
    assert not math.isnan(t.lift.gmv.se_abs)


def test_threshold_analysis_distribution_and_choice(settings: Settings, store: Store, backend: Backend,
                                                    wh: Warehouse, business: dict[str, str]) -> None:
    res = thresholds(store, settings, backend, holdout=[f"h{i}" for i in range(1, 21)], margin_rate=0.4, bins=10)
    assert [r.report.template for r in res.rows] == ["t100", "t200"]  # newest first
    assert res.best_redemption == "t200"  # 3 of 10 against 1 of 10
    df = _frame(wh)
    df["gross"] = df["amount"].astype(float) + df["discount"].fillna(0).astype(float)
    valid = df[df["status"].isin(["paid", "shipped", "completed", "created"]) & (df["ts"] >= WINDOW[0])
               & (df["ts"] < WINDOW[1])]
    row = res.rows[1]
    assert row.threshold == Decimal("200.00") and row.distribution[0].low == Decimal("100.00")
    assert row.distribution[-1].high == Decimal("300.00")
    for b in row.distribution:
        assert b.orders == int(((valid["gross"] >= float(b.low)) & (valid["gross"] < float(b.high))).sum())
    assert sum(b.redeemed for b in row.distribution) == 2  # 250 and 200; 300 is the range's open end
    assert row.just_above == row.distribution[5].orders and row.distribution[5].low == Decimal("200.00")
    assert row.mean_redeemed_value == Decimal("250.00")  # 250, 200, 300 before discount
    nets = {r.report.template: r.report.net for r in res.rows}
    assert res.best_payback == max(nets, key=lambda k: nets[k] or -math.inf)
    assert res.pays_back == [k for k in ("t100", "t200") if (nets[k] or 0) > 0]
