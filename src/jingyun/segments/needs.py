"""Need-based groups (需求分群): price-, quality- and service-sensitive users.

The warehouse counts, per person, how often each behaviour had the chance to
happen and how often it did (SQL). Python then fits, per need, a two-class
latent-class model by EM: every person is sensitive or not; each class has its
own rate for every signal (naive Bayes across signals, binomial within). No
planted value is used — the rates are estimated from the data, and shown as the
rule that defines the group.

The rule: a person with at least ``min_orders`` valid orders (default 3) is in the
group when the posterior probability of the sensitive class is >= ``threshold``
(default 0.5: the likelier class) and out of it otherwise; everyone with fewer
orders is ``undecided`` — too little behaviour to tell. The order count, not the
model's confidence, decides who is labelled, so the labelled population is
known in advance and an unconfident call still counts (precision and recall on
the demo are measured over exactly that population, see docs/segments.md).

Signals (successes / chances):
  price:   coupon orders / valid orders; coupon_claim events / home visits; price complaints / feedback
  quality: premium order lines / lines; premium product views / views outside paying sessions;
           returned orders / orders; quality complaints / feedback
  service: orders followed by a service contact within 3 days / orders in the event log;
           other contact_service events / visits without a product view; service complaints / feedback
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from jingyun.errors import JingyunError
from jingyun.metrics.definitions import SHIPPED, real_people
from jingyun.segments.common import NOT_TEST, VALID_ORDER
from jingyun.warehouse import portable
from jingyun.warehouse.backends import Source, engine_of

# Feedback keywords per complaint topic (the demo's Chinese texts; praise is excluded).
PRICE_WORDS = ("贵", "便宜", "优惠券", "活动力度", "性价比一般")
QUALITY_WORDS = ("坏了", "瑕疵", "做工", "质量太差", "描述不符", "质量一般", "色差")
SERVICE_WORDS = ("客服回复", "客服态度", "踢皮球", "客服敷衍", "没人理")


@dataclass(frozen=True)
class Signal:
    name: str
    zh: str
    hits: str  # column of the counts query
    chances: str


NEEDS: dict[str, tuple[str, str, tuple[Signal, ...]]] = {
    "price_sensitive": ("价格敏感", "Price-sensitive", (
        Signal("coupon_order_share", "用券订单占比", "coupon_orders", "orders"),
        Signal("coupon_claim_rate", "领券次数/访问", "coupon_claims", "visits"),
        Signal("price_complaint_share", "价格类反馈占比", "price_fb", "feedback"),
    )),
    "quality_sensitive": ("品质敏感", "Quality-sensitive", (
        Signal("premium_line_share", "高端商品行占比", "premium_lines", "lines"),
        Signal("premium_view_share", "浏览高端商品占比", "premium_views", "views"),
        Signal("return_share", "退货订单占比", "returns", "all_orders"),
        Signal("quality_complaint_share", "质量类反馈占比", "quality_fb", "feedback"),
    )),
    "service_sensitive": ("服务敏感", "Service-sensitive", (
        Signal("after_sales_contact_share", "售后联系客服订单占比", "order_contacts", "log_orders"),
        Signal("service_contact_rate", "联系客服次数/访问", "contacts", "visits"),
        Signal("service_complaint_share", "客服类反馈占比", "service_fb", "feedback"),
    )),
}
# Which CTE of the counts query gives which columns.
SOURCES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("o", ("orders", "coupon_orders", "all_orders", "returns")),
    ("li", ("lines", "premium_lines")),
    ("ev", ("visits", "coupon_claims", "contacts")),
    ("pv", ("views", "premium_views")),
    ("oca", ("log_orders", "order_contacts")),
    ("fb", ("feedback", "price_fb", "quality_fb", "service_fb")),
)
COLUMNS = tuple(c for _, cols in SOURCES for c in cols)
# An after-sales contact is a service contact within this many days after an order.
CONTACT_DAYS = 3


def _like_any(words: tuple[str, ...]) -> str:
    return "(" + " OR ".join(f"text LIKE '%{w}%'" for w in words) + ")"


def counts_query(contact_days: int = CONTACT_DAYS) -> str:
    """Per person: chances and hits of every signal (one portable query)."""
    return (
        "WITH o AS (SELECT person_id, "
        f"count(*) FILTER (WHERE {VALID_ORDER}) AS orders, "
        f"count(*) FILTER (WHERE {VALID_ORDER} AND (coupon_id IS NOT NULL OR discount > 0)) AS coupon_orders, "
        # returns over orders that could be returned (paid at some point), as the refund_rate metric
        f"count(*) FILTER (WHERE {SHIPPED.paid_orders.where()}) AS all_orders, "
        f"count(*) FILTER (WHERE {SHIPPED.refunds.where()}) AS returns "
        f"FROM orders WHERE person_id IS NOT NULL AND {NOT_TEST} GROUP BY person_id), "
        "li AS (SELECT o.person_id, count(*) AS lines, "
        "count(*) FILTER (WHERE json_extract_string(p.attributes, '$.premium') = 'true') AS premium_lines "
        "FROM order_items i JOIN orders o ON o.order_id = i.order_id "
        "LEFT JOIN products p ON p.product_id = i.product_id "
        f"WHERE o.person_id IS NOT NULL AND {real_people('o')} GROUP BY o.person_id), "
        "ss AS (SELECT person_id, session_id, min(ts) AS started, "
        "max(CASE WHEN event = 'view_product' THEN 1 ELSE 0 END) AS shop, "
        "max(CASE WHEN event = 'pay' THEN 1 ELSE 0 END) AS paid, "
        "max(CASE WHEN event = 'exp_exposure' THEN 1 ELSE 0 END) AS exposure, "
        "sum(CASE WHEN event = 'coupon_claim' THEN 1 ELSE 0 END) AS claims, "
        "sum(CASE WHEN event = 'contact_service' THEN 1 ELSE 0 END) AS contacts FROM events "
        f"WHERE person_id IS NOT NULL AND session_id IS NOT NULL AND {NOT_TEST} GROUP BY person_id, session_id), "
        # Orders placed while the event log runs: each is a chance of an after-sales contact,
        # a contact session starting within contact_days after it.
        f"oe AS (SELECT o.person_id, o.order_id, o.ts FROM orders o WHERE o.person_id IS NOT NULL "
        f"AND {SHIPPED.order_rows('paid_orders', 'o')} "
        f"AND o.ts >= (SELECT min(ts) FROM events WHERE {NOT_TEST})), "
        "oc AS (SELECT oe.person_id, oe.order_id, max(CASE WHEN c.session_id IS NULL THEN 0 ELSE 1 END) AS hit, "
        "max(c.session_id) AS any_session FROM oe LEFT JOIN ss c ON c.person_id = oe.person_id "
        "AND c.shop = 0 AND c.contacts > 0 "
        f"AND c.started > oe.ts AND c.started <= oe.ts + INTERVAL {int(contact_days)} DAY "
        "GROUP BY oe.person_id, oe.order_id), "
        "oca AS (SELECT person_id, count(*) AS log_orders, sum(hit) AS order_contacts FROM oc GROUP BY person_id), "
        # Sessions that followed an order are after-sales, counted above; the rest of the visits
        # without a product view are the browsing visits in which people claim coupons or look
        # for help unprompted (shopping sessions would dilute both rates).
        "aft AS (SELECT DISTINCT c.person_id, c.session_id FROM ss c JOIN oe ON oe.person_id = c.person_id "
        f"AND c.started > oe.ts AND c.started <= oe.ts + INTERVAL {int(contact_days)} DAY "
        "WHERE c.shop = 0 AND c.contacts > 0), "
        "ev AS (SELECT ss.person_id, count(*) AS visits, sum(claims) AS coupon_claims, sum(contacts) AS contacts "
        "FROM ss LEFT JOIN aft ON aft.person_id = ss.person_id AND aft.session_id = ss.session_id "
        "WHERE ss.shop = 0 AND ss.exposure = 0 AND aft.session_id IS NULL GROUP BY ss.person_id), "
        # Product views outside paying sessions: what people look at when they compare.
        "pv AS (SELECT e.person_id, count(*) AS views, "
        "count(*) FILTER (WHERE json_extract_string(p.attributes, '$.premium') = 'true') AS premium_views "
        "FROM events e JOIN ss ON ss.person_id = e.person_id AND ss.session_id = e.session_id AND ss.paid = 0 "
        "LEFT JOIN products p ON p.product_id = json_extract_string(e.properties, '$.product_id') "
        f"WHERE e.event = 'view_product' AND e.person_id IS NOT NULL AND {real_people('e')} "
        "GROUP BY e.person_id), "
        "fb AS (SELECT person_id, count(*) AS feedback, "
        f"count(*) FILTER (WHERE {_like_any(PRICE_WORDS)}) AS price_fb, "
        f"count(*) FILTER (WHERE {_like_any(QUALITY_WORDS)}) AS quality_fb, "
        f"count(*) FILTER (WHERE {_like_any(SERVICE_WORDS)}) AS service_fb "
        f"FROM feedback WHERE person_id IS NOT NULL AND {NOT_TEST} GROUP BY person_id), "
        f"people AS (SELECT DISTINCT person_id FROM users WHERE person_id IS NOT NULL AND {NOT_TEST}) "
        "SELECT p.person_id, "
        + ", ".join(f"COALESCE({src}.{c}, 0) AS {c}" for src, cols in SOURCES for c in cols)
        + " FROM people p "
        + " ".join(f"LEFT JOIN {src} ON {src}.person_id = p.person_id" for src, _ in SOURCES)
        + " ORDER BY p.person_id"
    )


@dataclass(frozen=True)
class SignalFit:
    name: str
    zh: str
    rate_in_group: float
    rate_outside: float


@dataclass(frozen=True)
class NeedGroup:
    key: str
    zh: str
    en: str
    rule: str
    prior: float  # estimated share of sensitive people
    signals: list[SignalFit]
    members: int
    non_members: int
    undecided: int
    iterations: int


@dataclass(frozen=True)
class NeedsResult:
    threshold: float
    min_orders: int
    persons: int
    eligible: int  # persons with >= min_orders valid orders: the labelled population
    groups: list[NeedGroup]
    query: str
    # person_id -> need -> posterior (only kept when asked for)
    posteriors: dict[str, dict[str, float]] = field(default_factory=dict)
    labels: dict[str, dict[str, bool | None]] = field(default_factory=dict)  # None: undecided

    def label(self, person_id: str, need: str) -> bool | None:
        return self.labels[person_id][need]


def fit_latent_class(hits: np.ndarray, chances: np.ndarray, iters: int = 500, tol: float = 1e-8
                     ) -> tuple[np.ndarray, np.ndarray, float, np.ndarray, np.ndarray, int]:
    """EM for a two-class naive-Bayes binomial mixture.

    Returns (posterior, log Bayes factor of the person's own behaviour, prior, rate1, rate0, iterations).

    Class 1 is the class with the higher rate on the first signal (fixes label switching).
    """
    k = np.minimum(hits, chances).astype(float)
    n = chances.astype(float)
    overall = (k.sum(axis=0) + 0.5) / (n.sum(axis=0) + 1.0)
    p1, p0, prior = np.clip(overall * 2.0, 1e-4, 0.95), np.clip(overall * 0.5, 1e-4, 0.9), 0.3
    post = np.full(len(k), prior)
    it = 0
    for it in range(1, iters + 1):  # noqa: B007 - the count is reported
        ll1 = (k * np.log(p1) + (n - k) * np.log1p(-p1)).sum(axis=1)
        ll0 = (k * np.log(p0) + (n - k) * np.log1p(-p0)).sum(axis=1)
        logit = np.log(prior) - np.log1p(-prior) + ll1 - ll0
        new_post = 1.0 / (1.0 + np.exp(-np.clip(logit, -50, 50)))
        # Light Beta(0.5, 0.5)-style smoothing keeps rates off 0 and 1 when a signal is rare.
        p1 = np.clip(((new_post[:, None] * k).sum(0) + 0.5) / ((new_post[:, None] * n).sum(0) + 1.0), 1e-6, 1 - 1e-6)
        p0 = np.clip((((1 - new_post)[:, None] * k).sum(0) + 0.5) / (((1 - new_post)[:, None] * n).sum(0) + 1.0),
                     1e-6, 1 - 1e-6)
        prior = float(np.clip(new_post.mean(), 1e-3, 1 - 1e-3))
        done = np.max(np.abs(new_post - post)) < tol
        post = new_post
        if done:
            break
    if p1[0] < p0[0]:
        post, p1, p0, prior = 1 - post, p0, p1, 1 - prior
    log_bf = (k * (np.log(p1) - np.log(p0)) + (n - k) * (np.log1p(-p1) - np.log1p(-p0))).sum(axis=1)
    return post, log_bf, prior, p1, p0, it


def compute_needs(source: Source, *, threshold: float = 0.5, min_orders: int = 3,
                  keep_posteriors: bool = False) -> NeedsResult:
    if not 0 < threshold < 1:
        raise JingyunError("bad_param", "threshold must be in (0, 1), for example 0.5", "threshold")
    if min_orders < 1:
        raise JingyunError("bad_param", "min_orders must be at least 1", "min_orders")
    sql = portable.check(counts_query())
    table = engine_of(source).run(sql)
    ids = [str(x) for x in table.column("person_id").to_pylist()]
    cols = {c: np.asarray(table.column(c).to_numpy(zero_copy_only=False), dtype=float) for c in COLUMNS}
    eligible = cols["orders"] >= min_orders
    groups: list[NeedGroup] = []
    posts: dict[str, np.ndarray] = {}
    labels: dict[str, np.ndarray] = {}
    for key, (zh, en, signals) in NEEDS.items():
        hits = np.column_stack([cols[s.hits] for s in signals])
        chances = np.column_stack([cols[s.chances] for s in signals])
        # The rates are fitted on everyone (a person with little behaviour adds little), the
        # labels given only where there is enough behaviour to judge.
        post, _log_bf, prior, p1, p0, it = fit_latent_class(hits, chances)
        label = np.where(eligible, (post >= threshold).astype(int), -1)
        posts[key] = post
        labels[key] = label
        fits = [SignalFit(s.name, s.zh, round(float(a), 6), round(float(b), 6))
                for s, a, b in zip(signals, p1, p0, strict=True)]
        rule = (f"person with >= {min_orders} valid orders: member when P({key} | "
                + ", ".join(f"{s.name}={s.hits}/{s.chances}" for s in signals)
                + f") >= {threshold}, else non-member; fewer orders: undecided "
                "(two-class binomial mixture fitted by EM; the fitted rates per class are the signals)")
        groups.append(NeedGroup(key, zh, en, rule, round(prior, 6), fits, int((label == 1).sum()),
                                int((label == 0).sum()), int((label == -1).sum()), it))
    out: dict[str, dict[str, float]] = {}
    lab: dict[str, dict[str, bool | None]] = {}
    if keep_posteriors:
        for i, pid in enumerate(ids):
            out[pid] = {k: float(v[i]) for k, v in posts.items()}
            lab[pid] = {k: (None if v[i] < 0 else bool(v[i])) for k, v in labels.items()}
    return NeedsResult(threshold, min_orders, len(ids), int(eligible.sum()), groups, sql, out, lab)
