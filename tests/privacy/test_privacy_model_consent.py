"""Churn scoring and CLV fitting/scoring honour model consent (analytics, personalisation — where the
workspace requires them): a person who withdrew gets no score and is not in the fit; counts reconcile
exactly against the same warehouse read without the gate."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from jingyun.config import Settings, load_settings
from jingyun.messaging import consent
from jingyun.models.churn import ChurnParams, _load_training, score_churn
from jingyun.models.churn_features import load_features
from jingyun.models.clv import ClvParams, fit_clv, load_rfm, score_clv
from jingyun.privacy.consent_gate import model_people
from jingyun.store.db import open_store
from jingyun.warehouse import Warehouse

START = dt.date(2026, 1, 1)
PEOPLE = [f"p{i:03d}" for i in range(120)]
# withdrew analytics (p003 …), withdrew personalisation only (p005 …), never asked (p118, p119)
WITHDREW_ANALYTICS = set(PEOPLE[3:100:10])
WITHDREW_PERSONALISATION = set(PEOPLE[5:100:20])
NEVER_ASKED = {"p118", "p119"}
OUT = WITHDREW_ANALYTICS | WITHDREW_PERSONALISATION | NEVER_ASKED
STRICT = ("marketing", "analytics", "personalisation")


def _plant(wh: Warehouse) -> None:
    """Person i (user id u<i>, person p<i>) buys as a seeded BG/NBD customer would: a first order in the
    first weeks, then Poisson repeats at their own rate until a dropout; an app_open event on each order day."""
    rng = np.random.default_rng(20261206)
    wh.con.executemany("INSERT INTO users (user_id, registered_at, person_id, is_test) VALUES (?, ?, ?, FALSE)",
                       [(f"u{p[1:]}", dt.datetime(2025, 12, 1), p) for p in PEOPLE])
    orders, events = [], []
    for i, p in enumerate(PEOPLE):
        day, rate, p_drop = int(rng.integers(0, 40)), rng.gamma(1.5, 1 / 30), rng.beta(1.0, 4.0)
        k = 0
        while day < 270:
            ts = dt.datetime.combine(START + dt.timedelta(days=day), dt.time(4))
            orders.append((f"o{i}_{k}", f"u{p[1:]}", p, ts, round(float(rng.gamma(6.0, 8.0)), 2)))
            events.append((f"e{i}_{k}", f"u{p[1:]}", p, ts - dt.timedelta(minutes=5)))
            if k and rng.random() < p_drop:
                break
            day, k = day + 1 + int(rng.exponential(1 / rate)), k + 1
    wh.con.executemany("INSERT INTO orders (order_id, user_id, person_id, ts, amount, status, is_test) "
                       "VALUES (?, ?, ?, ?, ?, 'completed', FALSE)", orders)
    wh.con.executemany("INSERT INTO events (event_id, user_id, person_id, event, ts, platform, is_test) "
                       "VALUES (?, ?, ?, 'app_open', ?, 'app', FALSE)", events)


def _record_consent(settings: Settings) -> None:
    store = open_store(settings)
    try:
        for p in PEOPLE:
            if p in NEVER_ASKED:
                continue
            user = f"u{p[1:]}"
            for purpose in ("analytics", "personalisation"):
                consent.record(store, user, purpose=purpose, granted=True)
            if p in WITHDREW_ANALYTICS:
                consent.record(store, user, purpose="analytics", granted=False)
            if p in WITHDREW_PERSONALISATION:
                consent.record(store, user, purpose="personalisation", granted=False)
    finally:
        store.close()


@pytest.fixture
def strict(home: Path) -> Settings:
    settings = load_settings(home, consent_required=STRICT)
    _record_consent(settings)
    return settings


def _scored(wh: Warehouse, model: str, name: str) -> set[str]:
    return {str(p) for (p,) in wh.rows("SELECT person_id FROM model_scores WHERE model = ? AND score_name = ?",
                                       [model, name])}


def test_model_people_need_every_required_model_purpose(strict: Settings, home: Path) -> None:
    with Warehouse.open(strict, memory=True) as wh:
        _plant(wh)
        allowed = model_people(wh)
        assert allowed is not None and {p for p in PEOPLE if p in allowed} == set(PEOPLE) - OUT
    with Warehouse.open(load_settings(home), memory=True) as wh:  # default: marketing only, no model gate
        _plant(wh)
        assert model_people(wh) is None
    only_personalisation = load_settings(home, consent_required=("personalisation",))
    with Warehouse.open(only_personalisation, memory=True) as wh:
        _plant(wh)
        allowed = model_people(wh)
        assert allowed is not None
        assert {p for p in PEOPLE if p in allowed} == set(PEOPLE) - WITHDREW_PERSONALISATION - NEVER_ASKED


def test_clv_fit_and_scores_leave_out_who_withdrew(strict: Settings, home: Path) -> None:
    params = ClvParams(calibration_end=dt.date(2026, 9, 1))
    with Warehouse.open(load_settings(home), memory=True) as wh:  # the same data, no gate: the reference
        _plant(wh)
        everyone = load_rfm(wh, params)
    with Warehouse.open(strict, memory=True) as wh:
        _plant(wh)
        rfm = load_rfm(wh, params)
        assert set(rfm.person_id) == set(everyone.person_id) - OUT
        keep = ~np.isin(everyone.person_id, list(OUT))
        assert len(rfm) == int(keep.sum()) == len(PEOPLE) - len(OUT)
        # the kept rows are exactly the reference's rows, value for value
        np.testing.assert_array_equal(rfm.frequency, everyone.frequency[keep])
        np.testing.assert_array_equal(rfm.monetary, everyone.monetary[keep])
        fit = fit_clv(wh, params)
        assert fit.customers == len(rfm) and fit.repeat_customers == int((everyone.frequency[keep] > 0).sum())
        result = score_clv(wh, params)
        assert result.scored == len(PEOPLE) - len(OUT)
        assert _scored(wh, "clv", "clv") == set(PEOPLE) - OUT
        assert not _scored(wh, "clv", "p_alive") & OUT
        n_rows = wh.con.execute("SELECT count(*) FROM model_scores WHERE model = 'clv'").fetchone()
        assert n_rows == (4 * result.scored + result.high_value,)


def test_churn_scores_and_training_leave_out_who_withdrew(strict: Settings, home: Path) -> None:
    params = ChurnParams(as_of=dt.date(2026, 9, 1), horizon_days=30, active_within_days=60, train_cutoffs=2,
                         cutoff_step_days=30, max_iter=5, min_samples_leaf=5)
    with Warehouse.open(load_settings(home), memory=True) as wh:
        _plant(wh)
        population = set(load_features(wh, params.features(dt.date(2026, 9, 1))).person_id)
        assert population & OUT and population - OUT  # the gate has something to do
    with Warehouse.open(strict, memory=True) as wh:
        _plant(wh)
        # a stale score of someone who withdrew since is replaced, not kept
        wh.con.execute("INSERT INTO model_scores VALUES ('p003', 'churn_risk', 'churn_risk', 0.9, now())")
        frames, _ = _load_training(wh, params, dt.date(2026, 9, 1))
        full = [set(load_features(wh, params.features(f.cutoff)).person_id) for f in frames]
        assert [set(f.person_id) for f in frames] == [s - OUT for s in full]
        result = score_churn(wh, params)
        assert result.scored == len(population - OUT)
        assert _scored(wh, "churn_risk", "churn_risk") == population - OUT
        assert not {str(p) for (p,) in wh.rows("SELECT person_id FROM model_scores")} & OUT
