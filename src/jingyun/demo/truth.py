"""The ground truth: what was planted, and what the generated data really shows.

Planted values (rates, lift, parameters) sit beside the realised ones computed
from the very rows written, so a test can demand that an analysis recovers the
realised number exactly and the planted one within sampling noise.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from jingyun.demo.alerts import DEMO_RULES
from jingyun.demo.experiment import VARIATIONS, converted_by
from jingyun.demo.feedback import CATEGORIES
from jingyun.demo.generate import DemoData
from jingyun.demo.params import CHANNELS, FUNNEL_STEPS, ONLINE_PLATFORMS, PLATFORMS
from jingyun.demo.purchases import COMPLEMENT_SHARE, FAVOURITE_SHARE
from jingyun.demo.sessions import EV
from jingyun.demo.timeline import DAY_S
from jingyun.demo.users import CHANNEL_IDS, driver_months
from jingyun.demo.write import Written

DAY_MS = DAY_S * 1000
TRUTH_VERSION = 1


def _iso(cal_ms: int) -> str:
    return dt.datetime.fromtimestamp(cal_ms / 1000, dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=8))).isoformat()


def funnel_counts(d: DemoData, platforms: tuple[int, ...], lo_ms: int | None = None, hi_ms: int | None = None) -> dict[str, Any]:
    """Sessions reaching each step (a session is dated by its first event)."""
    e = d.events
    n_sess = int(e.session.max(initial=-1)) + 1
    first = np.full(n_sess, np.iinfo(np.int64).max)
    np.minimum.at(first, e.session, e.ts)
    plat = np.full(n_sess, -1)
    plat[e.session] = e.platform
    sel = np.isin(plat, platforms)
    if lo_ms is not None:
        sel &= first >= lo_ms
    if hi_ms is not None:
        sel &= first < hi_ms
    counts = {}
    for step in FUNNEL_STEPS:
        has = np.zeros(n_sess, bool)
        has[e.session[e.event == EV[step]]] = True
        counts[step] = int((has & sel).sum())
    rates = {
        f"{a}->{b}": round(counts[b] / counts[a], 4) if counts[a] else None
        for a, b in itertools.pairwise(FUNNEL_STEPS)
    }
    return {"sessions": counts, "step_conversion": rates}


def _funnel(d: DemoData) -> dict[str, Any]:
    f = d.truths.funnel
    online = tuple(PLATFORMS.index(p) for p in ONLINE_PLATFORMS)
    worse = (PLATFORMS.index(f.worse_platform),)
    end = d.cal.end_ms
    w = f.worse_days * DAY_MS
    return {
        "steps": list(FUNNEL_STEPS),
        "unit": "session (online platforms app/web/miniprogram)",
        "planted": {"view_product->add_to_cart": f.view_to_cart, "add_to_cart->checkout": f.cart_to_checkout,
                    "checkout->pay": f.checkout_to_pay},
        "bottleneck_step": "checkout->pay",
        "realized": funnel_counts(d, online),
        "by_platform": {PLATFORMS[p]: funnel_counts(d, (p,)) for p in online},
        "worsening": {
            "platform": f.worse_platform,
            "step": "checkout->pay",
            "planted_before": f.checkout_to_pay,
            "planted_after": f.worse_checkout_to_pay,
            "recent": {"from": _iso(end - w), "to": _iso(end), **funnel_counts(d, worse, end - w, end)},
            "previous": {"from": _iso(end - 2 * w), "to": _iso(end - w), **funnel_counts(d, worse, end - 2 * w, end - w)},
        },
    }


def _ab(d: DemoData) -> dict[str, Any]:
    ab = d.truths.ab
    x = d.exposure
    e = d.events
    pay = e.event == EV["pay"]
    conv = converted_by(e.user[pay], e.ts[pay], x.user, x.ts_ms, ab.conversion_days)
    arms = {}
    for v, name in enumerate(VARIATIONS):
        m = x.variation == v
        n, c = int(m.sum()), int(conv[m].sum())
        arms[name] = {"users": n, "conversions": c, "rate": round(c / n, 6) if n else None}
    rc, rt = arms["control"]["rate"], arms["treatment"]["rate"]
    return {
        "experiment": ab.key,
        "variations": list(VARIATIONS),
        "assignment": "md5('checkout_copy_v2:' + user_id), first 8 hex digits as an integer, mod 100 < 50 → control",
        "exposure_event": "exp_exposure with properties {experiment, variation}",
        "conversion": f"a pay event within {ab.conversion_days} days after the exposure",
        "window": {"from": _iso(x.window_start_ms), "to": _iso(x.window_end_ms)},
        "planted": {"control_rate": ab.control_rate, "treatment_rate": round(ab.treatment_rate, 6),
                    "relative_lift": ab.relative_lift},
        "realized": {**arms, "relative_lift": round(rt / rc - 1, 6) if rc and rt is not None else None},
    }


def _gmv_by(d: DemoData, lo: dt.date, hi: dt.date) -> tuple[np.ndarray, float]:
    det = d.detail
    o = det.orders
    day = d.cal.day_of_ts(o.ts_ms)
    a, b = (lo - d.cal.first_date).days, (hi - d.cal.first_date).days
    sel = (day >= a) & (day <= b) & ~d.users.is_test[o.user]
    return sel, float(np.round(det.amount[sel].sum(), 2))


def _driver(d: DemoData) -> dict[str, Any]:
    prev, start, end = driver_months(d.params)
    prev_end = start - dt.timedelta(days=1)
    u = d.users
    o = d.detail.orders
    out: dict[str, Any] = {
        "metric": "gmv",
        "definition": "sum of order amount (CNY, after discount), test accounts excluded, by local calendar month",
        "period": {"from": start.isoformat(), "to": end.isoformat()},
        "previous": {"from": max(prev, d.params.start_date).isoformat(), "to": prev_end.isoformat()},
        "driver": {"dimension": "channel", "channel": d.truths.driver.channel, "segment": "new users",
                   "cause": "new-user conversion (share of users registered in the month who ordered in it) dropped"},
    }
    segs: dict[str, dict[str, float]] = {}
    conv: dict[str, dict[str, float | None]] = {}
    for label, lo, hi in (("previous", prev, prev_end), ("period", start, end)):
        sel, total = _gmv_by(d, lo, hi)
        out[label]["gmv"] = total
        a, b = (lo - d.cal.first_date).days, (hi - d.cal.first_date).days
        new_user = (u.reg_day >= a) & (u.reg_day <= b)
        for ci, ch in enumerate(CHANNEL_IDS):
            for kind, m in (("new", new_user), ("existing", ~new_user)):
                key = f"{ch}/{kind}"
                mask = sel & m[o.user] & (u.channel[o.user] == ci)
                segs.setdefault(key, {})[label] = float(np.round(d.detail.amount[mask].sum(), 2))
            cohort = new_user & (u.channel == ci) & ~u.is_test
            buyers = np.unique(o.user[sel])
            n = int(cohort.sum())
            conv.setdefault(ch, {})[label] = round(float(np.isin(np.flatnonzero(cohort), buyers).sum()) / n, 4) if n else None
    change = {k: round(v.get("period", 0) - v.get("previous", 0), 2) for k, v in segs.items()}
    out["change"] = round(out["period"]["gmv"] - out["previous"]["gmv"], 2)
    # A short period (a couple of months) is still filling its customer base, so GMV may grow anyway.
    out["gmv_falls"] = out["change"] < 0
    out["contributions"] = dict(sorted(change.items(), key=lambda kv: kv[1]))
    out["largest_negative_segment"] = min(change, key=lambda k: change[k])
    out["new_user_conversion"] = conv
    dip = d.dip
    out["lull"] = {"planted_drop": dip.target, "lost_repeat_orders": dip.lost_orders, "lost_value": dip.lost_value,
                   "cause": "on top of the driver, repeat orders of every channel lost at random until company GMV "
                            "stood the planted drop below the month before (demo/dip.py)"}
    out["alert"] = _expected_alert(out)
    return out


def _expected_alert(diag: dict[str, Any]) -> dict[str, Any]:
    """What the demo's ``gmv-mom`` rule must raise, from its own lines (demo/alerts.py) and the realised GMV:
    judged on the month's last day (not before: a monthly rule is due only when the month closes), with
    the driver's channel first in the diagnosis."""
    rule = next(r for r in yaml.safe_load(DEMO_RULES)["rules"] if r["id"] == "gmv-mom")
    before, after = diag["previous"]["gmv"], diag["period"]["gmv"]
    drop = (before - after) / before if before else 0.0
    level = next((c for c in ("red", "yellow", "blue") if c in rule and drop >= float(str(rule[c]).rstrip("%")) / 100),
                 None)
    last = dt.date.fromisoformat(diag["period"]["to"])
    return {"rule": rule["id"], "level": level, "drop": round(drop, 6), "day": last.isoformat(),
            "quiet_until": (last - dt.timedelta(days=1)).isoformat(), "top_driver": {"channel": diag["driver"]["channel"]}}


