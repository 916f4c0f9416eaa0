"""Products, weekly inventory snapshots and competitor prices (with one planted price cut)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jingyun.demo.timeline import Calendar

# category: (zh name, price range CNY, brands)
CATEGORIES: dict[str, tuple[float, float, tuple[str, ...]]] = {
    "服饰": (59, 399, ("云裳", "素锦", "北纬")),
    "鞋包": (99, 699, ("行者", "步履", "简包")),
    "美妆": (49, 459, ("花颜", "水漾", "初见")),
    "个护": (19, 159, ("清沐", "净肤", "本草堂")),
    "食品": (9, 129, ("田园", "味之源", "小食光")),
    "家居": (29, 599, ("安居", "木语", "暖窝")),
    "数码": (99, 1999, ("极客", "声临", "星河")),
    "母婴": (39, 399, ("贝贝", "小树苗", "暖宝")),
}
NOUNS: dict[str, tuple[str, ...]] = {
    "服饰": ("T恤", "衬衫", "连衣裙", "牛仔裤", "卫衣", "外套"),
    "鞋包": ("运动鞋", "帆布鞋", "双肩包", "手提包", "钱包"),
    "美妆": ("口红", "粉底液", "眼影盘", "面膜", "精华液"),
    "个护": ("洗发水", "沐浴露", "牙膏", "护手霜"),
    "食品": ("坚果礼盒", "挂耳咖啡", "牛肉干", "茶叶", "饼干"),
    "家居": ("四件套", "收纳箱", "香薰", "保温杯", "抱枕"),
    "数码": ("蓝牙耳机", "充电宝", "智能手表", "键盘", "音箱"),
    "母婴": ("纸尿裤", "奶瓶", "童装", "玩具", "湿巾"),
}
COMPETITORS = ("rival_a", "rival_b")
WAREHOUSES = ("W01", "W02")


@dataclass
class Products:
    product_id: list[str]
    name: list[str]
    category: list[str]
    brand: list[str]
    price: np.ndarray
    cost: np.ndarray
    premium: np.ndarray
    launched_day: np.ndarray  # calendar day index

    @property
    def n(self) -> int:
        return len(self.product_id)


def generate_products(cal: Calendar, rng: np.random.Generator, n: int = 320) -> Products:
    cats = list(CATEGORIES)
    cat_idx = np.arange(n) % len(cats)
    premium = rng.random(n) < 0.2
    lo = np.array([CATEGORIES[cats[c]][0] for c in cat_idx])
    hi = np.array([CATEGORIES[cats[c]][1] for c in cat_idx])
    base = np.exp(rng.uniform(np.log(lo), np.log(hi)))
    # Premium lines cost more to buy and to make; ".9" endings like real shelves.
    price = np.floor(base * np.where(premium, 2.5, 1.0)) + 0.9
    cost = np.round(price * rng.uniform(0.35, 0.65, n), 2)
    brand_pick = rng.integers(0, 3, n)
    noun_pick = rng.integers(0, 6, n)
    names, brands, categories = [], [], []
    for i in range(n):
        c = cats[cat_idx[i]]
        b = CATEGORIES[c][2][brand_pick[i]]
        nouns = NOUNS[c]
        names.append(f"{b}{'臻选' if premium[i] else ''}{nouns[noun_pick[i] % len(nouns)]}{i + 1:03d}")
        brands.append(b)
        categories.append(c)
    launched = rng.integers(0, cal.period_start + 30, n)
    return Products(
        [f"P{i + 1:05d}" for i in range(n)], names, categories, brands, price, cost, premium, launched
    )


@dataclass
class Inventory:
    day: np.ndarray
    product: np.ndarray
    location: np.ndarray  # index into WAREHOUSES
    quantity: np.ndarray


def generate_inventory(products: Products, cal: Calendar, rng: np.random.Generator) -> Inventory:
    # Weekly counts on Mondays of the observed period.
    days = np.array([d for d in range(cal.period_start, cal.n_days) if cal.date(d).weekday() == 0])
    n_p, n_w, n_d = products.n, len(WAREHOUSES), len(days)
    base = rng.integers(50, 800, size=(n_p, n_w))
    # Stock dips before the two promotions and is replenished after: a sawtooth with noise.
    qty = np.empty((n_d, n_p, n_w), dtype=np.int64)
    for k, d in enumerate(days):
        level = 1.0 - 0.5 * max(0.0, cal.mult[d] - 1.0)
        qty[k] = np.maximum(0, np.round(base * level * rng.uniform(0.6, 1.2, size=(n_p, n_w)))).astype(np.int64)
    dd, pp, ww = np.meshgrid(days, np.arange(n_p), np.arange(n_w), indexing="ij")
    return Inventory(dd.ravel(), pp.ravel(), ww.ravel(), qty.ravel())


@dataclass
class CompetitorPrices:
    day: np.ndarray
    competitor: np.ndarray  # index into COMPETITORS
    product: np.ndarray
    price: np.ndarray
    cut_category: str
    cut_competitor: str
    cut_day: int  # calendar day index of the cut
    cut_pct: float


def generate_competitor_prices(products: Products, cal: Calendar, rng: np.random.Generator) -> CompetitorPrices:
    days = np.arange(cal.period_start, cal.n_days, 7)
    cut_day = max(cal.period_start, cal.n_days - 45)
    cut_day = int(days[np.searchsorted(days, cut_day)]) if cut_day <= days[-1] else int(days[-1])
    cut_category, cut_competitor, cut_pct = "美妆", COMPETITORS[0], 0.18
    rows_d, rows_c, rows_p, rows_price = [], [], [], []
    rel = rng.uniform(0.92, 1.08, size=(len(COMPETITORS), products.n))
    is_cut = np.array([c == cut_category for c in products.category])
    for ci in range(len(COMPETITORS)):
        for d in days:
            noise = rng.normal(1.0, 0.015, products.n)
            price = products.price * rel[ci] * noise
            if ci == 0 and d >= cut_day:
                price = np.where(is_cut, price * (1 - cut_pct), price)
            rows_d.append(np.full(products.n, d))
            rows_c.append(np.full(products.n, ci))
            rows_p.append(np.arange(products.n))
            rows_price.append(np.round(price, 2))
    return CompetitorPrices(
        np.concatenate(rows_d), np.concatenate(rows_c), np.concatenate(rows_p), np.concatenate(rows_price),
        cut_category, cut_competitor, cut_day, cut_pct,
    )
