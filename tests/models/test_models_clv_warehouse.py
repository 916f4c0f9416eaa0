"""CLV on the warehouse: the SQL RFM summary, fitting, scoring into model_scores, the CLI."""

from __future__ import annotations

import datetime as dt
import json
import math

import numpy as np
import pyarrow as pa
import pytest
from clv_reference import CDNOW_GG, rfm_reference, simulate_orders

from jingyun.cli.main import main
from jingyun.errors import JingyunError
from jingyun.models import bgnbd
from jingyun.models.bgnbd import BGNBDParams
from jingyun.models.clv import ClvParams, clv_scores, fit_clv, load_rfm, rfm_query, score_clv
from jingyun.warehouse import Warehouse
from jingyun.warehouse.portable import lint, to_spark

CAL, HOLD = dt.date(2024, 3, 31), dt.date(2024, 6, 30)


def _insert(wh: Warehouse, orders: pa.Table) -> None:
    wh.con.register("_orders_in", orders)
    wh.con.execute(
        "INSERT INTO orders (order_id, user_id, ts, amount, status, person_id, is_test) "
        "SELECT order_id, user_id, ts, CAST(amount AS DECIMAL(18,2)), status, person_id, is_test FROM _orders_in"
    )
    wh.con.unregister("_orders_in")


