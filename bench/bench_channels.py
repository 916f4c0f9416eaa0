"""Channel report (spend, new customers, CAC, revenue, gross profit, ROI, LTV) on a business sized like
10 M events (400 k users, 1 M orders, 2 M order lines, 600 k touches), DuckDB portable SQL vs pandas,
plus the Markov attribution model; both implementations must agree."""

from __future__ import annotations

import datetime as dt
import gc
import time
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from jingyun.analysis.attribution import AttributionParams, run_attribution
from jingyun.analysis.channels import ChannelParams, run_channels
from jingyun.config import load_settings
from jingyun.warehouse import Warehouse
from jingyun.warehouse.backends.duckdb import DuckDBBackend

CHANNELS = np.array(["feed_ads", "search", "short_video", "kol", "referral", "organic"])
START = dt.datetime(2026, 1, 1)
DAYS = 180


def _data(n_events: int, seed: int = 7) -> dict[str, pa.Table]:
    rng = np.random.default_rng(seed)
    n_users = max(100, n_events // 25)
    n_orders = n_users * 5 // 2
    users = pa.table({"user_id": np.char.add("u", np.arange(n_users).astype(str)),
                      "channel": CHANNELS[rng.integers(0, len(CHANNELS), n_users)]})
    buyer = rng.integers(0, n_users, n_orders)
    secs = rng.integers(0, DAYS * 86400, n_orders)
    orders = pa.table({
        "order_id": np.char.add("o", np.arange(n_orders).astype(str)),
        "person_id": np.char.add("u", buyer.astype(str)),
        "ts": pa.array((np.datetime64(START, "s") + secs.astype("timedelta64[s]")).astype("datetime64[us]")),
        "amount": pa.array(np.round(rng.gamma(2.0, 120.0, n_orders), 2)).cast(pa.decimal128(18, 2)),
        "status": np.where(rng.random(n_orders) < 0.05, "refunded", "completed"),
    })
    lines = rng.integers(1, 3, n_orders)
    oid = np.repeat(np.arange(n_orders), lines)
    items = pa.table({"order_id": np.char.add("o", oid.astype(str)), "line_no": np.ones(len(oid), dtype=np.int64),
                      "product_id": np.char.add("P", rng.integers(0, 300, len(oid)).astype(str)),
                      "quantity": rng.integers(1, 4, len(oid))})
    products = pa.table({"product_id": np.char.add("P", np.arange(300).astype(str)), "category": ["c"] * 300,
                         "price": pa.array(np.full(300, 100.0)).cast(pa.decimal128(18, 2)),
                         "cost": pa.array(np.round(rng.uniform(10, 60, 300), 2)).cast(pa.decimal128(18, 2))})
    paid = CHANNELS[:5]
    dates = [START.date() + dt.timedelta(days=d) for d in range(DAYS)]
    spend = pa.table({"date": pa.array(np.repeat(dates, len(paid)), pa.date32()), "channel": np.tile(paid, DAYS),
                      "campaign_id": np.tile(paid, DAYS),
                      "spend": pa.array(np.round(rng.uniform(500, 5000, DAYS * len(paid)), 2)).cast(pa.decimal128(18, 2))})
    n_t = n_users * 3 // 2
    tsec = rng.integers(0, DAYS * 86400, n_t)
    touches = pa.table({"user_id": np.char.add("u", rng.integers(0, n_users, n_t).astype(str)),
                        "ts": pa.array((np.datetime64(START, "s") + tsec.astype("timedelta64[s]")).astype("datetime64[us]")),
                        "channel": paid[rng.integers(0, len(paid), n_t)]})
    return {"users": users, "orders": orders, "order_items": items, "products": products,
            "marketing_spend": spend, "touches": touches}


def _load(wh: Warehouse, data: dict[str, pa.Table]) -> None:
    extra = {"users": "user_id AS person_id, FALSE AS is_test", "orders": "person_id AS user_id, FALSE AS is_test",
             "touches": "user_id AS person_id, FALSE AS is_test"}
    for name, tbl in data.items():
        wh.con.register("_b", tbl)
        cols = list(tbl.column_names)
        more = extra.get(name)
        names = cols + ([c.split(" AS ")[1] for c in more.split(", ")] if more else [])
        wh.con.execute(f"INSERT INTO {name} ({', '.join(names)}) SELECT {', '.join(cols)}{', ' + more if more else ''} FROM _b")
        wh.con.unregister("_b")


def pandas_report(data: dict[str, pa.Table], lo: dt.datetime, hi: dt.datetime, ltv_days: int) -> pd.DataFrame:
    """The same definitions in pandas (users mode)."""
    o = data["orders"].to_pandas()
    o["amount"] = o["amount"].astype(float)
    o = o[o["status"] != "refunded"]
    items = data["order_items"].to_pandas().merge(data["products"].to_pandas()[["product_id", "cost"]], on="product_id")
    items["cogs"] = items["quantity"] * items["cost"].astype(float)
    cogs = items.groupby("order_id")["cogs"].sum()
    ch = data["users"].to_pandas().set_index("user_id")["channel"]
    o["channel"] = o["person_id"].map(ch)
    o["cogs"] = o["order_id"].map(cogs).fillna(0.0)
    first = o.groupby("person_id")["ts"].min()
    in_range = o[(o["ts"] >= lo) & (o["ts"] < hi)]
    rev = in_range.groupby("channel").agg(revenue=("amount", "sum"), cogs=("cogs", "sum"))
    new = first[(first >= lo) & (first < hi)]
    o["first"] = o["person_id"].map(new)
    ltv = o[o["first"].notna() & ((o["ts"] - o["first"]).dt.total_seconds() < ltv_days * 86400)]
    ltv_rev = ltv.groupby("channel")["amount"].sum()
    new_n = new.index.to_series().map(ch).value_counts()
    s = data["marketing_spend"].to_pandas()
    s = s[(s["date"] >= lo.date()) & (s["date"] < hi.date())]
    spend = s.groupby("channel")["spend"].sum().astype(float)
    out = pd.DataFrame({"spend": spend, "new_customers": new_n, "revenue": rev["revenue"], "cogs": rev["cogs"],
                        "ltv_revenue": ltv_rev}).fillna(0.0)
    out["cac"] = out["spend"] / out["new_customers"]
    out["roi"] = (out["revenue"] - out["cogs"]) / out["spend"]
    return out


def _time(fn: Any, repeat: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        gc.collect()
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def run(quick: bool) -> list[dict[str, Any]]:
    import tempfile

    n_events = 200_000 if quick else 10_000_000
    data = _data(n_events)
    settings = load_settings(tempfile.mkdtemp(prefix="bench_channels_"))
    wh = Warehouse.open(settings, memory=True)
    _load(wh, data)
    backend = DuckDBBackend(wh)
    p = ChannelParams.create("2026-03-01", "2026-05-31", ltv_days=90, timezone="UTC")
    repeat = 3 if quick else 2
    t_sql, rep = _time(lambda: run_channels(backend, p), repeat)
    lo, hi = dt.datetime(2026, 3, 1), dt.datetime(2026, 6, 1)
    t_pd, ref = _time(lambda: pandas_report(data, lo, hi, 90), repeat)
    agree = all(
        abs(c.revenue - round(float(ref.loc[c.channel, "revenue"]), 2)) < 0.02
        and c.new_customers == ref.loc[c.channel, "new_customers"]
        and abs(c.spend - float(ref.loc[c.channel, "spend"])) < 0.02
        for c in rep.channels if c.channel in ref.index
    )
    ap = AttributionParams.create("markov", date_from="2026-03-01", date_to="2026-05-31", timezone="UTC")
    t_mk, mk = _time(lambda: run_attribution(backend, ap), 1)
    wh.close()
    orders = data["orders"].num_rows
    return [
        {"analysis": "channel report (users.channel)", "events-scale": f"{n_events:,}", "orders": f"{orders:,}",
         "duckdb portable s": round(t_sql, 3), "pandas s": round(t_pd, 3), "speed-up": round(t_pd / t_sql, 1),
         "results agree": agree},
        {"analysis": "markov attribution", "events-scale": f"{n_events:,}", "orders": f"{orders:,}",
         "duckdb portable s": round(t_mk, 3), "pandas s": "", "speed-up": "",
         "results agree": abs(sum(c.conversions for c in mk.channels) - mk.conversions) < 1e-6},
    ]


if __name__ == "__main__":
    print(run(quick=True))
