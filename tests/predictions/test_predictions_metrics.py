"""Metrics against independent references (scikit-learn, hand computation) and small units."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from jingyun.config import Settings
from jingyun.models.churn import average_precision, calibration, lift_at, roc_auc
from jingyun.models.churn_features import FeatureParams, feature_query, label_query
from jingyun.models.forecast import ForecastParams, mape, seasonal_naive, series_query, wape
from jingyun.models.holidays_cn import calendar_regressors, weekly_regressors
from jingyun.models.recommend import interactions_query, precision_recall_at_k
from jingyun.models.registry import open_registry
from jingyun.warehouse.portable import lint, to_spark
from jingyun.warehouse.sqltext import utc_start


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_auc_and_average_precision_match_sklearn_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = (rng.random(500) < 0.3).astype(np.int64)
    score = np.round(rng.random(500) + 0.3 * y, 1)  # rounding makes many ties
    assert roc_auc(y, score) == pytest.approx(roc_auc_score(y, score), abs=1e-12)
    assert average_precision(y, score) == pytest.approx(average_precision_score(y, score), abs=1e-12)


def test_lift_and_calibration_by_hand() -> None:
    y = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 0])
    score = np.array([0.9, 0.1, 0.8, 0.2, 0.3, 0.35, 0.4, 0.45, 0.5, 0.05])
    # top 10% = 1 person (0.9, churned): rate 1.0 over base 0.2
    assert lift_at(y, score, 0.1) == pytest.approx(5.0)
    # top 20% = 0.9 (yes) and 0.8 (no): 0.5 / 0.2
    assert lift_at(y, score, 0.2) == pytest.approx(2.5)
    bins = calibration(y, score, bins=2)
    # [0, 0.5): seven people, one churned (0.1); [0.5, 1]: 0.5, 0.8, 0.9 with one churned (0.9)
    assert [(b.count, b.observed_rate) for b in bins] == [(7, 1 / 7), (3, 1 / 3)]
    assert bins[0].mean_predicted == pytest.approx(np.mean([0.1, 0.2, 0.3, 0.35, 0.4, 0.45, 0.05]))


def test_wape_mape_and_seasonal_naive_by_hand() -> None:
    actual = np.array([10.0, 0.0, 30.0])
    pred = np.array([12.0, 1.0, 24.0])
    assert wape(actual, pred) == pytest.approx((2 + 1 + 6) / 40)
    assert mape(actual, pred) == pytest.approx((0.2 + 0.2) / 2)  # the zero day is skipped
    hist = np.arange(14.0)
    assert seasonal_naive(hist, 9, 7).tolist() == [7, 8, 9, 10, 11, 12, 13, 7, 8]
    assert seasonal_naive(np.array([5.0]), 3, 7).tolist() == [5, 5, 5]


def test_precision_recall_at_k_by_hand() -> None:
    m = precision_recall_at_k([["a", "b", "c"], ["x", "y", "z"]], [{"a", "c", "q", "r"}, {"w"}], 3)
    assert m.precision == pytest.approx((2 / 3 + 0) / 2)
    assert m.recall == pytest.approx((2 / 4 + 0) / 2)
    assert m.hit_rate == 0.5


def test_holiday_and_festival_regressors() -> None:
    days = [dt.date(2026, 2, 10) + dt.timedelta(days=k) for k in range(20)]
    cols = calendar_regressors(days)
    # Chinese New Year 2026 is Feb 17 (holidays.China); the window is ±7 days around each festival day.
    assert cols["spring_festival"][days.index(dt.date(2026, 2, 10))] == 1.0
    assert cols["spring_festival"][days.index(dt.date(2026, 2, 26))] == 1.0
    assert cols["spring_festival"][days.index(dt.date(2026, 3, 1))] == 0.0
    assert cols["holiday"][days.index(dt.date(2026, 2, 17))] == 1.0
    june = [dt.date(2026, 6, d) for d in (1, 17, 18, 19)]
    c = calendar_regressors(june)
    assert c["pre_618"].tolist() == [1, 1, 0, 0] and c["peak_618"].tolist() == [0, 0, 1, 0]
    assert c["dow_3"].tolist() == [0, 0, 1, 0]  # 2026-06-18 is a Thursday (Monday is the base)
    w = weekly_regressors([dt.date(2026, 11, 9)])  # Monday; Nov 9-15 holds Nov 9, 10 (pre) and 11 (peak)
    assert w["pre_1111"].tolist() == [2.0] and w["peak_1111"].tolist() == [1.0]


def test_every_query_is_portable() -> None:
    day = dt.date(2026, 9, 1)
    queries = [
        feature_query(FeatureParams(day), "Asia/Shanghai"),
        feature_query(FeatureParams(day, customers_only=False), "Asia/Shanghai"),
        label_query(FeatureParams(day), "Asia/Shanghai"),
        series_query(ForecastParams(), "Asia/Shanghai", day, day + dt.timedelta(days=30)),
        series_query(ForecastParams(by=()), "Asia/Shanghai", day, day + dt.timedelta(days=30)),
        interactions_query(None, utc_start(day, "Asia/Shanghai")),
    ]
    for q in queries:
        assert lint(q) == []
        assert to_spark(q)


def test_cutoff_is_local_midnight() -> None:
    assert utc_start(dt.date(2026, 9, 1), "Asia/Shanghai") == dt.datetime(2026, 8, 31, 16, 0)


def test_registry_round_trip(settings: Settings) -> None:
    # the registry lives in the metadata store (SQLite here); a second handle sees the same rows
    reg = open_registry(settings)
    a = reg.register("churn", data_start=None, data_end=dt.date(2026, 11, 1),
                     params={"horizon_days": 60, "cutoff": dt.date(2026, 9, 1)},
                     metrics={"roc_auc": 0.9, "pr_auc": float("nan")})
    b = reg.register("forecast", data_start=dt.date(2025, 11, 1), data_end=dt.date(2026, 11, 1),
                     params={}, metrics={"wape": 0.3})
    again = open_registry(settings)
    assert {e.model_id for e in again.list()} == {a.model_id, b.model_id}
    assert [e.model_id for e in again.list("churn")] == [a.model_id]
    got = again.get(a.model_id)
    assert got.params == {"horizon_days": 60, "cutoff": "2026-09-01"}
    assert got.metrics == {"roc_auc": 0.9, "pr_auc": None}  # NaN is stored as null
    assert got.data_end == dt.date(2026, 11, 1)
    assert again.set_artifact(a.model_id, "/tmp/m.pkl").artifact == "/tmp/m.pkl"
    with pytest.raises(Exception, match="no model"):
        again.get("nope")
    with pytest.raises(Exception, match="kind"):
        reg.register("magic", data_start=None, data_end=None, params={}, metrics={})
