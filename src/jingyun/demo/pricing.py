"""The demo's competitor watch: competitor items with stepped prices (no day-to-day noise, like real
shelves) and planted moves on the day of ``competitor_price_cut`` (the existing truth), plus the rule
that answers them. Four categories are watched, weekly, over the last 13 weeks.

Planted moves, from the cut day on:
- rival_a cuts 美妆 by 18 % (the existing truth's cut) → proposals where stock covers ≥ 14 days;
- rival_b raises 数码 by 8 % (a move for the watch; not a cut, no proposal);
- rival_a cuts 个护 by exactly 5 % (the boundary: not beyond 5 %, nothing fires);
- rival_b cuts 食品 by 4 % (below the threshold).
"""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from jingyun.config import Settings

WATCHED = ("美妆", "个护", "数码", "食品")
MOVES = {("rival_a", "美妆"): Decimal("-0.18"), ("rival_b", "数码"): Decimal("0.08"),
         ("rival_a", "个护"): Decimal("-0.05"), ("rival_b", "食品"): Decimal("-0.04")}
RULE = "demo-beauty"
WEEKS = 13


def write_competitor_prices(data: Any, sources: Path) -> dict[str, Any]:
    """Write ``sources/pricing/competitor_prices.csv`` and return the planted truth."""
    cal, products, comp = data.cal, data.products, data.competitors
    cut_day = int(comp.cut_day)
    last = cal.n_days - 1
    days = [d for d in range(last - 7 * (WEEKS - 1), last + 1, 7) if d >= cal.period_start]
    if cut_day not in days:  # observe on the cut day itself
        days = sorted({*days, cut_day})
    rng = np.random.default_rng([data.params.seed, 1019])
    rows: list[tuple[str, str, str, str, str]] = []
    for competitor in ("rival_a", "rival_b"):
        for i, pid in enumerate(products.product_id):
            cat = products.category[i]
            if cat not in WATCHED:
                continue
            base = Decimal(int(max(1.0, round(float(products.price[i]) * rng.uniform(0.95, 1.10)))))
            move = MOVES.get((competitor, cat), Decimal(0))
            item = f"{competitor[-1].upper()}-{pid}"
            for d in days:
                price = (base * (1 + move)).quantize(Decimal("0.01")) if d >= cut_day else base
                rows.append((competitor, item, pid, f"{price:.2f}", cal.date(d).isoformat()))
    path = sources / "pricing" / "competitor_prices.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(("competitor", "competitor_item", "product_id", "price", "observed_at"))
        w.writerows(rows)
    return {
        "file": "sources/pricing/competitor_prices.csv", "rows": len(rows),
        "cut_date": cal.date(cut_day).isoformat(),
        "moves": [{"competitor": c, "category": cat, "change": f"{m}"} for (c, cat), m in MOVES.items()],
        "rule": {"key": RULE, "min_move": "0.05", "min_cover_days": 14, "max_cut": "0.03", "margin_floor": "0.10",
                 "mode": "dry_run"},
        "expected": "one proposal per 美妆 product whose stock covers >= 14 days on the cut date and whose floor "
                    "(cost x 1.10) is below its price; none for 个护 (exactly 5 %), 食品 (4 %) or 数码 (a rise)",
    }


def install_pricing(settings: Settings, sources: Path) -> None:
    """Import the demo's competitor prices and save its rule (``jingyun pricing propose`` answers them)."""
    from jingyun import pricing
    from jingyun.store.shared import metadata_store

    store = metadata_store(settings)
    path = sources / "pricing" / "competitor_prices.csv"
    if path.exists():
        pricing.import_csv(store, path, tz=settings.timezone, source_name="demo/pricing/competitor_prices.csv")
    pricing.save_rule(store, pricing.Rule(RULE, "竞品降价跟进 follow a competitor cut"), created_by="demo")
