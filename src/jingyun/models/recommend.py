"""Recommendations: "guess you like" (猜你喜欢) and cross-sell (搭配购买) from item-item similarity.

Signals, aggregated in the warehouse (portable SQL) before a split day:
purchases (order lines, weight ``purchase_weight``) and product views
(``view_product`` events with ``properties.product_id``, weight ``view_weight``
per person-product pair; repeated views do not add up, so a browsing spree
cannot outweigh a purchase). They form a sparse person × item matrix ``R``
(``scipy.sparse``); item-item similarity is the cosine of ``R``'s columns with
a shrinkage term, ``S = RᵀR / (‖rᵢ‖‖rⱼ‖ + shrink)``, which damps similarities
resting on a handful of co-occurrences. A person's scores are ``R[u] · S``;
items already bought are left out ("new to you"). Cross-sell for an item is
its row of ``S`` restricted to purchases (co-purchase only).

Offline evaluation on a time split: train on everything before ``split``,
test on the purchases in ``[split, split + test_days)`` of people seen in
training, counting only items they had not bought before; precision@k and
recall@k per person, averaged; the baseline recommends the most-bought items.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from jingyun.errors import JingyunError
from jingyun.metrics.definitions import SHIPPED, real_people
from jingyun.privacy.consent_gate import model_people
from jingyun.warehouse.backends import Source, engine_of
from jingyun.warehouse.portable import check
from jingyun.warehouse.sqltext import ts_literal, utc_start

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class RecommendParams:
    split: dt.date | None = None  # default: end of data minus test_days
    test_days: int = 60
    k: int = 10
    purchase_weight: float = 1.0
    view_weight: float = 0.1
    shrink: float = 10.0
    neighbours: int = 100  # similar items kept per item
    popularity_blend: float = 0.0  # weight of item popularity added to the (max-scaled) similarity score
    alpha: float = 0.5  # asymmetric cosine: 0.5 = cosine, towards 1 = conditional probability

    def validate(self) -> RecommendParams:
        if not 1 <= self.test_days <= 365:
            raise JingyunError("bad_param", "test_days must be between 1 and 365", "test_days")
        if not 1 <= self.k <= 100:
            raise JingyunError("bad_param", "k must be between 1 and 100", "k")
        if self.purchase_weight <= 0 or self.view_weight < 0:
            raise JingyunError("bad_param", "weights must be positive (views may be 0)", "view_weight")
        if self.shrink < 0:
            raise JingyunError("bad_param", "shrink must be >= 0", "shrink")
        if not 0 <= self.alpha <= 1:
            raise JingyunError("bad_param", "alpha must be in [0, 1]", "alpha")
        if self.neighbours < 1:
            raise JingyunError("bad_param", "neighbours must be at least 1", "neighbours")
        return self


def interactions_query(start: dt.datetime | None, end: dt.datetime) -> str:
    """(person_id, product_id, kind) pairs with ts in [start, end) (runs nothing). Portable SQL."""
    lo = f"AND {{ts}} >= {ts_literal(start)}" if start else ""
    hi = ts_literal(end)
    sql = f"""
SELECT o.person_id, i.product_id, 'purchase' AS kind, COUNT(*) AS n
FROM orders o JOIN order_items i ON i.order_id = o.order_id
WHERE o.person_id IS NOT NULL AND o.ts < {hi} {lo.format(ts='o.ts')}
  AND {SHIPPED.order_rows('valid_orders', 'o')}
GROUP BY 1, 2
UNION ALL
SELECT person_id, JSON_EXTRACT_STRING(properties, '$.product_id') AS product_id, 'view' AS kind, COUNT(*) AS n
FROM events
WHERE event = 'view_product' AND person_id IS NOT NULL AND ts < {hi} {lo.format(ts='ts')}
  AND {real_people()} AND JSON_EXTRACT_STRING(properties, '$.product_id') IS NOT NULL