def build_truth(d: DemoData, written: Written, sources: Path) -> dict[str, Any]:
    u = d.users
    ch = d.churn
    det = d.detail
    o = det.orders
    start = d.cal.start_ms
    ev_files = {}
    for name, ff in written.event_faults.files.items():
        ev_files[name] = {**asdict(ff), "duplicates": ff.duplicates, "quarantined": ff.quarantined}
    tf = written.table_faults
    expected: dict[str, dict[str, int]] = {}
    for f in written.files:
        rel = str(f.path.relative_to(sources))
        rows = written.rows[str(f.path)]
        ef = written.event_faults.files.get(f.path.name) if f.table == "events" else None
        dup = ef.duplicates if ef else 0
        quar = ef.quarantined if ef else (len(tf.negative_amount_orders) if f.table == "orders" else 0)
        expected[rel] = {"table": f.table, "received": rows, "stored": rows - dup - quar, "duplicates": dup, "quarantined": quar}  # type: ignore[dict-item]
    customers = np.unique(o.user)
    dropped = ch.dropped
    return {
        "version": TRUTH_VERSION,
        "params": {"users": d.params.users, "days": d.params.days, "seed": d.params.seed,
                   "end_date": d.params.end_date.isoformat(), "start_date": d.params.start_date.isoformat(),
                   "timezone": "Asia/Shanghai"},
        "channels": CHANNELS,
        "platforms": list(PLATFORMS),
        "bgnbd": {**asdict(d.truths.bgnbd),
                  "note": "repeat purchases after the first (birth) purchase; orders kind 'induced' (A/B) excluded"},
        "counts": {
            "users": int(u.n), "test_users": int(u.is_test.sum()), "customers": len(customers),
            "orders": len(o.user), "orders_in_period": int((o.ts_ms >= start).sum()),
            "orders_induced_by_experiment": int((o.kind == 2).sum()),
            "events": len(d.events), "legacy_users": int(u.legacy.sum()),
        },
        "traits": {
            "base_rates": {"price_sensitive": d.truths.price_sensitive_rate,
                           "quality_sensitive": d.truths.quality_sensitive_rate,
                           "service_sensitive": d.truths.service_sensitive_rate},
            "counts": {"price_sensitive": int(u.price_sensitive.sum()), "quality_sensitive": int(u.quality_sensitive.sum()),
                       "service_sensitive": int(u.service_sensitive.sum())},
            "effects": {"price_sensitive": "coupons on 55% of orders (12% otherwise), more coupon_claim events, 价格贵 feedback",
                        "quality_sensitive": "premium products on 50% of lines (12% otherwise), premium focus in 50% of unpaid "
                                             "shopping sessions, more returns, 质量问题 feedback",
                        "service_sensitive": "contact_service after 50% of orders (4% otherwise) and in 18% of "
                                             "visits (3% otherwise), 客服态度 feedback"},
            "file": "truth/users.parquet",
        },
        "churn": {
            "definition": "BG/NBD dropout: after a repeat purchase the customer became inactive for good; "
                          "churned_at is that last purchase",
            "churned_users": int(dropped.sum()),
            "share_of_users": round(float(dropped.mean()), 6),
            "share_of_customers": round(float(dropped.sum() / max(len(customers), 1)), 6),
            "file": "truth/users.parquet",
        },
        "funnel": _funnel(d),
        "ab_test": _ab(d),
        "diagnosis": _driver(d),
        "seasonality": {"peaks": ["06-18", "11-11"], "promotions": {"618": "06-01..06-18", "双11": "11-01..11-11"},
                        "weekend_multiplier": 1.2, "golden_week_dip": "10-01..10-07"},
        "cross_sell": {
            "favourite_category_share": FAVOURITE_SHARE, "complement_share": COMPLEMENT_SHARE,
            "rule": "each person favours one category (a fixed hash of the person); the second line of an order "
                    "is the first line's complement (the next product of its category) half the time",
        },
        "competitor_price_cut": {"competitor": d.competitors.cut_competitor, "category": d.competitors.cut_category,
                                 "date": d.cal.date(d.competitors.cut_day).isoformat(), "cut": d.competitors.cut_pct},
        "feedback": {
            "categories": list(CATEGORIES),
            "counts": {c: int((d.feedback.category == i).sum()) for i, c in enumerate(CATEGORIES)},
            "file": "truth/feedback.parquet",
        },
        "test_accounts": sorted(str(u.user_id[i]) for i in np.flatnonzero(u.is_test)),
        "faults": {
            "event_files": ev_files,
            "negative_amount_orders": tf.negative_amount_orders,
            "mismatched_payments": tf.mismatched_payments,
            "orphan_payments": tf.orphan_payments,
            "duplicate_phone_users": [list(p) for p in tf.duplicate_phone_users],
        },
        "expected_ingest": expected,
    }


