"""Churn features and labels, built in the warehouse as of a cut-off.

Every query here is in the portable SQL subset (checked with
:func:`jingyun.warehouse.portable.check`) and reads only rows with
``ts < cutoff`` for features; the label query is the only one that looks
past the cut-off. Time windows are computed in Python from the local cut-off
day (workspace time zone) and written into the SQL as UTC ``TIMESTAMP``
literals, so both engines compare plain timestamps and no engine-specific
interval arithmetic is needed.

The population at a cut-off is everyone (not a test account) with an event or
a non-cancelled order in the ``active_within_days`` before it: churn is a
question about people who were recently there.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from jingyun.errors import JingyunError
from jingyun.metrics.definitions import SHIPPED, real_people
from jingyun.warehouse.backends import Source, engine_of
from jingyun.warehouse.portable import check
from jingyun.warehouse.sqltext import local_date, ts_literal, utc_start

# activity: an order placed counts even if later refunded (definitions.placed_orders)
PLACED = SHIPPED.placed_orders

FloatArray = NDArray[np.float64]

# Feature names in model column order; the SQL below produces exactly these.
FEATURES: tuple[str, ...] = (
    "days_since_last_event",
    "days_since_first_seen",
    "events_7d",
    "events_30d",
    "events_90d",
    "active_days_30d",
    "active_days_90d",
    "sessions_30d",
    "logins_7d",
    "logins_30d",
    "product_views_30d",
    "cart_adds_30d",
    "checkouts_30d",
    "coupon_claims_90d",
    "service_contacts_90d",
    "days_since_last_order",
    "days_since_first_order",
    "orders_per_30d",
    "orders_total",
    "orders_90d",
    "gmv_total",
    "gmv_90d",
    "avg_order_value",
    "last_order_amount",
    "returns_total",
    "feedback_90d",
    "negative_feedback_90d",
    "cs_feedback_90d",
    "activity_trend",
)
NEVER_DAYS = 9999.0  # "days since" for people who never did the thing


@dataclass(frozen=True)
class FeatureParams:
    """Where the cut-off is and how the population and label are defined."""

    cutoff: dt.date  # first local day *not* seen by the features
    horizon_days: int = 60  # label: no order and no event in [cutoff, cutoff + horizon)
    active_within_days: int = 90  # population: active in the days before the cut-off
    customers_only: bool = True  # population: only people with an order before the cut-off
    include_test: bool = False

    def validate(self) -> FeatureParams:
        if not 1 <= self.horizon_days <= 365:
            raise JingyunError("bad_param", "horizon_days must be between 1 and 365", "horizon_days")
        if not 7 <= self.active_within_days <= 730:
            raise JingyunError("bad_param", "active_within_days must be between 7 and 730", "active_within_days")
        return self


def _before(cut: dt.datetime, days: int) -> str:
    return ts_literal(cut - dt.timedelta(days=days))


def feature_query(params: FeatureParams, timezone: str) -> str:
    """One row per person in the population with the columns of :data:`FEATURES` (runs nothing)."""
    params.validate()
    cut = utc_start(params.cutoff, timezone)
    c = ts_literal(cut)
    test = f"AND {real_people(include_test=params.include_test)}"
    d7, d30, d60, d90 = (_before(cut, d) for d in (7, 30, 60, 90))
    active = _before(cut, params.active_within_days)
    day = local_date("ts", timezone)
    customers = (
        "WHERE r.person_id IN (SELECT person_id FROM ord)" if params.customers_only else ""
    )
    sql = f"""
