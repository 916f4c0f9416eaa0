"""Retention and cohorts on hand-built events (UTC times; the workspace is Asia/Shanghai, UTC+8)."""

from __future__ import annotations

import pytest
from analysis_rows import insert_orders, insert_users

from jingyun.analysis.retention import RetentionParams, run_retention
from jingyun.errors import JingyunError


def matrix(backend, **kw):
    kw.setdefault("days", 3)
    r = run_retention(backend, RetentionParams.create("signup", "open", **kw))
    return {(c.cohort, c.value) if c.value is not None else c.cohort: (c.size, c.retained) for c in r.cohorts}


def test_calendar_days_in_local_time(backend, events):
    events([
        # a: signs up 23:59:59 local on the 10th; opens 00:00:00 local on the 11th -> day 1.
        ("a", "signup", "2024-01-10 15:59:59"), ("a", "open", "2024-01-10 16:00:00"),
        # b: signs up 00:00 local on the 11th; opens the same local day and two days later.
        ("b", "signup", "2024-01-10 16:00:00"), ("b", "open", "2024-01-11 15:00:00"), ("b", "open", "2024-01-12 16:30:00"),
        # c: opens before signing up (ignored: before the cohort day) and never after.
        ("c", "open", "2024-01-09 00:00:00"), ("c", "signup", "2024-01-10 01:00:00"),
    ])
    assert matrix(backend) == {"2024-01-10": (2, [0, 1, 0, 0]), "2024-01-11": (1, [1, 0, 1, 0])}


def test_first_cohort_event_in_range_decides(backend, events):
    # d signs up on two days: the first in range is its cohort; with a later range, the second is.
    events([("d", "signup", "2024-01-10 02:00:00"), ("d", "signup", "2024-01-12 02:00:00"), ("d", "open", "2024-01-12 03:00:00")])
    assert matrix(backend) == {"2024-01-10": (1, [0, 0, 1, 0])}
    assert matrix(backend, date_from="2024-01-11", date_to="2024-01-31") == {"2024-01-12": (1, [1, 0, 0, 0])}


def test_zero_traffic_days_and_unbounded(backend, events):
    events([
        ("e", "signup", "2024-01-10 02:00:00"), ("e", "open", "2024-01-15 02:00:00"),  # day 5 only
        ("f", "signup", "2024-01-10 02:00:00"), ("f", "open", "2024-01-11 02:00:00"),  # day 1 only
        ("g", "signup", "2024-01-10 02:00:00"),
    ])
    assert matrix(backend) == {"2024-01-10": (3, [0, 1, 0, 0])}
    # On or after day k: e (day 5) counts for every k <= 3, f only up to day 1.
    assert matrix(backend, unbounded=True) == {"2024-01-10": (3, [2, 2, 1, 1])}


def test_test_users_and_weekly_cohorts(backend, events):
    events([
        ("h", "signup", "2024-01-08 02:00:00"), ("h", "open", "2024-01-16 02:00:00"),  # Mon week 0 -> week 1
        ("i", "signup", "2024-01-13 02:00:00"), ("i", "open", "2024-01-14 02:00:00"),  # Sat -> Sun same week
        ("qa", "signup", "2024-01-08 02:00:00", "app", None, True),
    ])
    assert matrix(backend, period="week", days=2) == {"2024-01-08": (2, [1, 1, 0])}


def test_breakdown_and_revenue(wh, backend, events):
    events([("j", "signup", "2024-01-10 02:00:00", "web"), ("k", "signup", "2024-01-10 03:00:00", "app"),
            ("k", "open", "2024-01-11 03:00:00", "app")])
    assert matrix(backend, by="platform") == {("2024-01-10", "app"): (1, [0, 1, 0, 0]), ("2024-01-10", "web"): (1, [0, 0, 0, 0])}
    insert_orders(wh, [("j", "2024-01-10 05:00:00", 100.0, "paid"), ("k", "2024-01-12 05:00:00", 50.5, "completed"),
                       ("k", "2024-01-12 06:00:00", 999.0, "cancelled"), ("j", "2024-01-20 05:00:00", 10.0, "paid")])
    r = run_retention(backend, RetentionParams.create("signup", "open", 3, revenue=True))
    assert r.cohorts[0].revenue_per_member == [50.0, 50.0, 75.25, 75.25]
    # Purchases as the return: j bought on day 0 (and day 10), k on day 2.
    r = run_retention(backend, RetentionParams.create("signup", None, 3, returning="purchase"))
    assert [(c.size, c.retained) for c in r.cohorts] == [(2, [1, 0, 1, 0])]


def test_registration_and_first_purchase_cohorts(wh, backend, events):
    insert_users(wh, [("m", "2024-01-09 20:00:00", "ads"), ("n", "2024-01-10 01:00:00", "seo"), ("o", None, "seo")])
    events([("m", "open", "2024-01-11 01:00:00"), ("n", "open", "2024-01-11 01:00:00")])
    r = run_retention(backend, RetentionParams.create(None, "open", 2, cohort="registration", by="users.channel"))
    # m registered 04:00 on the 10th local time, like n: both open one local day later.
    assert [(c.cohort, c.value, c.size, c.retained) for c in r.cohorts] == [
        ("2024-01-10", "ads", 1, [0, 1, 0]), ("2024-01-10", "seo", 1, [0, 1, 0])]
    insert_orders(wh, [("m", "2024-01-12 02:00:00", 10.0, "paid"), ("m", "2024-01-13 02:00:00", 10.0, "paid"),
                       ("n", "2024-01-12 02:00:00", 10.0, "refunded")])
    r = run_retention(backend, RetentionParams.create(None, None, 2, cohort="purchase", returning="purchase"))
    assert [(c.cohort, c.size, c.retained) for c in r.cohorts] == [("2024-01-12", 1, [1, 1, 0])]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"cohort_event": None, "return_event": "open"}, "cohort_event"),
        ({"cohort_event": "signup", "return_event": None}, "return_event"),
        ({"cohort_event": "signup", "return_event": "open", "days": -1}, "days"),
        ({"cohort_event": "signup", "return_event": "open", "date_from": "2024-02-01", "date_to": "2024-01-01"}, "from"),
        ({"cohort_event": "signup", "return_event": "open", "period": "year"}, "period"),
        ({"cohort_event": None, "return_event": "open", "cohort": "registration", "by": "platform"}, "by"),
    ],
)
def test_invalid_parameters_name_the_field(kwargs, field):
    with pytest.raises(JingyunError) as err:
        RetentionParams.create(**kwargs)
    assert err.value.field == field
