"""Model training honours consent: where the workspace requires personalisation consent, only people who
gave it (on any of their user ids) enter the training set of churn and recommendations."""

from __future__ import annotations

import datetime as dt

import numpy as np

from jingyun.config import Settings, load_settings
from jingyun.messaging import consent
from jingyun.models.churn import ChurnParams, _load_training, fit_latest
from jingyun.models.churn_features import load_features
from jingyun.models.recommend import RecommendParams, fit
from jingyun.privacy.consent_gate import consented_people
from jingyun.store.db import open_store
from jingyun.warehouse import Warehouse

REQUIRE = ("marketing", "personalisation")


def _plant_orders(wh: Warehouse) -> None:
    """Six people buy; p1 has two user ids (u1a, u1b) merged into one person."""
    users = [("u1a", "p1"), ("u1b", "p1"), ("u2", "p2"), ("u3", "p3"), ("u4", "p4"), ("u5", "p5"), ("u6", "p6")]
    wh.con.executemany("INSERT INTO users (user_id, registered_at, person_id, is_test) VALUES (?, ?, ?, FALSE)",
                       [(u, dt.datetime(2026, 1, 1), p) for u, p in users])
    orders, items = [], []
    for n, (user, person) in enumerate(users):
        for k in range(3):
            oid = f"o{n}_{k}"
            orders.append((oid, user, person, dt.datetime(2026, 2, 1 + n + k, 3)))
            items.append((oid, f"I{(n + k) % 5}"))
    wh.con.executemany("INSERT INTO orders (order_id, user_id, person_id, ts, amount, status, is_test) "
                       "VALUES (?, ?, ?, ?, 10, 'completed', FALSE)", orders)
    wh.con.executemany("INSERT INTO order_items (order_id, line_no, product_id, quantity, amount) "
                       "VALUES (?, 1, ?, 1, 10)", items)


def test_recommender_trains_only_on_consented_people(home) -> None:  # type: ignore[no-untyped-def]
    strict = load_settings(home, consent_required=REQUIRE)
    store = open_store(strict)
    consent.record(store, "u1b", purpose="personalisation", granted=True)  # p1, by their second id
    consent.record(store, "u3", purpose="personalisation", granted=True)
    consent.record(store, "u4", purpose="personalisation", granted=False)  # withdrawn: stays out
    consent.record(store, "u5", purpose="marketing", granted=True)  # another purpose: stays out
    store.close()
    end = dt.date(2026, 3, 1)
    with Warehouse.open(strict, memory=True) as wh:
        _plant_orders(wh)
        assert consented_people(wh) == {"u1b", "u3", "p1", "p3"}  # the ids and their persons
        model = fit(wh, RecommendParams(), end)
        assert set(model.persons) == {"p1", "p3"}
        assert model.recommend("p2", 3) == model.popular(3)  # no consent: no personal list
    # analytics required as well (as churn and CLV need it): p1 holds both, p3 personalisation only — p3 stays out
    both = load_settings(home, consent_required=(*REQUIRE, "analytics"))
    store = open_store(both)
    consent.record(store, "u1a", purpose="analytics", granted=True)
    store.close()
    with Warehouse.open(both, memory=True) as wh:
        _plant_orders(wh)
        assert set(fit(wh, RecommendParams(), end).persons) == {"p1"}
    default = load_settings(home)  # the default requires marketing only: everyone trains
    with Warehouse.open(default, memory=True) as wh:
        _plant_orders(wh)
        assert consented_people(wh) is None
        assert set(fit(wh, RecommendParams(), end).persons) == {f"p{i}" for i in range(1, 7)}


def test_churn_training_set_holds_only_consented_people(demo_copy: Settings) -> None:
    strict = load_settings(demo_copy.home, consent_required=REQUIRE)
    params = ChurnParams(max_iter=10, train_cutoffs=2)
    with Warehouse.open(strict) as wh:
        user_ids = sorted(str(u) for (u,) in wh.rows("SELECT user_id FROM users WHERE NOT is_test"))
        chosen = user_ids[::3]
        store = open_store(strict)
        for u in chosen:
            consent.record(store, u, purpose="personalisation", granted=True)
        store.close()
        persons = {str(p) for u, p in wh.rows("SELECT user_id, person_id FROM users") if u in set(chosen)}
        as_of = fit_latest(wh, params)[1]
        frames, labels = _load_training(wh, params, as_of)
        everyone = [load_features(wh, params.features(f.cutoff)) for f in frames]
        # independent count: each cut-off's full population, intersected with the consented people
        expected = [int(np.isin(e.person_id, list(persons)).sum()) for e in everyone]
        assert [len(f) for f in frames] == expected and 0 < sum(expected) < sum(len(e) for e in everyone)
        assert all(set(f.person_id) <= persons for f in frames)
        assert [len(y) for y in labels] == expected
        model, _ = fit_latest(wh, params)
        assert model.training_rows == sum(expected)
