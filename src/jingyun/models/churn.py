"""Churn risk: gradient boosting on warehouse features, validated on a later cut-off.

* Label: 1 when a person in the population has no event and no order in the
  ``horizon_days`` after the cut-off (see :mod:`jingyun.models.churn_features`).
* Model: scikit-learn's ``HistGradientBoostingClassifier`` trained on several
  earlier cut-offs stacked together (``train_cutoffs`` of them, ``cutoff_step_days``
  apart). The latest training cut-off is ``horizon_days`` before the test
  cut-off, so every training label is observed before the test features start:
  train on the past, test on the future, no overlap.
* Baseline: the operations playbook rule "7 days no login and last order below
  average" (no event in the 7 days before the cut-off, and the last order's
  amount below the population's average order value). It is a yes/no rule, so
  its ROC-AUC is (TPR + TNR) / 2; the model is also compared at the rule's
  own flag rate (precision and recall of the same number of flagged people).
* Reasons: per person, each feature is set to its population median and the
  drop in predicted risk is that feature's contribution; the largest positive
  contributions are the top reasons. It is a one-at-a-time ablation (a cheap
  stand-in for SHAP values: it ignores interactions between features). It costs
  one extra prediction per feature, so it is computed only for the people a
  campaign would act on: the highest-risk ones (``reason_min_risk``,
  ``reason_max_users``), not everyone.
* Scoring speed: prediction time is tree traversal (branch-bound, ~60 ns per
  person per tree here), so it is proportional to the number of trees. The
  ensemble size (40 trees, learning rate 0.1) was chosen on the demo's time-split
  validation, where it matched or beat 200 trees at 0.05 (see docs/predictions.md).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray
from scipy.stats import rankdata
from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import threadpool_limits

from jingyun.errors import JingyunError
from jingyun.models.churn_features import (
    FEATURES,
    FeatureFrame,
    FeatureParams,
    data_end,
    load_features,
    load_labels,
)
from jingyun.models.scores import replace_scores
from jingyun.privacy.consent_gate import model_consent_mask
from jingyun.warehouse.backends import Source

FloatArray = NDArray[np.float64]
MODEL_TAG = "churn_risk"



@dataclass(frozen=True)
class ChurnParams:
    """How to build, train and validate the churn model. Dates are local calendar days."""

    as_of: dt.date | None = None  # scoring day (default: the day after the last data)
    test_cutoff: dt.date | None = None  # validation cut-off (default: as_of - horizon)
    horizon_days: int = 60
    active_within_days: int = 90
    customers_only: bool = True
    train_cutoffs: int = 4
    cutoff_step_days: int = 30
    # 40 trees at 0.1 validated as well as 200 at 0.05 on the demo (observed and latent
    # churn, both horizons); scoring time is linear in the trees (docs/predictions.md).
    max_iter: int = 40
    learning_rate: float = 0.1
    max_leaf_nodes: int = 15
    min_samples_leaf: int = 40
    random_state: int = 0
    calibration_bins: int = 10
    top_reasons: int = 3
    # Reasons (one extra prediction per feature and person) only for people at or above
    # this risk, at most reason_max_users of them, highest risk first.
    reason_min_risk: float = 0.5
    reason_max_users: int = 10_000
    # OpenMP threads for fitting/scoring. One by default: on a shared, busy machine
    # OpenMP's spin-waiting makes a multi-thread fit far slower (bench/results/notes.md).
    n_threads: int = 1

    def validate(self) -> ChurnParams:
        self.features(dt.date(2000, 1, 1)).validate()
        if not 1 <= self.train_cutoffs <= 24:
            raise JingyunError("bad_param", "train_cutoffs must be between 1 and 24", "train_cutoffs")
        if not 1 <= self.cutoff_step_days <= 180:
            raise JingyunError("bad_param", "cutoff_step_days must be between 1 and 180", "cutoff_step_days")
        if not 2 <= self.calibration_bins <= 50:
            raise JingyunError("bad_param", "calibration_bins must be between 2 and 50", "calibration_bins")
        if not 1 <= self.n_threads <= 64:
            raise JingyunError("bad_param", "n_threads must be between 1 and 64", "n_threads")
        if not 0 <= self.top_reasons <= len(FEATURES):
            raise JingyunError("bad_param", f"top_reasons must be between 0 and {len(FEATURES)}", "top_reasons")
        if not 0.0 <= self.reason_min_risk <= 1.0:
            raise JingyunError("bad_param", "reason_min_risk must be between 0 and 1", "reason_min_risk")
        if not 0 <= self.reason_max_users <= 10_000_000:
            raise JingyunError("bad_param", "reason_max_users must be between 0 and 10,000,000", "reason_max_users")
        if not 1 <= self.max_iter <= 2000:
            raise JingyunError("bad_param", "max_iter must be between 1 and 2000", "max_iter")
        return self

    def features(self, cutoff: dt.date) -> FeatureParams:
        return FeatureParams(cutoff, self.horizon_days, self.active_within_days, self.customers_only)

    def training_cutoffs(self, last_label_end: dt.date) -> list[dt.date]:
        """Cut-offs whose label windows end on or before ``last_label_end``, latest first."""
        first = last_label_end - dt.timedelta(days=self.horizon_days)
        return [first - dt.timedelta(days=k * self.cutoff_step_days) for k in range(self.train_cutoffs)]


# -- metrics (pure functions) ----------------------------------------------


def roc_auc(y: NDArray[np.int64], score: FloatArray) -> float:
    """ROC-AUC as the Mann-Whitney U statistic (ties count one half)."""
    y = np.asarray(y)
    pos, neg = int((y == 1).sum()), int((y == 0).sum())
    if pos == 0 or neg == 0:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[y == 1].sum() - pos * (pos + 1) / 2) / (pos * neg))


def average_precision(y: NDArray[np.int64], score: FloatArray) -> float:
    """PR-AUC as average precision: Σ (Rₙ − Rₙ₋₁) Pₙ over distinct thresholds (as scikit-learn)."""
    y = np.asarray(y)
    pos = int((y == 1).sum())
    if pos == 0:
        return float("nan")
    order = np.argsort(-np.asarray(score), kind="mergesort")
    s, t = np.asarray(score)[order], y[order]
    tp = np.cumsum(t)
    last = np.r_[np.flatnonzero(np.diff(s) != 0), len(s) - 1]  # last index of each threshold
    precision = tp[last] / (last + 1)
    recall = tp[last] / pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def lift_at(y: NDArray[np.int64], score: FloatArray, share: float = 0.1) -> float:
    """Churn rate among the top ``share`` by score divided by the overall churn rate."""
    n = len(y)
    base = float(np.mean(y)) if n else 0.0
    if n == 0 or base == 0:
        return float("nan")
    k = max(1, int(np.ceil(share * n)))
    top = np.argsort(-np.asarray(score), kind="mergesort")[:k]
    return float(np.mean(np.asarray(y)[top]) / base)


@dataclass(frozen=True)
class CalibrationBin:
    lower: float
    upper: float
    count: int
    mean_predicted: float
    observed_rate: float


def calibration(y: NDArray[np.int64], p: FloatArray, bins: int = 10) -> list[CalibrationBin]:
    """Equal-width probability bins: mean predicted risk vs observed churn rate."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, bins - 1)
    out = []
    for b in range(bins):
        sel = idx == b
        if sel.any():
            out.append(CalibrationBin(float(edges[b]), float(edges[b + 1]), int(sel.sum()),
                                      float(p[sel].mean()), float(np.mean(y[sel]))))
    return out


