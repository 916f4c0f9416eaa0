"""Feedback in Chinese from templates, in known categories, with NPS / CSAT scores."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jingyun.demo.timeline import Calendar
from jingyun.demo.users import Users

SOURCES = ("survey", "cs", "review", "app-store")
CATEGORIES = ("物流慢", "价格贵", "质量问题", "客服态度", "功能建议", "表扬")
TEMPLATES: dict[str, tuple[str, ...]] = {
    "物流慢": (
        "下单{n}天了还没发货,物流太慢了",
        "快递一直显示运输中,等了{n}天才到",
        "物流速度太慢,{c}都等了好几天",
        "配送太慢了,希望能改进发货速度",
    ),
    "价格贵": (
        "{c}价格比别家贵了不少,性价比一般",
        "同样的{c}在其他平台便宜{n}十块",
        "价格偏贵,希望多发点优惠券",
        "活动力度太小,价格还是太贵",
    ),
    "质量问题": (
        "{c}用了{n}天就坏了,质量太差",
        "收到的{c}有瑕疵,做工粗糙",
        "质量和描述不符,有色差",
        "{c}质量一般,和图片差距很大",
    ),
    "客服态度": (
        "客服回复太慢,等了{n}个小时没人理",
        "客服态度很差,问题一直没解决",
        "找客服退换货,被踢皮球,体验很差",
        "客服敷衍,答非所问",
    ),
    "功能建议": (
        "希望App能增加{c}的比价功能",
        "建议小程序支持订单合并支付",
        "希望能按价格筛选{c}",
        "搜索不太好用,建议优化推荐",
    ),
    "表扬": (
        "{c}质量很好,会回购",
        "发货很快,包装也很用心",
        "客服很耐心,点赞",
        "性价比高,推荐给朋友了",
    ),
}
CAT_WORDS = ("衣服", "鞋子", "口红", "洗发水", "零食", "收纳箱", "耳机", "纸尿裤")


@dataclass
class Feedback:
    user: np.ndarray
    ts_ms: np.ndarray
    source: np.ndarray  # index into SOURCES
    category: np.ndarray  # index into CATEGORIES
    text: list[str]
    score: np.ndarray
    score_type: np.ndarray  # str: nps / csat / stars


def generate_feedback(users: Users, alive_until: np.ndarray, cal: Calendar, rng: np.random.Generator) -> Feedback:
    n = users.n
    lo = np.maximum(users.reg_ms, cal.start_ms)
    span = np.maximum(alive_until - lo, 0)
    has = (rng.random(n) < np.where(users.customer, 0.22, 0.06)) & (span > 0)
    user = np.flatnonzero(has)
    m = len(user)
    ts = lo[user] + (rng.random(m) * span[user]).astype(np.int64)
    # Traits shift what people complain about: the category is the planted label.
    w = np.tile(np.array([0.18, 0.14, 0.12, 0.10, 0.12, 0.34]), (m, 1))
    w[:, 1] += np.where(users.price_sensitive[user], 0.45, 0.0)
    w[:, 2] += np.where(users.quality_sensitive[user], 0.45, 0.0)
    w[:, 3] += np.where(users.service_sensitive[user], 0.45, 0.0)
    cum = np.cumsum(w / w.sum(axis=1, keepdims=True), axis=1)
    category = np.minimum((rng.random(m)[:, None] > cum).sum(axis=1), len(CATEGORIES) - 1)
    source = rng.choice(len(SOURCES), size=m, p=[0.35, 0.25, 0.3, 0.1])
    source = np.where(category == CATEGORIES.index("客服态度"), np.where(rng.random(m) < 0.6, 1, source), source)
    positive = category == CATEGORIES.index("表扬")
    suggestion = category == CATEGORIES.index("功能建议")
    nps = np.where(positive, rng.integers(9, 11, m), np.where(suggestion, rng.integers(6, 9, m), rng.integers(0, 7, m)))
    five = np.where(positive, rng.integers(4, 6, m), np.where(suggestion, rng.integers(3, 5, m), rng.integers(1, 3, m)))
    score = np.where(source == 0, nps, five).astype(float)
    score_type = np.array(["nps", "csat", "stars", "stars"], dtype=object)[source]
    tpl = rng.integers(0, 4, m)
    nums = rng.integers(2, 9, m)
    words = rng.integers(0, len(CAT_WORDS), m)
    text = [
        TEMPLATES[CATEGORIES[c]][t].format(n=k, c=CAT_WORDS[wd])
        for c, t, k, wd in zip(category, tpl, nums, words, strict=True)
    ]
    return Feedback(user, ts, source, category, text, score, score_type)