GROUP BY 1, 2
"""
    return check(sql)


@dataclass
class ItemSimilarity:
    """A fitted recommender: the person × item matrix and the item-item similarities."""

    persons: dict[str, int]
    items: list[str]
    item_index: dict[str, int]
    R: sp.csr_matrix  # weighted interactions
    bought: sp.csr_matrix  # 0/1 purchases (to exclude, and for cross-sell)
    S: sp.csr_matrix  # item × item similarity (both signals)
    S_buy: sp.csr_matrix  # item × item similarity (co-purchase only)
    popularity: FloatArray  # purchases per item
    popularity_blend: float = 0.0

    def recommend(self, person_id: str, k: int) -> list[tuple[str, float]]:
        u = self.persons.get(person_id)
        if u is None:
            return self.popular(k)
        scores = np.asarray((self.R[u] @ self.S).todense()).ravel()
        if self.popularity_blend and scores.max() > 0:
            # Similarity ranks within a person's neighbourhood; a little popularity breaks
            # the many near-ties that sparse co-occurrence leaves.
            scores = scores / scores.max() + self.popularity_blend * self.popularity / max(self.popularity.max(), 1)
        return self._top(scores, self.bought[u].indices, k)

    def popular(self, k: int, exclude: NDArray[np.int64] | None = None) -> list[tuple[str, float]]:
        return self._top(self.popularity.copy(), exclude if exclude is not None else np.zeros(0, np.int64), k)

    def also_bought(self, product_id: str, k: int) -> list[tuple[str, float]]:
        j = self.item_index.get(product_id)
        if j is None:
            raise JingyunError("unknown_product", f"no purchases of {product_id!r} in the training data", "product_id")
        scores = np.asarray(self.S_buy[j].todense()).ravel()
        return self._top(scores, np.asarray([j]), k)

    def _top(self, scores: FloatArray, exclude: NDArray[np.int64], k: int) -> list[tuple[str, float]]:
        scores = scores.astype(np.float64)
        scores[exclude] = -np.inf
        # Ties broken by item id so results are reproducible.
        order = np.lexsort((np.arange(len(scores)), -scores))[:k]
        return [(self.items[j], float(scores[j])) for j in order if np.isfinite(scores[j]) and scores[j] > 0]


def _cosine(R: sp.csr_matrix, shrink: float, neighbours: int, alpha: float = 0.5) -> sp.csr_matrix:
    sq = np.asarray(R.multiply(R).sum(axis=0)).ravel()
    co = (R.T @ R).tocoo()
    # Asymmetric cosine: row = item the person has, column = candidate. alpha = 0.5 is the
    # cosine; alpha → 1 tends to P(candidate | item), which leans towards popular candidates.
    vals = co.data / (sq[co.row] ** alpha * sq[co.col] ** (1 - alpha) + shrink)
    vals[co.row == co.col] = 0.0
    S = sp.csr_matrix((vals, (co.row, co.col)), shape=co.shape)
    S.eliminate_zeros()
    # Keep each item's strongest neighbours: sparser and less noisy.
    rows, cols, data = [], [], []
    for i in range(S.shape[0]):
        lo, hi = S.indptr[i], S.indptr[i + 1]
        if hi - lo > neighbours:
            top = np.argpartition(-S.data[lo:hi], neighbours)[:neighbours] + lo
        else:
            top = np.arange(lo, hi)
        rows.append(np.full(len(top), i))
        cols.append(S.indices[top])
        data.append(S.data[top])
    if not rows:
        return S
    return sp.csr_matrix((np.concatenate(data), (np.concatenate(rows), np.concatenate(cols))), shape=S.shape)


def fit(source: Source, params: RecommendParams, end: dt.date) -> ItemSimilarity:
    """Fit on everything before ``end`` (local day)."""
    params.validate()
    engine = engine_of(source)
    # Sorted so item and person numbering (and so tie-breaking) never depends on scan order.
    rows = sorted(engine.rows(interactions_query(None, utc_start(end, engine.settings.timezone))))
    # PIPL: people without the model consents the workspace requires (analytics, personalisation) stay out
    # of training, as for churn and CLV (they get no personal list: recommend() falls back to what is popular)
    allowed = model_people(engine)
    if allowed is not None:
        rows = [r for r in rows if r[0] in allowed]
    if not rows:
        raise JingyunError("no_data", f"no purchases or product views before {end}", "split")
    persons: dict[str, int] = {}
    items: dict[str, int] = {}
    pu, pi, pw, bu, bi = [], [], [], [], []
    for person, product, kind, _n in rows:
        u = persons.setdefault(person, len(persons))
        j = items.setdefault(product, len(items))
        pu.append(u)
        pi.append(j)
        pw.append(params.purchase_weight if kind == "purchase" else params.view_weight)
        if kind == "purchase":
            bu.append(u)
            bi.append(j)
    shape = (len(persons), len(items))
    # Duplicate (person, item) pairs (bought and viewed) are summed by the constructor.
    R = sp.csr_matrix((np.asarray(pw), (np.asarray(pu), np.asarray(pi))), shape=shape)
    B = sp.csr_matrix((np.ones(len(bu)), (np.asarray(bu, np.int64), np.asarray(bi, np.int64))), shape=shape)
    B.data[:] = 1.0
    return ItemSimilarity(
        persons, list(items), items, R, B,
        _cosine(R, params.shrink, params.neighbours, params.alpha),
        _cosine(B, params.shrink, params.neighbours, params.alpha),
        np.asarray(B.sum(axis=0)).ravel(), params.popularity_blend,
    )


@dataclass(frozen=True)
class RankingMetrics:
    precision: float
    recall: float
    hit_rate: float  # share of people with at least one hit


@dataclass(frozen=True)
class RecommendEvaluation:
    split: dt.date
    test_days: int
    k: int
    users: int  # people evaluated
    items: int
    model: RankingMetrics
    popularity: RankingMetrics

    def to_dict(self) -> dict[str, object]:
        return {
            "split": self.split.isoformat(), "test_days": self.test_days, "k": self.k, "users": self.users,
            "items": self.items, "model": vars(self.model), "popularity": vars(self.popularity),
            "recall_gain": self.model.recall - self.popularity.recall,
        }


def precision_recall_at_k(recommended: list[list[str]], relevant: list[set[str]], k: int) -> RankingMetrics:
    """Mean precision@k (hits / k) and recall@k (hits / relevant) over people."""
    if not relevant:
        return RankingMetrics(float("nan"), float("nan"), float("nan"))
    hits = [len(set(r[:k]) & rel) for r, rel in zip(recommended, relevant, strict=True)]
    return RankingMetrics(
        float(np.mean([h / k for h in hits])),
        float(np.mean([h / len(rel) for h, rel in zip(hits, relevant, strict=True)])),
        float(np.mean([h > 0 for h in hits])),
    )


def evaluate(source: Source, params: RecommendParams, data_end: dt.date
             ) -> tuple[ItemSimilarity, RecommendEvaluation]:
    params.validate()
    engine = engine_of(source)
    split = params.split or data_end - dt.timedelta(days=params.test_days)
    model = fit(engine, params, split)
    tz = engine.settings.timezone
    test_rows = engine.rows(interactions_query(
        utc_start(split, tz), utc_start(split + dt.timedelta(days=params.test_days), tz)))
    relevant: dict[str, set[str]] = {}
    for person, product, kind, _n in test_rows:
        u = model.persons.get(person)
        j = model.item_index.get(product)
        if kind != "purchase" or u is None:
            continue
        if j is not None and model.bought[u, j]:
            continue  # bought before: not a discovery
        relevant.setdefault(person, set()).add(product)
    people = sorted(relevant)
    recs = [[i for i, _ in model.recommend(p, params.k)] for p in people]
    pops = [[i for i, _ in model.popular(params.k, model.bought[model.persons[p]].indices)] for p in people]
    rel = [relevant[p] for p in people]
    return model, RecommendEvaluation(
        split, params.test_days, params.k, len(people), len(model.items),
        precision_recall_at_k(recs, rel, params.k), precision_recall_at_k(pops, rel, params.k),
    )
