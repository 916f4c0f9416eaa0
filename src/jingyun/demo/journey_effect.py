"""The planted journey effect: abandoned browse (浏览未购) really works, and its holdout report can say so.

After the warehouse is built, the demo replays its own abandoned-browse journey over the whole demo
period (the simulation the report uses), takes each person's first entry, and — for people *not* in the
journey's holdout (the same hashing, :func:`jingyun.automation.guards.in_holdout`), not churned and not in
the demo's A/B test, with the order outside the diagnosis months (so those planted numbers stay exact) —
adds an order of ¥88.00 with probability :data:`PROBABILITY`, placed uniformly in 1–60 h after entering
(inside the goal's 72 h), with its payment and pay event. They are demo source files
(``orders/journey_effect_orders.csv``, ``orders/journey_effect_payments.csv``,
``events/journey_effect_pay.ndjson``), ingested like the others and
counted in the truth's ``counts``; draws are seeded, so the same demo gives the same orders.

A planted order comes at least an hour after the first entry, so it cannot cancel that entry's own
30-minute absence window: the first entries are the same before and after planting. The truth
(``journey_effect`` in ground_truth.json) holds the realised effect on the treated people: the share of
them who converted *only* because of a planted order (the conversion lift) and the planted revenue per
treated person (the revenue lift).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from jingyun.automation.journey import load_file
from jingyun.automation.report import first_entries, goal_of, outcomes
from jingyun.automation.simulate import frame_bounds, simulate
from jingyun.config import Settings
from jingyun.demo.truth import add_truth
from jingyun.metrics.definitions import for_settings

JOURNEY_FILE = Path(__file__).parent / "journeys" / "abandoned_browse.yaml"
PROBABILITY = 0.80
AMOUNT = 88.00
SEED = 18
FILE = "journey_effect_orders.csv"
EVENTS_FILE = "journey_effect_pay.ndjson"
PAYMENTS_FILE = "journey_effect_payments.csv"


def plant_journey_effect(settings: Settings, truth_path: Path) -> dict[str, Any]:
    """Plant the effect in the built warehouse (an extra orders source, ingested) and record its truth."""
    from jingyun.ingest import ingest_file
    from jingyun.warehouse import Warehouse
    from jingyun.warehouse.backends import open_backend

    demo_dir = truth_path.parent
    truth = json.loads(truth_path.read_text(encoding="utf-8"))
    start = dt.date.fromisoformat(truth["params"]["start_date"])
    end = dt.date.fromisoformat(truth["params"]["end_date"])
    journey = load_file(JOURNEY_FILE)
    goal, goal_s, _ = goal_of(journey)
    churned = _churned(demo_dir)
    defs = for_settings(settings)
    with Warehouse.open(settings) as wh:
        backend = open_backend(settings, warehouse=wh)
        [sim] = simulate(backend, [journey], start, end, timezone=settings.timezone, defs=defs, with_users=True)
        entries = pd.DataFrame({"u": pd.Series([p.user_id for p in sim.users], dtype=str),
                                "entered": pd.Series([p.entered_at.astimezone(dt.UTC).replace(tzinfo=None)
                                                      for p in sim.users], dtype="datetime64[us]")})
        from jingyun.automation.guards import holdout_mask

        entries["holdout"] = holdout_mask(journey.key, entries["u"], journey.holdout)
        first = outcomes(backend, first_entries(entries), goal, goal_s, goal_s, defs)
        latest = backend.run("SELECT max(ts) AS t FROM events").to_pylist()[0]["t"]
        rng = np.random.default_rng(SEED)
        draw = rng.random(len(first))
        hours = rng.uniform(1.0, 60.0, len(first))
        treated = ~first["holdout"].to_numpy(dtype=bool)
        at = first["entered"] + pd.to_timedelta(hours, unit="h")
        exposed = {str(r["u"]) for r in backend.run(
            "SELECT DISTINCT person_id AS u FROM events WHERE event = 'exp_exposure' AND person_id IS NOT NULL"
        ).to_pylist()}
        eligible = ~first["u"].isin(churned | exposed).to_numpy()
        # the diagnosis truth (GMV of two months, by channel and cohort) stays exact: no planted order in them
        lo, hi = frame_bounds(dt.date.fromisoformat(truth["diagnosis"]["previous"]["from"]),
                              dt.date.fromisoformat(truth["diagnosis"]["period"]["to"]), settings.timezone)
        outside = ((at < lo) | (at >= hi)).to_numpy()
        plant = treated & (draw < PROBABILITY) & eligible & outside & (at < latest).to_numpy()
        rows = first[plant].assign(ts=at[plant])
        ids = [f"JE{k:08d}" for k in range(len(rows))]
        stamps = [t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in rows["ts"]]
        path = demo_dir / "sources" / "orders" / FILE
        pd.DataFrame({
            "order_id": ids, "user_id": rows["u"].to_numpy(), "ts": stamps,
            "amount": [f"{AMOUNT:.2f}"] * len(rows), "discount": ["0.00"] * len(rows), "coupon_id": [""] * len(rows),
            "channel": ["app"] * len(rows), "store_id": [""] * len(rows), "status": ["completed"] * len(rows),
            "payment_method": ["wechat"] * len(rows),
        }).to_csv(path, index=False)
        report = ingest_file(wh, "orders", path, source=f"demo/orders/{FILE}")
        paid = demo_dir / "sources" / "orders" / PAYMENTS_FILE  # and its payment, so the orders reconcile
        pd.DataFrame({"payment_id": [f"PAYJE{k:08d}" for k in range(len(rows))], "order_id": ids, "ts": stamps,
                      "paid_amount": [f"{AMOUNT:.2f}"] * len(rows), "method": ["wechat"] * len(rows)}
                     ).to_csv(paid, index=False)
        ingest_file(wh, "payments", paid, source=f"demo/orders/{PAYMENTS_FILE}")
        pays = demo_dir / "sources" / "events" / EVENTS_FILE  # every paid order has its pay event
        with pays.open("w", encoding="utf-8") as fh:
            for k, (oid, user, stamp) in enumerate(zip(ids, rows["u"], stamps, strict=True)):
                fh.write(json.dumps({"event_id": f"je-pay-{k:08d}", "user_id": user, "event": "pay", "ts": stamp,
                                     "platform": "app", "session_id": f"sje{k:08d}",
                                     "properties": {"order_id": oid, "amount": AMOUNT, "method": "wechat"}}) + "\n")
        pay_report = ingest_file(wh, "events", pays, source=f"demo/events/{EVENTS_FILE}")
    n_treated = int(treated.sum())
    only_planted = int((plant & ~first["converted"].to_numpy(dtype=bool)).sum())
    effect = {
        "journey": journey.key, "from": start.isoformat(), "to": end.isoformat(),
        "rule": f"treated (not holdout, not churned, not in the A/B test; orders outside the diagnosis months) people's first entry: with probability {PROBABILITY} an order "
                f"of {AMOUNT:.2f} in 1-60 h after entering (goal: an order within 72 h)",
        "probability": PROBABILITY, "amount": AMOUNT, "planted_orders": int(plant.sum()),
        "stored": report.stored, "pay_events": pay_report.stored, "treated_people": n_treated, "holdout_people": int((~treated).sum()),
        "conversion_lift": only_planted / n_treated if n_treated else 0.0,
        "revenue_lift_per_person": float(plant.sum()) * AMOUNT / n_treated if n_treated else 0.0,
        "files": [f"sources/orders/{FILE}", f"sources/orders/{PAYMENTS_FILE}", f"sources/events/{EVENTS_FILE}"],
    }
    add_truth(truth_path, "journey_effect", effect, {"orders": report.stored, "events": pay_report.stored})
    return effect


def _churned(demo_dir: Path) -> set[str]:
    path = demo_dir / "truth" / "users.parquet"
    if not path.exists():
        return set()
    t = pq.read_table(path, columns=["user_id", "churned"]).to_pandas()
    return set(t.loc[t["churned"].astype(bool), "user_id"].astype(str))