def _orders(rows: list[tuple[str, str, str, float, str, bool]]) -> pa.Table:
    person, ts, status, amount, is_test = [], [], [], [], []
    for p, when, st, amt, test, _ in ((r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows):
        person.append(p)
        ts.append(dt.datetime.fromisoformat(when))  # UTC
        status.append(st)
        amount.append(amt)
        is_test.append(test)
    return pa.table({
        "order_id": [f"o{i}" for i in range(len(rows))],
        "user_id": person,
        "ts": pa.array(ts, pa.timestamp("us")),
        "amount": pa.array(amount, pa.float64()),
        "status": status,
        "person_id": person,
        "is_test": is_test,
    })


# (person, UTC time, status, amount, is_test, why). The workspace is Asia/Shanghai (UTC+8).
KNOWN = [
    ("A", "2024-01-01 02:00", "paid", 100.00, False, "first day, local Jan 1"),
    ("A", "2024-01-10 20:00", "paid", 50.00, False, "local Jan 11 04:00"),
    ("A", "2024-01-11 03:00", "completed", 30.00, False, "same local day: one purchase of 80"),
    ("A", "2024-02-15 10:00", "cancelled", 40.00, False, "cancelled: ignored"),
    ("A", "2024-03-01 00:00", "shipped", 20.00, False, "local Mar 1"),
    ("A", "2024-03-31 17:00", "paid", 70.00, False, "local Apr 1: holdout"),
    ("A", "2024-05-05 09:00", "paid", 10.00, False, "holdout"),
    ("B", "2024-03-31 15:00", "paid", 15.00, False, "local Mar 31 23:00: born on the last calibration day"),
    ("C", "2024-01-02 02:00", "paid", 999.00, True, "test account"),
    ("C", "2024-02-02 02:00", "paid", 999.00, True, "test account"),
    ("D", "2024-02-01 01:00", "paid", 10.00, False, "two orders one day"),
    ("D", "2024-02-01 09:00", "paid", 12.00, False, "two orders one day"),
    ("E", "2024-04-10 01:00", "paid", 33.00, False, "first order after calibration: not a customer yet"),
    ("F", "2024-01-20 01:00", "cancelled", 50.00, False, "only a cancelled order"),
    ("G", "2024-01-04 18:00", "paid", 5.00, False, "local Jan 5 02:00"),
    ("G", "2024-01-05 10:00", "paid", 6.00, False, "local Jan 5 18:00"),
    ("G", "2024-02-10 04:00", "paid", 25.50, False, "local Feb 10"),
]


def test_rfm_summary_exact(wh: Warehouse) -> None:
    _insert(wh, _orders(KNOWN))
    rfm = load_rfm(wh, ClvParams(calibration_end=CAL, holdout_end=HOLD, time_unit="day"))
    got = {
        p: (f, r, t, m, h)
        for p, f, r, t, m, h in zip(
            rfm.person_id, rfm.frequency, rfm.recency, rfm.T, rfm.monetary, rfm.holdout_frequency, strict=True
        )
    }
    assert got == {
        "A": (2, 60, 90, 50.0, 2),  # days Jan 1, Jan 11 (80), Mar 1 (20); 2024 is a leap year
        "B": (0, 0, 0, 0.0, 0),
        "D": (0, 0, 59, 0.0, 0),
        "G": (1, 36, 86, 25.5, 0),
    }
    assert rfm.holdout_duration == 91
    weekly = load_rfm(wh, ClvParams(calibration_end=CAL, holdout_end=HOLD, time_unit="week"))
    np.testing.assert_allclose(weekly.T, rfm.T / 7)
    np.testing.assert_allclose(weekly.recency, rfm.recency / 7)
    assert weekly.holdout_duration == pytest.approx(13.0)


def test_rfm_query_is_portable() -> None:
    sql = rfm_query(ClvParams(calibration_end=CAL, holdout_end=HOLD), "Asia/Shanghai")
    assert lint(sql) == []
    assert "DATEDIFF" in to_spark(sql).upper()


def test_same_day_orders_only_give_a_clear_error(wh: Warehouse) -> None:
    rows = [(p, f"2024-02-0{d} 0{h}:00", "paid", 10.0, False, "") for p in "PQR" for d in (1,) for h in (1, 2, 3)]
    _insert(wh, _orders(rows))
    with pytest.raises(JingyunError) as err:
        fit_clv(wh, ClvParams(calibration_end=CAL))
    assert err.value.code == "clv_no_repeats"
    with pytest.raises(JingyunError) as err:
        fit_clv(wh, ClvParams(calibration_end=dt.date(2023, 12, 31)))
    assert err.value.code == "clv_no_customers"


@pytest.fixture
def simulated(wh: Warehouse) -> tuple[Warehouse, pa.Table]:
    # Daily rates: CDNOW-like heterogeneity, a purchase every ~3 weeks on average while alive.
    params = BGNBDParams(r=0.6, alpha=15.0, a=0.8, b=3.0)
    orders = simulate_orders(params, CDNOW_GG, 3000, np.random.default_rng(7), horizon_days=365)
    _insert(wh, orders)
    return wh, orders


def test_sql_rfm_matches_python_reference(simulated: tuple[Warehouse, pa.Table]) -> None:
    wh, orders = simulated
    rfm = load_rfm(wh, ClvParams(calibration_end=dt.date(2024, 6, 30), holdout_end=dt.date(2024, 12, 30), time_unit="day"))
    ref = rfm_reference(orders, "2024-06-30", "2024-12-30")
    assert len(rfm) == len(ref) == 3000
    for i, person in enumerate(rfm.person_id):
        f, r, t, m, h = ref[person]
        assert (rfm.frequency[i], rfm.recency[i], rfm.T[i], rfm.holdout_frequency[i]) == (f, r, t, h)
        assert rfm.monetary[i] == pytest.approx(m, rel=1e-9, abs=1e-9)


def test_fit_holdout_and_score(simulated: tuple[Warehouse, pa.Table]) -> None:
    wh, _ = simulated
    params = ClvParams(calibration_end=dt.date(2024, 6, 30), holdout_end=dt.date(2024, 12, 30), time_unit="day")
    result = fit_clv(wh, params)
    out = result.to_dict()
    assert out["customers"] == 3000 and out["time_unit"] == "day"
    b = result.bgnbd.params
    assert all(math.isfinite(v) and v > 0 for v in b.as_tuple())
    # holdout plot data: every calibration frequency bucket predicted within 4 standard errors
    rfm = load_rfm(wh, params)
    assert sum(h.customers for h in result.holdout) == 3000
    assert [h.frequency for h in result.holdout][:2] == ["0", "1"] and result.holdout[-1].frequency == "7+"
    for h in result.holdout:
        k = int(h.frequency.rstrip("+"))
        sel = (rfm.frequency >= k) if h.frequency.endswith("+") else (rfm.frequency == k)
        assert h.actual == pytest.approx(rfm.holdout_frequency[sel].mean())
        se = rfm.holdout_frequency[sel].std() / math.sqrt(h.customers)
        assert abs(h.actual - h.predicted) < 4 * se + 0.02

    score_params = ClvParams(calibration_end=dt.date(2024, 12, 30), months=12, monthly_discount_rate=0.01, margin=0.3)
    first = score_clv(wh, score_params)
    assert first.scored == 3000 and first.high_value == 600
    rows = wh.rows("SELECT score_name, count(*) FROM model_scores WHERE model = 'clv' GROUP BY 1 ORDER BY 1")
    assert rows == [("clv", 3000), ("expected_purchases", 3000), ("expected_spend", 3000),
                    ("high_value_clv", 600), ("p_alive", 3000)]
    clv = dict(wh.rows("SELECT person_id, value FROM model_scores WHERE score_name = 'clv'"))
    flagged = {r[0] for r in wh.rows("SELECT person_id FROM model_scores WHERE score_name = 'high_value_clv'")}
    ranked = sorted(clv, key=lambda p: (-clv[p], p))
    assert flagged == set(ranked[:600])
    assert min(clv[p] for p in flagged) == pytest.approx(first.high_value_threshold)
    # the stored scores are the library's scores for the same fit
    rfm_all = load_rfm(wh, score_params)
    direct = clv_scores(first.fit.bgnbd.params, first.fit.gamma_gamma.params, rfm_all, score_params)
    np.testing.assert_allclose([clv[p] for p in rfm_all.person_id], direct.clv, rtol=1e-12)
    # undiscounted, full-margin CLV is exactly E[spend] · E[purchases in 12 months]
    flat = ClvParams(calibration_end=dt.date(2024, 12, 30), months=12, monthly_discount_rate=0.0, margin=1.0)
    plain = clv_scores(first.fit.bgnbd.params, first.fit.gamma_gamma.params, rfm_all, flat)
    twelve = bgnbd.conditional_expected_purchases(
        first.fit.bgnbd.params, 52.17857142857143, rfm_all.frequency, rfm_all.recency, rfm_all.T
    )
    np.testing.assert_allclose(plain.clv, plain.expected_spend * twelve, rtol=1e-9)
    assert np.all(direct.clv < 0.3 * plain.clv)  # discounting and margin only lower it
    # rescoring replaces the earlier run
    score_clv(wh, score_params, high_value_share=0.1)
    assert wh.scalar("SELECT count(*) FROM model_scores WHERE score_name = 'high_value_clv'") == 300
    assert wh.scalar("SELECT count(*) FROM model_scores") == 4 * 3000 + 300


def test_cli_fit_and_score_json(simulated: tuple[Warehouse, pa.Table], capsys: pytest.CaptureFixture[str]) -> None:
    wh, _ = simulated
    last_day = wh.scalar("SELECT max(CAST((ts AT TIME ZONE 'UTC') AT TIME ZONE 'Asia/Shanghai' AS DATE)) FROM orders")
    wh.close()  # the CLI opens the workspace warehouse itself
    code = main(["clv", "fit", "--calibration-end", "2024-06-30", "--holdout-end", "2024-12-30", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["bgnbd"]) == {"r", "alpha", "a", "b", "log_likelihood"}
    assert {"p", "q", "gamma"} <= set(out["gamma_gamma"])
    assert out["customers"] == 3000 and out["time_unit"] == "week" and len(out["holdout"]) == 8
    assert main(["clv", "score", "--margin", "0.3", "--json"]) == 0
    scored = json.loads(capsys.readouterr().out)
    assert scored["scored"] == 3000 and scored["high_value"] == 600 and scored["as_of"] == last_day.isoformat()
    assert main(["clv", "fit", "--calibration-end", "2024-13-01"]) == 2
    assert "calibration_end" in capsys.readouterr().err
    assert main(["clv", "fit", "--calibration-end", "2024-06-30", "--time-unit", "month"]) == 2
