"""Churn model: training and scoring time on synthetic features (1 million users in the full run).

Features are drawn with the churn feature layout (29 columns) and a label that
depends on recency, activity and order rate through a logistic link, so the
trees have something real to fit. Rows: HistGradientBoosting with the current
defaults (40 trees, learning rate 0.1), the same model predicting with 2 OpenMP
threads, the previous defaults (200 trees, 0.05) for comparison, the whole
``score_frame`` path (risk for everyone plus ablation reasons for the at most
10,000 highest-risk people with risk >= 0.5), and scikit-learn's
LogisticRegression (the reference), all fitted and scored on the same arrays in
the same run. "reasons users/s" is the ablation alone (one extra prediction per
feature) on 100,000 users. Goal: churn scoring >= 200,000 users/s with 1 thread.
The machine is shared (2 cores): "load" is the 1-minute load average before and
after each row.
"""

from __future__ import annotations

import datetime as dt
import os
import time

import numpy as np
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from jingyun.models.churn import ChurnModel, ChurnParams, roc_auc, score_frame, train
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


def _load() -> float:
    return round(os.getloadavg()[0], 1)


def _timed_predict(model: ChurnModel, Xs: np.ndarray, threads: int) -> tuple[np.ndarray, float]:
    model.n_threads = threads
    t0 = time.perf_counter()
    risk = model.predict(Xs)
    return risk, time.perf_counter() - t0


def run(quick: bool) -> list[dict[str, object]]:
    n_train = 20_000 if quick else 200_000
    n_score = 50_000 if quick else 1_000_000
    n_reason = min(n_score, 100_000)
    X, y = synthetic(n_train, 1)
    Xs, ys = synthetic(n_score, 2)
    frame = FeatureFrame(dt.date(2026, 1, 1), np.arange(n_train).astype(object), X, "")
    scored = FeatureFrame(dt.date(2026, 2, 1), np.arange(n_score).astype(object), Xs, "")
    rows: list[dict[str, object]] = []

    def row(name: str, fit_s: float | None, score_s: float, auc: float, load0: float, **extra: object) -> None:
        rows.append({
            "model": name, "train rows": n_train, "fit s": "" if fit_s is None else round(fit_s, 2),
            "score rows": n_score, "score s": round(score_s, 2), "users/s": f"{n_score / score_s:,.0f}",
            "reasons users/s": "", "test ROC-AUC": round(auc, 4), "load": f"{load0} → {_load()}", **extra,
        })

    configs = [("HistGradientBoosting 40×0.1 (churn default)", ChurnParams()),
               ("HistGradientBoosting 200×0.05 (previous default)", ChurnParams(max_iter=200, learning_rate=0.05))]
    for i, (name, params) in enumerate(configs):
        load0 = _load()
        t0 = time.perf_counter()
        model = train([frame], [y], params)
        fit_s = time.perf_counter() - t0
        risk, score_s = _timed_predict(model, Xs, 1)
        t0 = time.perf_counter()
        model.contributions(Xs[:n_reason], risk[:n_reason])
        reason_s = time.perf_counter() - t0
        row(name + ", 1 thread", fit_s, score_s, roc_auc(ys, risk), load0)
        rows[-1]["reasons users/s"] = f"{n_reason / reason_s:,.0f}"
        if i == 0:
            load0 = _load()
            risk2, score2_s = _timed_predict(model, Xs, 2)
            row(name + ", 2 threads (prediction)", None, score2_s, roc_auc(ys, risk2), load0)
            model.n_threads = 1
            load0 = _load()
            t0 = time.perf_counter()
            out = score_frame(model, scored, 3, min_risk=0.5, max_users=10_000)
            full_s = time.perf_counter() - t0
            row(name + ", score_frame: risk + top-10k reasons", None, full_s, roc_auc(ys, out.risk), load0)

    with threadpool_limits(limits=1):
        load0 = _load()
        t0 = time.perf_counter()
        mu, sd = X.mean(axis=0), X.std(axis=0)
        ref = LogisticRegression(max_iter=200).fit((X - mu) / sd, y)
        ref_fit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        ref_risk = ref.predict_proba((Xs - mu) / sd)[:, 1]
        ref_score_s = time.perf_counter() - t0
    row("LogisticRegression (reference), 1 thread", ref_fit_s, ref_score_s, roc_auc(ys, ref_risk), load0)
    return rows


if __name__ == "__main__":
    for r in run(quick=True):
        print(r)