def write_truth(d: DemoData, truth: dict[str, Any], demo_dir: Path) -> Path:
    tdir = demo_dir / "truth"
    tdir.mkdir(parents=True, exist_ok=True)
    u, ch = d.users, d.churn
    o = d.detail.orders
    pq.write_table(pa.table({
        "user_id": pa.array(list(u.user_id), pa.string()),
        "channel": pa.array([CHANNEL_IDS[c] for c in u.channel], pa.string()),
        "legacy": u.legacy, "is_test": u.is_test,
        "price_sensitive": u.price_sensitive, "quality_sensitive": u.quality_sensitive,
        "service_sensitive": u.service_sensitive,
        "purchase_rate": u.lam, "dropout_p": u.p_drop, "spend_nu": u.nu,
        "customer": np.isin(np.arange(u.n), o.user),
        "repeat_purchases": ch.repeat_count,
        "churned": ch.dropped,
        "churned_at": pa.array(ch.drop_ms, pa.int64(), mask=~ch.dropped).cast(pa.timestamp("ms", tz="UTC")),
    }), tdir / "users.parquet", compression="zstd")
    # Which orders are BG/NBD births, repeats, or induced by the A/B treatment (not part of the process).
    det = d.detail
    day = d.cal.day_of_ts(det.orders.ts_ms)  # local calendar day, as in the written order ids
    ymd = {int(x): d.cal.date(int(x)).strftime("%Y%m%d") for x in np.unique(day)}
    pq.write_table(pa.table({
        "order_id": [f"SO{ymd[int(x)]}{i:08d}" for i, x in enumerate(day)],
        "user_id": pa.array(list(u.user_id[det.orders.user]), pa.string()),
        "kind": pa.array(np.array(["first", "repeat", "induced"], dtype=object)[det.orders.kind], pa.string()),
    }), tdir / "orders.parquet", compression="zstd")
    fb = d.feedback
    order = np.argsort(fb.ts_ms, kind="stable")
    pq.write_table(pa.table({
        "feedback_id": [f"FB{k + 1:08d}" for k in range(len(order))],
        "category": pa.array([CATEGORIES[c] for c in fb.category[order]], pa.string()),
    }), tdir / "feedback.parquet", compression="zstd")
    path = demo_dir / "ground_truth.json"
    path.write_text(json.dumps(truth, ensure_ascii=False, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return path


def add_truth(truth_path: Path, key: str, value: dict[str, Any], added: dict[str, int] | None = None) -> None:
    """Add one planted truth that is made after the warehouse is built (e.g. ``journey_effect``); ``added``
    counts the rows it added per table (``counts.orders``, ``counts.events`` grow by them)."""
    truth = json.loads(truth_path.read_text(encoding="utf-8"))
    truth[key] = value
    for table, n in (added or {}).items():
        truth["counts"][table] = truth["counts"].get(table, 0) + n
    truth_path.write_text(json.dumps(truth, ensure_ascii=False, indent=2, sort_keys=False) + "\n", encoding="utf-8")