WITH ev AS (
  SELECT person_id, ts, event, session_id, {day} AS day
  FROM events
  WHERE person_id IS NOT NULL AND ts < {c} {test}
),
ev_agg AS (
  SELECT person_id,
         DATE_DIFF('second', MAX(ts), {c}) / 86400.0 AS days_since_last_event,
         DATE_DIFF('second', MIN(ts), {c}) / 86400.0 AS first_event_days,
         COUNT(*) FILTER (WHERE ts >= {d7}) AS events_7d,
         COUNT(*) FILTER (WHERE ts >= {d30}) AS events_30d,
         COUNT(*) FILTER (WHERE ts >= {d60} AND ts < {d30}) AS events_prev_30d,
         COUNT(*) FILTER (WHERE ts >= {d90}) AS events_90d,
         COUNT(DISTINCT CASE WHEN ts >= {d30} THEN day END) AS active_days_30d,
         COUNT(DISTINCT CASE WHEN ts >= {d90} THEN day END) AS active_days_90d,
         COUNT(DISTINCT CASE WHEN ts >= {d30} THEN session_id END) AS sessions_30d,
         COUNT(*) FILTER (WHERE ts >= {d7} AND event = 'app_start') AS logins_7d,
         COUNT(*) FILTER (WHERE ts >= {d30} AND event = 'app_start') AS logins_30d,
         COUNT(*) FILTER (WHERE ts >= {d30} AND event = 'view_product') AS product_views_30d,
         COUNT(*) FILTER (WHERE ts >= {d30} AND event = 'add_to_cart') AS cart_adds_30d,
         COUNT(*) FILTER (WHERE ts >= {d30} AND event = 'checkout') AS checkouts_30d,
         COUNT(*) FILTER (WHERE ts >= {d90} AND event = 'coupon_claim') AS coupon_claims_90d,
         COUNT(*) FILTER (WHERE ts >= {d90} AND event = 'contact_service') AS service_contacts_90d
  FROM ev
  GROUP BY person_id
),
ord AS (
  SELECT person_id, ts, status, CAST(amount AS DOUBLE) AS amount
  FROM orders
  WHERE person_id IS NOT NULL AND ts < {c} AND {PLACED.where()} {test}
),
ord_ranked AS (
  SELECT person_id, ts, status, amount,
         ROW_NUMBER() OVER (PARTITION BY person_id ORDER BY ts DESC, amount DESC) AS rn
  FROM ord
),
ord_agg AS (
  SELECT person_id,
         DATE_DIFF('second', MAX(ts), {c}) / 86400.0 AS days_since_last_order,
         DATE_DIFF('second', MIN(ts), {c}) / 86400.0 AS first_order_days,
         COUNT(*) AS orders_total,
         COUNT(*) FILTER (WHERE ts >= {d90}) AS orders_90d,
         SUM(amount) AS gmv_total,
         COALESCE(SUM(amount) FILTER (WHERE ts >= {d90}), 0) AS gmv_90d,
         AVG(amount) AS avg_order_value,
         MAX(CASE WHEN rn = 1 THEN amount END) AS last_order_amount,
         COUNT(*) FILTER (WHERE {SHIPPED.refunds.where()}) AS returns_total
  FROM ord_ranked
  GROUP BY person_id
),
fb_agg AS (
  SELECT person_id,
         COUNT(*) AS feedback_90d,
         -- NPS 0-6 (survey) or 1-2 on the five-point scales counts as negative
         COUNT(*) FILTER (WHERE (source = 'survey' AND score <= 6) OR (source <> 'survey' AND score <= 2))
           AS negative_feedback_90d,
         COUNT(*) FILTER (WHERE source = 'cs') AS cs_feedback_90d
  FROM feedback
  WHERE person_id IS NOT NULL AND ts < {c} AND ts >= {d90} {test}
  GROUP BY person_id
),
recent AS (
  SELECT person_id FROM ev WHERE ts >= {active}
  UNION
  SELECT person_id FROM ord WHERE ts >= {active}
),
population AS (
  SELECT r.person_id FROM recent r {customers}
)
SELECT p.person_id,
       COALESCE(e.days_since_last_event, {NEVER_DAYS}) AS days_since_last_event,
       GREATEST(COALESCE(e.first_event_days, 0), COALESCE(o.first_order_days, 0)) AS days_since_first_seen,
       COALESCE(e.events_7d, 0) AS events_7d,
       COALESCE(e.events_30d, 0) AS events_30d,
       COALESCE(e.events_90d, 0) AS events_90d,
       COALESCE(e.active_days_30d, 0) AS active_days_30d,
       COALESCE(e.active_days_90d, 0) AS active_days_90d,
       COALESCE(e.sessions_30d, 0) AS sessions_30d,
       COALESCE(e.logins_7d, 0) AS logins_7d,
       COALESCE(e.logins_30d, 0) AS logins_30d,
       COALESCE(e.product_views_30d, 0) AS product_views_30d,
       COALESCE(e.cart_adds_30d, 0) AS cart_adds_30d,
       COALESCE(e.checkouts_30d, 0) AS checkouts_30d,
       COALESCE(e.coupon_claims_90d, 0) AS coupon_claims_90d,
       COALESCE(e.service_contacts_90d, 0) AS service_contacts_90d,
       COALESCE(o.days_since_last_order, {NEVER_DAYS}) AS days_since_last_order,
       COALESCE(o.first_order_days, {NEVER_DAYS}) AS days_since_first_order,
       -- BG/NBD intuition: the purchase rate sets how long a silence is suspicious
       COALESCE(o.orders_total * 30.0 / GREATEST(o.first_order_days, 1.0), 0) AS orders_per_30d,
       COALESCE(o.orders_total, 0) AS orders_total,
       COALESCE(o.orders_90d, 0) AS orders_90d,
       COALESCE(o.gmv_total, 0) AS gmv_total,
       COALESCE(o.gmv_90d, 0) AS gmv_90d,
       COALESCE(o.avg_order_value, 0) AS avg_order_value,
       COALESCE(o.last_order_amount, 0) AS last_order_amount,
       COALESCE(o.returns_total, 0) AS returns_total,
       COALESCE(f.feedback_90d, 0) AS feedback_90d,
       COALESCE(f.negative_feedback_90d, 0) AS negative_feedback_90d,
       COALESCE(f.cs_feedback_90d, 0) AS cs_feedback_90d,
       (COALESCE(e.events_30d, 0) + 1.0) / (COALESCE(e.events_prev_30d, 0) + 1.0) AS activity_trend
