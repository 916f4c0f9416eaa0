"""Segments: RFM and a 5-condition audience on DuckDB (Jingyun's portable SQL) vs pandas.

Data is generated inside DuckDB (seeded): users with province and gender,
events (view_product with a category property, pay, others) over 90 days, in
random time order, and orders over a year. Full size: 1,000,000 users /
10,000,000 events / 2,000,000 orders; quick: 20,000 / 200,000 / 40,000. The audience:
province in (浙江, 江苏, 上海) AND gender = female AND >= 2 views of 服饰 in 30 days
AND NOT paid in 7 days AND lifetime spend >= 200.

Two states of the warehouse, both measured in the same run:
- as loaded: the rows in random time order, no per-person summary (the audience's
  planned and naive forms, median of 5 after a warm-up; RFM median of 3);
- optimized: after ``jingyun optimize`` (events sorted by event then time, orders by
  time, the per-person order summary built; its time is in the setup row). This is
  the state the goal rows measure: Jingyun and pandas alternate round by round after a
  warm-up (audience 5 rounds, RFM 7), so both see the same machine load; times are
  medians, the per-round range of ratios is shown.

pandas works on frames already in memory (loading excluded; JSON properties read with
a vectorised ``str.extract``; RFM is one groupby, three ``rank(method="min")`` and the
groups counted on the three flags). Every row must give the same answer as pandas
(checked in the row; RFM compares every group's size and value, and that the optimized
run read the summary). ``load`` gives ``uptime`` load averages before -> after.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import statistics
import tempfile
import time
from typing import Any

import numpy as np
import pandas as pd

from jingyun.config import load_settings
from jingyun.segments import audience
from jingyun.segments.rfm import GROUPS, RfmParams, compute_rfm
from jingyun.warehouse import Warehouse, person_orders
from jingyun.warehouse.optimize import optimize

AS_OF = dt.datetime(2026, 6, 1)
RULE: dict[str, Any] = {"and": [
    {"attr": "province", "op": "in", "value": ["浙江省", "江苏省", "上海市"]},
    {"attr": "gender", "op": "eq", "value": "female"},
    {"event": "view_product", "within_days": 30, "where": [{"prop": "category", "op": "eq", "value": "服饰"}],
     "count": {"op": "gte", "value": 2}},
    {"not": {"event": "pay", "within_days": 7}},
    {"orders": "sum_amount", "op": "gte", "value": 200},
]}


def _generate(wh: Warehouse, users: int, events: int, orders: int) -> None:
    con = wh.con
    con.execute("SELECT setseed(0.42)")
    con.execute(f"""INSERT INTO users (user_id, person_id, province, gender, registered_at, is_test)
        SELECT 'u' || i, 'u' || i,
          ['浙江省', '江苏省', '上海市', '广东省', '北京市', '四川省', '山东省', '湖北省'][1 + CAST(floor(random() * 8) AS INT)],
          CASE WHEN random() < 0.55 THEN 'female' ELSE 'male' END,
          TIMESTAMP '2025-01-01' + INTERVAL (CAST(floor(random() * 500) AS INT)) DAY, FALSE
        FROM range({users}) t(i)""")
    con.execute(f"""INSERT INTO events (event_id, user_id, person_id, event, ts, properties, is_test)
        SELECT 'e' || i, 'u' || u, 'u' || u, ev,
          TIMESTAMP '{AS_OF:%Y-%m-%d}' - INTERVAL (CAST(floor(random() * 90 * 86400) AS INT) + 1) SECOND,
          CASE WHEN ev = 'view_product' THEN '{{"category":"' ||
            ['服饰', '鞋包', '美妆', '食品'][1 + CAST(floor(random() * 4) AS INT)] || '"}}' ELSE '{{}}' END, FALSE
        FROM (SELECT i, CAST(floor(random() * {users}) AS BIGINT) AS u,
          CASE WHEN random() < 0.45 THEN 'view_product' WHEN random() < 0.15 THEN 'pay' ELSE 'view_home' END AS ev
          FROM range({events}) t(i)) x""")
    con.execute(f"""INSERT INTO orders (order_id, user_id, person_id, ts, amount, status, is_test)
        SELECT 'o' || i, 'u' || u, 'u' || u,
          TIMESTAMP '{AS_OF:%Y-%m-%d}' - INTERVAL (CAST(floor(random() * 365 * 86400) AS INT) + 1) SECOND,
          CAST(round(5 + random() * 400, 2) AS DECIMAL(18, 2)),
          CASE WHEN random() < 0.05 THEN 'refunded' ELSE 'completed' END, FALSE
        FROM (SELECT i, CAST(floor(pow(random(), 2) * {users}) AS BIGINT) AS u FROM range({orders}) t(i)) x""")


def _median(fn: Any, runs: int = 5, warm: bool = True) -> tuple[float, Any]:
    if warm:  # DuckDB: first run loads caches; pandas has nothing to warm
        fn()
    times, out = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def _pandas_audience(users: pd.DataFrame, events: pd.DataFrame, orders: pd.DataFrame) -> int:
    u = users[users["province"].isin(["浙江省", "江苏省", "上海市"]) & (users["gender"] == "female")]
    lo30, lo7 = AS_OF - dt.timedelta(days=30), AS_OF - dt.timedelta(days=7)
    ev = events[(events["ts"] >= lo30) & (events["ts"] < AS_OF)]
    views = ev[(ev["event"] == "view_product")]
    cat = views["properties"].str.extract(r'"category"\s*:\s*"([^"]*)"', expand=False)
    n_views = views[cat == "服饰"].groupby("person_id").size()
    paid7 = set(ev[(ev["event"] == "pay") & (ev["ts"] >= lo7)]["person_id"])
    valid = orders[~orders["status"].isin(["cancelled", "refunded", "returned"]) & (orders["ts"] < AS_OF)]
    spend = valid.groupby("person_id")["amount"].sum()
    pid = u["person_id"]
    keep = (pid.map(n_views).fillna(0) >= 2) & ~pid.isin(paid7) & (pid.map(spend).fillna(0) >= 200)
    return int(keep.sum())


def _pandas_rfm(orders: pd.DataFrame) -> dict[str, tuple[int, float]]:
    """RFM in idiomatic pandas: one groupby, three vectorised ranks, groups counted on the three flags."""
    valid = orders[~orders["status"].isin(["cancelled", "refunded", "returned"]) & (orders["ts"] < AS_OF)]
    g = valid.groupby("person_id").agg(last=("ts", "max"), frequency=("ts", "size"), monetary=("amount", "sum"))
    rec = np.floor((AS_OF - g["last"]).dt.total_seconds() / 86400.0)
    n = len(g)
    # same tie rule as Jingyun: 1 + floor(5 * (#strictly worse) / n)
    r = 1 + np.floor(5 * (rec.rank(method="min", ascending=False) - 1) / n)
    f = 1 + np.floor(5 * (g["frequency"].rank(method="min") - 1) / n)
    m = 1 + np.floor(5 * (g["monetary"].rank(method="min") - 1) / n)
    high = pd.DataFrame({"r": r > r.mean(), "f": f > f.mean(), "m": m > m.mean(), "monetary": g["monetary"]})
    per = high.groupby(["r", "f", "m"])["monetary"].agg(["size", "sum"])
    return {GROUPS[(bool(k[0]), bool(k[1]), bool(k[2]))][0]: (int(v["size"]), float(v["sum"]))
            for k, v in per.iterrows()}


def _same_rfm(jingyun: dict[str, tuple[int, float]], pandas: dict[str, tuple[int, float]]) -> bool:
    """Same sizes; totals equal up to float summation (pandas sums doubles, DuckDB exact decimals)."""
    return jingyun.keys() == pandas.keys() and all(
        jingyun[k][0] == pandas[k][0] and math.isclose(jingyun[k][1], pandas[k][1], rel_tol=1e-9, abs_tol=0.01)
        for k in jingyun)


def _uptime() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def _alternate(jy: Any, pd_fn: Any, rounds: int) -> tuple[float, float, list[float], Any, Any]:
    """Jingyun then pandas, round by round (both see the same load), after one warm-up of
    Jingyun; medians, the per-round ratios and the last answers."""
    jy_out, pd_out = jy(), None
    jy_times, pd_times = [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        jy_out = jy()
        jy_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        pd_out = pd_fn()
        pd_times.append(time.perf_counter() - t0)
    ratios = [b / a for a, b in zip(jy_times, pd_times, strict=True)]
    return statistics.median(jy_times), statistics.median(pd_times), ratios, jy_out, pd_out


def run(quick: bool) -> list[dict[str, object]]:
    users, events, orders = (20_000, 200_000, 40_000) if quick else (1_000_000, 10_000_000, 2_000_000)
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(tmp, memory_limit="6GB")
        with Warehouse.open(settings, memory=True) as wh:
            t0 = time.perf_counter()
            _generate(wh, users, events, orders)
            gen_s = time.perf_counter() - t0
            count = lambda sql: lambda: int(wh.scalar(f"SELECT count(*) FROM ({sql}) s"))  # noqa: E731
            # as loaded: events in random time order, no per-person summary
            raw_ctx = audience.RuleContext({}, lambda _n: None, AS_OF)
            loaded_s, loaded_n = _median(count(audience.compile_rule(RULE, raw_ctx).sql))
            naive_s, naive_n = _median(count(audience.naive_sql(RULE, raw_ctx)))
            rfm_loaded_s, rfm_loaded = _median(lambda: compute_rfm(wh, RfmParams(as_of=AS_OF)), runs=3)
            # optimized: sorted by (event, ts) / ts, with the per-person order summary
            t0 = time.perf_counter()
            optimize(wh)
            opt_s = time.perf_counter() - t0
            ctx = audience.RuleContext({}, lambda _n: None, AS_OF, order_summary=person_orders.usable(wh, AS_OF))
            planned = count(audience.compile_rule(RULE, ctx).sql)
            t1 = time.perf_counter()
            u = wh.con.sql("SELECT person_id, province, gender FROM users").df()
            e = wh.con.sql("SELECT person_id, event, ts, properties FROM events").df()
            o = wh.con.sql("SELECT person_id, ts, CAST(amount AS DOUBLE) AS amount, status FROM orders").df()
            load_s = time.perf_counter() - t1
            up_aud = _uptime()
            aud_s, pd_aud_s, aud_ratios, aud_n, pd_aud = _alternate(
                planned, lambda: _pandas_audience(u, e, o), 3 if quick else 5)
            up_aud += " -> " + _uptime()
            up_rfm = _uptime()
            rfm_s, pd_rfm_s, rfm_ratios, rfm_res, pd_rfm = _alternate(
                lambda: compute_rfm(wh, RfmParams(as_of=AS_OF)), lambda: _pandas_rfm(o), 3 if quick else 7)
            up_rfm += " -> " + _uptime()
    jy_rfm = {g.key: (g.size, g.monetary) for g in rfm_res.groups if g.size}
    loaded_rfm = {g.key: (g.size, g.monetary) for g in rfm_loaded.groups if g.size}
    size = f"{users:,} users / {events:,} events / {orders:,} orders"

    def ratio(jy: float, ref: float, per_round: list[float] | None = None) -> str:
        rounds = f" (per round {min(per_round):.1f}-{max(per_round):.1f}x)" if per_round else ""
        return f"{ref / jy:.1f}x{rounds}"

    rows.append({"task": f"5-condition audience (optimized warehouse; {len(aud_ratios)} alternating rounds)", "size": size,
                 "jingyun_s": round(aud_s, 3), "pandas_s": round(pd_aud_s, 2),
                 "speedup": ratio(aud_s, pd_aud_s, aud_ratios), "goal": "< 2 s and >= 20x",
                 "same_answer": int(aud_n) == pd_aud, "members": int(aud_n), "load": f"uptime {up_aud}"})
    rows.append({"task": f"RFM (quantile, 8 groups; optimized warehouse; {len(rfm_ratios)} alternating rounds)",
                 "size": size, "jingyun_s": round(rfm_s, 3), "pandas_s": round(pd_rfm_s, 2),
                 "speedup": ratio(rfm_s, pd_rfm_s, rfm_ratios), "goal": ">= 20x",
                 "same_answer": _same_rfm(jy_rfm, pd_rfm) and rfm_res.source == "person_orders",
                 "members": rfm_res.customers, "load": f"uptime {up_rfm}"})
    rows.append({"task": "5-condition audience, as loaded (random row order, no summary)", "size": size,
                 "jingyun_s": round(loaded_s, 3), "pandas_s": round(pd_aud_s, 2), "speedup": ratio(loaded_s, pd_aud_s),
                 "goal": "(before optimize)", "same_answer": loaded_n == pd_aud, "members": loaded_n, "load": ""})
    rows.append({"task": "5-condition audience, as loaded, naive (one semi-join per condition)", "size": size,
                 "jingyun_s": round(naive_s, 3), "pandas_s": round(pd_aud_s, 2), "speedup": ratio(naive_s, pd_aud_s),
                 "goal": "(previous compiler)", "same_answer": naive_n == pd_aud, "members": naive_n, "load": ""})
    rows.append({"task": "RFM, as loaded (groups orders; 3 runs)", "size": size, "jingyun_s": round(rfm_loaded_s, 3),
                 "pandas_s": round(pd_rfm_s, 2), "speedup": ratio(rfm_loaded_s, pd_rfm_s), "goal": "(before optimize)",
                 "same_answer": _same_rfm(loaded_rfm, pd_rfm) and rfm_loaded.source == "orders",
                 "members": rfm_loaded.customers, "load": ""})
    rows.append({"task": "(setup: generate in DuckDB / jingyun optimize / load frames for pandas)", "size": size,
                 "jingyun_s": f"{gen_s:.2f} / {opt_s:.2f}", "pandas_s": round(load_s, 2), "speedup": "", "goal": "",
                 "same_answer": "", "members": "", "load": ""})
    return rows