@dataclass(frozen=True)
class ClassifierMetrics:
    roc_auc: float
    pr_auc: float
    lift_top_decile: float
    flagged: int  # how many people the score flags (rule: its yes; model: the same number)
    precision_at_flagged: float
    recall_at_flagged: float


def classifier_metrics(y: NDArray[np.int64], score: FloatArray, flagged: int) -> ClassifierMetrics:
    top = np.argsort(-score, kind="mergesort")[:flagged]
    hits = float(np.sum(y[top])) if flagged else 0.0
    pos = float(np.sum(y))
    return ClassifierMetrics(
        roc_auc(y, score), average_precision(y, score), lift_at(y, score, 0.1), flagged,
        hits / flagged if flagged else float("nan"), hits / pos if pos else float("nan"),
    )


# -- the model --------------------------------------------------------------


def rule_baseline(frame: FeatureFrame) -> FloatArray:
    """Playbook rule: no event in 7 days and last order below the average order value (1 = at risk)."""
    orders = frame.column("orders_total")
    avg = float(frame.column("gmv_total").sum() / orders.sum()) if orders.sum() else 0.0
    quiet = frame.column("days_since_last_event") >= 7
    low = frame.column("last_order_amount") < avg
    return (quiet & low).astype(np.float64)


@dataclass
class ChurnModel:
    """A trained model: the estimator plus what scoring and reasons need (picklable)."""

    estimator: HistGradientBoostingClassifier
    features: tuple[str, ...]
    reference: FloatArray  # population medians of the training features, for the ablation reasons
    trained_cutoffs: list[dt.date]
    training_rows: int
    training_churn_rate: float

    n_threads: int = 1

    def predict(self, X: FloatArray) -> FloatArray:
        """Churn probability for every row, in one vectorised call on a C-ordered float64 matrix.

        float64 because scikit-learn's tree predictor converts anything else to
        float64 first (a float32 matrix would only add a full copy).
        """
        if X.shape[0] == 0:
            return np.zeros(0)
        X = np.ascontiguousarray(X, dtype=np.float64)
        with threadpool_limits(limits=self.n_threads, user_api="openmp"):
            return np.asarray(self.estimator.predict_proba(X)[:, 1], dtype=np.float64)

    def contributions(self, X: FloatArray, base: FloatArray | None = None) -> FloatArray:
        """Risk minus risk with each feature set to its median: one column per feature.

        All the ablated copies go through the predictor in blocks of ~``_ABLATION_ROWS``
        rows (one call per block rather than one per feature for small inputs).
        """
        n, k = X.shape
        if base is None:
            base = self.predict(X)
        out = np.empty((n, k))
        if n == 0:
            return out
        step = max(1, _ABLATION_ROWS // k)  # people per block; each expands to k rows
        for lo in range(0, n, step):
            part = X[lo:lo + step]
            m = part.shape[0]
            stacked = np.repeat(part[np.newaxis, :, :], k, axis=0)  # (feature, person, feature)
            stacked[np.arange(k), :, np.arange(k)] = self.reference[:, np.newaxis]
            ablated = self.predict(stacked.reshape(k * m, k)).reshape(k, m)
            out[lo:lo + m] = (base[lo:lo + m][np.newaxis, :] - ablated).T
        return out


_ABLATION_ROWS = 262_144  # ~60 MB of float64 ablated rows per predictor call


def train(frames: list[FeatureFrame], labels: list[NDArray[np.int64]], params: ChurnParams) -> ChurnModel:
    X = np.vstack([f.X for f in frames])
    y = np.concatenate(labels)
    if len(y) < 50 or y.min() == y.max():
        raise JingyunError(
            "churn_too_little_data",
            f"training needs at least 50 people and both outcomes; got {len(y)} people, "
            f"{int(y.sum())} churned — use earlier cut-offs or a shorter horizon_days",
            "horizon_days",
        )
    est = HistGradientBoostingClassifier(
        max_iter=params.max_iter, learning_rate=params.learning_rate, max_leaf_nodes=params.max_leaf_nodes,
        min_samples_leaf=params.min_samples_leaf, early_stopping=False, random_state=params.random_state,
    )
    with threadpool_limits(limits=params.n_threads, user_api="openmp"):
        est.fit(X, y)
    return ChurnModel(est, FEATURES, np.median(X, axis=0), [f.cutoff for f in frames], len(y), float(y.mean()),
                      params.n_threads)


def consenting(source: Source, frame: FeatureFrame) -> FeatureFrame:
    """The frame without the people the workspace's model consent leaves out (PIPL: no consent for
    analytics/personalisation where required → not trained on, not validated on, not scored)."""
    keep = model_consent_mask(source, frame.person_id)
    if keep is None:
        return frame
    return FeatureFrame(frame.cutoff, frame.person_id[keep], frame.X[keep], frame.query)


def _load_training(source: Source, params: ChurnParams, last_label_end: dt.date) -> tuple[list[FeatureFrame], list[NDArray[np.int64]]]:
    frames, labels = [], []
    for cut in params.training_cutoffs(last_label_end):
        fp = params.features(cut)
        frame = consenting(source, load_features(source, fp))
        if len(frame):
            frames.append(frame)
            labels.append(load_labels(source, fp, frame.person_id))
    if not frames:
        raise JingyunError("churn_too_little_data", "no population at any training cut-off; ingest more history",
                           "train_cutoffs")
    return frames, labels


@dataclass(frozen=True)
class ChurnEvaluation:
    """Time-split validation: trained on earlier cut-offs, tested on ``test_cutoff``."""

    test_cutoff: dt.date
    horizon_days: int
    train_cutoffs: list[dt.date]
    train_rows: int
    test_rows: int
    test_churn_rate: float
    model: ClassifierMetrics
    rule: ClassifierMetrics
    auc_gain_over_rule: float
    calibration: list[CalibrationBin]
    person_id: NDArray[np.object_] = field(repr=False)
    y: NDArray[np.int64] = field(repr=False)
    risk: FloatArray = field(repr=False)

    def to_dict(self) -> dict[str, object]:
        return {
            "test_cutoff": self.test_cutoff.isoformat(),
            "horizon_days": self.horizon_days,
            "train_cutoffs": [c.isoformat() for c in self.train_cutoffs],
            "train_rows": self.train_rows,
            "test_rows": self.test_rows,
            "test_churn_rate": self.test_churn_rate,
            "model": vars(self.model),
            "rule_baseline": vars(self.rule),
            "auc_gain_over_rule": self.auc_gain_over_rule,
            "calibration": [vars(b) for b in self.calibration],
        }


def evaluate(source: Source, params: ChurnParams) -> tuple[ChurnModel, ChurnEvaluation]:
    """Train on cut-offs before ``test_cutoff`` and measure on it."""
    params.validate()
    as_of = params.as_of or data_end(source)
    test_cut = params.test_cutoff or as_of - dt.timedelta(days=params.horizon_days)
    if test_cut + dt.timedelta(days=params.horizon_days) > as_of:
        raise JingyunError("bad_param", f"the test label window ends after the data ({as_of}); "
                           "choose an earlier test_cutoff or a shorter horizon_days", "test_cutoff")
    frames, labels = _load_training(source, params, test_cut)
    model = train(frames, labels, params)
    fp = params.features(test_cut)
    test = consenting(source, load_features(source, fp))
    y = load_labels(source, fp, test.person_id)
    if len(y) == 0 or y.min() == y.max():
        raise JingyunError("churn_too_little_data", f"the test cut-off {test_cut} has no mix of outcomes",
                           "test_cutoff")
    risk = model.predict(test.X)
    rule = rule_baseline(test)
    flagged = int(rule.sum())
    m = classifier_metrics(y, risk, flagged)
    r = classifier_metrics(y, rule, flagged)
    return model, ChurnEvaluation(
        test_cut, params.horizon_days, model.trained_cutoffs, model.training_rows, len(y), float(y.mean()),
        m, r, m.roc_auc - r.roc_auc, calibration(y, risk, params.calibration_bins), test.person_id, y, risk,
    )


@dataclass(frozen=True)
class Reason:
    feature: str
    contribution: float  # risk points this feature adds versus its median


@dataclass(frozen=True)
class ChurnScores:
    as_of: dt.date
    person_id: NDArray[np.object_]
    risk: FloatArray
    reasons: list[list[Reason]]


def reason_rows(risk: FloatArray, min_risk: float, max_users: int | None) -> NDArray[np.intp]:
    """Rows that get reasons: risk >= ``min_risk``, the ``max_users`` highest first (ties: earlier row)."""
    idx = np.flatnonzero(risk >= min_risk)
    if max_users is not None and len(idx) > max_users:
        keep = np.argsort(-risk[idx], kind="stable")[:max_users]
        idx = np.sort(idx[keep])
    return idx


def score_frame(model: ChurnModel, frame: FeatureFrame, top: int = 3, *, min_risk: float = 0.5,
                max_users: int | None = 10_000) -> ChurnScores:
    """Risk for everyone; the ``top`` reasons only for the rows :func:`reason_rows` picks.

    ``min_risk=0.0, max_users=None`` gives reasons to everyone (30x the scoring cost
    with 29 features).
    """
    risk = model.predict(frame.X)
    reasons: list[list[Reason]] = [[] for _ in range(len(frame))]
    rows = reason_rows(risk, min_risk, max_users) if top else np.zeros(0, dtype=np.intp)
    if len(rows):
        contrib = model.contributions(frame.X[rows], risk[rows])
        order = np.argsort(-contrib, axis=1)[:, :top]
        for r, i in enumerate(rows):
            reasons[i] = [Reason(model.features[j], float(contrib[r, j])) for j in order[r] if contrib[r, j] > 0]
    return ChurnScores(frame.cutoff, frame.person_id, risk, reasons)


def fit_latest(source: Source, params: ChurnParams) -> tuple[ChurnModel, dt.date]:
    """Train on the latest cut-offs whose labels are complete, for scoring at ``as_of``."""
    params.validate()
    as_of = params.as_of or data_end(source)
    frames, labels = _load_training(source, params, as_of)
    return train(frames, labels, params), as_of


def write_scores(source: Source, scores: ChurnScores) -> dt.datetime:
    """Replace model ``churn_risk`` in ``model_scores``: the risk, plus ``reason:<feature>`` rows."""
    persons: list[str] = [str(p) for p in scores.person_id]
    names = [MODEL_TAG] * len(persons)
    values = list(scores.risk)
    for pid, rs in zip(scores.person_id, scores.reasons, strict=True):
        for r in rs:
            persons.append(str(pid))
            names.append(f"reason:{r.feature}")
            values.append(r.contribution)
    return replace_scores(source, MODEL_TAG, persons, names, values)


@dataclass(frozen=True)
class ChurnScoreResult:
    as_of: dt.date
    scored: int
    high_risk: int  # risk > 0.7
    mean_risk: float
    scored_at: dt.datetime
    trained_cutoffs: list[dt.date]
    table: str = "model_scores"
    model: str = MODEL_TAG

    def to_dict(self) -> dict[str, object]:
        return {
            "model": self.model, "table": self.table, "as_of": self.as_of.isoformat(), "scored": self.scored,
            "high_risk": self.high_risk, "mean_risk": self.mean_risk, "scored_at": self.scored_at.isoformat(),
            "trained_cutoffs": [c.isoformat() for c in self.trained_cutoffs],
        }


def score_churn(source: Source, params: ChurnParams, model: ChurnModel | None = None) -> ChurnScoreResult:
    """Score the population at ``as_of`` (training first unless a model is given) and write the scores."""
    params.validate()
    if model is None:
        model, as_of = fit_latest(source, params)
    else:
        as_of = params.as_of or data_end(source)
    frame = consenting(source, load_features(source, replace(params, as_of=as_of).features(as_of)))
    scores = score_frame(model, frame, params.top_reasons, min_risk=params.reason_min_risk,
                         max_users=params.reason_max_users)
    scored_at = write_scores(source, scores)
    return ChurnScoreResult(
        as_of, len(frame), int((scores.risk > 0.7).sum()),
        float(scores.risk.mean()) if len(frame) else float("nan"), scored_at, model.trained_cutoffs,
    )
