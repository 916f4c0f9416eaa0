"""Churn model: training and scoring time on synthetic features (1 million users in the full run).

Features are drawn with the churn feature layout (27 columns) and a label that
depends on recency, activity and order rate through a logistic link, so the
trees have something real to fit. Rows: HistGradientBoosting (our model) next
to scikit-learn's LogisticRegression (the reference) fitted and scored on the
same arrays in the same run; scoring is predict_proba over every user, and
"reasons" adds the per-user ablation (one extra pass per feature). Goal:
churn scoring ≥ 200,000 users/s. Threads: 1 (see ChurnParams.n_threads).
"""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from jingyun.models.churn import ChurnModel, ChurnParams, roc_auc, train
from jingyun.models.churn_features import FEATURES, FeatureFrame


def synthetic(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.gamma(1.5, 10.0, size=(n, len(FEATURES)))
    rec = X[:, FEATURES.index("days_since_last_event")]
    act = X[:, FEATURES.index("events_30d")]
    rate = X[:, FEATURES.index("orders_per_30d")]
    z = 0.08 * rec - 0.05 * act - 0.04 * rate - 0.5 + 0.002 * (rec - 15) ** 2
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(np.int64)
    return X, y


def run(quick: bool) -> list[dict[str, object]]:
    n_train = 20_000 if quick else 200_000
    n_score = 50_000 if quick else 1_000_000
    X, y = synthetic(n_train, 1)
    Xs, ys = synthetic(n_score, 2)
    params = ChurnParams(max_iter=50 if quick else 200)
    frame = FeatureFrame(dt.date(2026, 1, 1), np.arange(n_train).astype(object), X, "")
    rows: list[dict[str, object]] = []

    t0 = time.perf_counter()
    model: ChurnModel = train([frame], [y], params)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    risk = model.predict(Xs)
    score_s = time.perf_counter() - t0
    n_reason = min(n_score, 100_000)
    t0 = time.perf_counter()
    model.contributions(Xs[:n_reason])
    reason_s = time.perf_counter() - t0

    with threadpool_limits(limits=1):
        t0 = time.perf_counter()
        mu, sd = X.mean(axis=0), X.std(axis=0)
        ref = LogisticRegression(max_iter=200).fit((X - mu) / sd, y)
        ref_fit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        ref_risk = ref.predict_proba((Xs - mu) / sd)[:, 1]
        ref_score_s = time.perf_counter() - t0

    rows.append({
        "model": "HistGradientBoosting (churn)", "train rows": n_train, "fit s": round(fit_s, 2),
        "score rows": n_score, "score s": round(score_s, 2), "users/s": f"{n_score / score_s:,.0f}",
        "reasons users/s": f"{n_reason / reason_s:,.0f}", "test ROC-AUC": round(roc_auc(ys, risk), 4),
    })
    rows.append({
        "model": "LogisticRegression (reference)", "train rows": n_train, "fit s": round(ref_fit_s, 2),
        "score rows": n_score, "score s": round(ref_score_s, 2), "users/s": f"{n_score / ref_score_s:,.0f}",
        "reasons users/s": "", "test ROC-AUC": round(roc_auc(ys, ref_risk), 4),
    })
    return rows


if __name__ == "__main__":
    for row in run(quick=True):
        print(row)
