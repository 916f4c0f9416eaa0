"""Churn scoring: batched ablation reasons vs a per-feature loop, reasons only for the top-risk rows."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

import jingyun.models.churn as churn
from jingyun.errors import JingyunError
from jingyun.models.churn import ChurnModel, ChurnParams, reason_rows, score_frame, train
from jingyun.models.churn_features import FEATURES, FeatureFrame


def _data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.gamma(1.5, 10.0, size=(n, len(FEATURES)))
    z = 0.1 * X[:, FEATURES.index("days_since_last_event")] - 0.08 * X[:, FEATURES.index("events_30d")] - 0.3
    return X, (rng.random(n) < 1 / (1 + np.exp(-z))).astype(np.int64)


@pytest.fixture(scope="module")
def model() -> ChurnModel:
    X, y = _data(4000, 1)
    return train([FeatureFrame(dt.date(2026, 1, 1), np.arange(len(y)).astype(object), X, "")], [y],
                 ChurnParams(max_iter=20))


def _loop_contributions(model: ChurnModel, X: np.ndarray) -> np.ndarray:
    """Independent reference: one full prediction per ablated feature."""
    base = model.predict(X)
    out = np.empty_like(X)
    for j in range(X.shape[1]):
        Xj = X.copy()
        Xj[:, j] = model.reference[j]
        out[:, j] = base - model.predict(Xj)
    return out


@pytest.mark.parametrize("block_rows", [churn._ABLATION_ROWS, 100, 1])
def test_batched_contributions_equal_the_per_feature_loop(model: ChurnModel, block_rows: int,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    X, _ = _data(700, 2)
    monkeypatch.setattr(churn, "_ABLATION_ROWS", block_rows)
    np.testing.assert_array_equal(model.contributions(X), _loop_contributions(model, X))
    assert model.contributions(X[:0]).shape == (0, len(FEATURES))


def test_reason_rows_picks_the_highest_risks() -> None:
    risk = np.array([0.2, 0.9, 0.5, 0.7, 0.95, 0.5, 0.1])
    assert reason_rows(risk, 0.5, None).tolist() == [1, 2, 3, 4, 5]
    assert reason_rows(risk, 0.5, 2).tolist() == [1, 4]
    assert reason_rows(risk, 0.5, 4).tolist() == [1, 2, 3, 4]  # tie at 0.5: the earlier row
    assert reason_rows(risk, 0.0, 0).tolist() == []
    assert reason_rows(risk, 0.0, None).tolist() == list(range(7))


def test_score_frame_gives_reasons_only_to_the_chosen_rows(model: ChurnModel) -> None:
    X, _ = _data(1500, 3)
    frame = FeatureFrame(dt.date(2026, 2, 1), np.array([f"p{i}" for i in range(len(X))], dtype=object), X, "")
    everyone = score_frame(model, frame, 3, min_risk=0.0, max_users=None)
    few = score_frame(model, frame, 3, min_risk=0.6, max_users=50)
    np.testing.assert_array_equal(few.risk, everyone.risk)
    chosen = set(reason_rows(everyone.risk, 0.6, 50).tolist())
    assert len(chosen) == 50 and min(everyone.risk[list(chosen)]) >= 0.6
    ref = _loop_contributions(model, X)
    for i in range(len(X)):
        if i in chosen:
            assert few.reasons[i] == everyone.reasons[i]
            expect = sorted((j for j in range(len(FEATURES)) if ref[i, j] > 0), key=lambda j: -ref[i, j])[:3]
            assert [r.feature for r in few.reasons[i]] == [FEATURES[j] for j in expect]
        else:
            assert few.reasons[i] == []
    assert score_frame(model, frame, 0).reasons == [[] for _ in range(len(X))]


@pytest.mark.parametrize("field, value", [("reason_min_risk", 1.5), ("reason_max_users", -1), ("max_iter", 0)])
def test_bad_scoring_params(field: str, value: float) -> None:
    with pytest.raises(JingyunError) as err:
        ChurnParams(**{field: value}).validate()
    assert err.value.field == field