FROM population p
LEFT JOIN ev_agg e ON e.person_id = p.person_id
LEFT JOIN ord_agg o ON o.person_id = p.person_id
LEFT JOIN fb_agg f ON f.person_id = p.person_id
ORDER BY p.person_id
"""
    return check(sql)


def label_query(params: FeatureParams, timezone: str) -> str:
    """Persons with any event or non-cancelled order in ``[cutoff, cutoff + horizon)`` (runs nothing)."""
    params.validate()
    cut = utc_start(params.cutoff, timezone)
    end = utc_start(params.cutoff + dt.timedelta(days=params.horizon_days), timezone)
    lo, hi = ts_literal(cut), ts_literal(end)
    test = f"AND {real_people(include_test=params.include_test)}"
    sql = f"""
SELECT person_id FROM events
WHERE person_id IS NOT NULL AND ts >= {lo} AND ts < {hi} {test}
UNION
SELECT person_id FROM orders
WHERE person_id IS NOT NULL AND ts >= {lo} AND ts < {hi} AND {PLACED.where()} {test}
"""
    return check(sql)


@dataclass(frozen=True)
class FeatureFrame:
    """Features of one cut-off: ``X[i]`` belongs to ``person_id[i]``; columns follow :data:`FEATURES`."""

    cutoff: dt.date
    person_id: NDArray[np.object_]
    X: FloatArray
    query: str

    def __len__(self) -> int:
        return int(self.X.shape[0])

    def column(self, name: str) -> FloatArray:
        return self.X[:, FEATURES.index(name)]


def load_features(source: Source, params: FeatureParams) -> FeatureFrame:
    engine = engine_of(source)
    sql = feature_query(params, engine.settings.timezone)
    table = engine.run(sql)
    cols = [np.asarray(table.column(n).to_numpy(zero_copy_only=False), dtype=np.float64) for n in FEATURES]
    X = np.column_stack(cols) if cols and table.num_rows else np.zeros((0, len(FEATURES)))
    persons = np.asarray(table.column("person_id").to_pylist(), dtype=object)
    return FeatureFrame(params.cutoff, persons, X, sql)


def load_labels(source: Source, params: FeatureParams, person_id: NDArray[np.object_]) -> NDArray[np.int64]:
    """1 = churned (no activity in the horizon), 0 = came back; aligned with ``person_id``."""
    engine = engine_of(source)
    active = {row[0] for row in engine.rows(label_query(params, engine.settings.timezone))}
    return np.fromiter((0 if p in active else 1 for p in person_id), dtype=np.int64, count=len(person_id))


def data_end(source: Source) -> dt.date:
    """The day after the last local day with events or orders: the natural as-of for scoring."""
    engine = engine_of(source)
    local = local_date("ts", engine.settings.timezone)
    last = engine.scalar(
        f"SELECT MAX(d) FROM ("
        f"SELECT MAX({local}) AS d FROM events "
        f"UNION ALL SELECT MAX({local}) FROM orders) t"
    )
    if last is None:
        raise JingyunError("no_data", "the warehouse has no events or orders; ingest data first", "events")
    day = last if isinstance(last, dt.date) else dt.date.fromisoformat(str(last))
    return day + dt.timedelta(days=1)
