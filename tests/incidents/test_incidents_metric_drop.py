"""A red alert on a revenue metric opens the metric_drop playbook (业绩下滑): level 1 (24 h) from the red colour,
the metric owner's manager as first responder, exactly once per alert however often the rule fires again."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from jingyun import incidents
from jingyun.approvals import org
from jingyun.config import Settings, load_settings
from jingyun.ops.alerts.service import run
from jingyun.store.alerts import MetricAlert
from jingyun.store.db import Store, open_store
from jingyun.warehouse import Warehouse
from jingyun.warehouse.backends import Backend, open_backend

DAY0 = dt.date(2026, 9, 1)
# daily GMV: 1,000 for ten days, then 700 (−30 %: red), 690 (−1.4 %: quiet), then 400 (−42 %: red again)
GMV = [1000.0] * 10 + [700.0, 690.0, 400.0]
RED_DAY, QUIET_DAY, RED_AGAIN = (DAY0 + dt.timedelta(days=i) for i in (10, 11, 12))
NOW = dt.datetime(2026, 9, 11, 1, 0)  # naive UTC: 09:00 Shanghai on the red day
GMV_RULE: dict[str, object] = {"id": "gmv-dod", "kind": "change", "metric": "gmv", "yellow": "10%", "red": "20%",
            "department": "Trade", "owner": "alice"}


@pytest.fixture
def isettings(home: Path) -> Settings:
    return load_settings(home)


@pytest.fixture
def backend(isettings: Settings) -> Iterator[Backend]:
    wh = Warehouse.open(isettings)
    wh.con.execute("INSERT INTO users (user_id, registered_at, person_id, is_test) VALUES ('u1', '2026-01-01', 'u1', FALSE)")
    wh.con.executemany("INSERT INTO orders (order_id, user_id, ts, amount, status, person_id, is_test) "
                       "VALUES (?, 'u1', ?, CAST(? AS DECIMAL(18,2)), 'paid', 'u1', FALSE)",
                       [(f"o{i}", dt.datetime.combine(DAY0 + dt.timedelta(days=i), dt.time(4)), f"{v:.2f}")
                        for i, v in enumerate(GMV)])
    yield open_backend(isettings, warehouse=wh)
    wh.close()


@pytest.fixture
def store(isettings: Settings) -> Iterator[Store]:
    st = open_store(isettings)
    yield st
    st.close()


def _rules(settings: Settings, *rules: dict[str, object]) -> None:
    (settings.home / "alert_rules.yaml").write_text(yaml.safe_dump({"rules": list(rules)}, allow_unicode=True),
                                                    encoding="utf-8")


def _run(settings: Settings, backend: Backend, store: Store, day: dt.date, hours: int = 0) -> list[int | None]:
    out = run(settings, backend, store, day, now=NOW + dt.timedelta(days=(day - RED_DAY).days, hours=hours),
              only={"gmv-dod"}).outcomes
    return [o.incident_id for o in out]


def test_red_gmv_alert_opens_one_metric_drop_incident(isettings: Settings, backend: Backend, store: Store) -> None:
    org.import_csv(store, isettings, "name,department,role,superior\nmia,Trade,manager,dan\ndan,Trade,director,\n"
                                     "alice,Trade,specialist,mia\nfay,Finance,manager,\n")
    _rules(isettings, GMV_RULE)  # names no playbook: a revenue metric goes to metric_drop
    [first] = _run(isettings, backend, store, RED_DAY)
    assert first is not None
    rows, total = incidents.list_incidents(store)
    assert total == 1
    [inc] = rows
    assert (inc.playbook, inc.level, inc.source, inc.status) == ("metric_drop", 1, "alert", "open")
    assert inc.opened_at == NOW and inc.deadline_at == NOW + dt.timedelta(hours=24)
    assert inc.first_responder == "mia"  # the Trade manager: the metric owner's manager
    assert len(inc.steps) == len(incidents.playbook("metric_drop").steps) == 5
    with store.session() as ses:
        alert = ses.scalar(select(MetricAlert).where(MetricAlert.rule_id == "gmv-dod"))
        assert alert is not None and alert.level == "red" and alert.incident_id == inc.id == inc.alert_id
    # the same day again, a later quiet day and a later red day: the one open alert repeats, no new incident
    assert _run(isettings, backend, store, RED_DAY, hours=2) == [None]
    assert _run(isettings, backend, store, QUIET_DAY) == []
    assert _run(isettings, backend, store, RED_AGAIN) == [None]
    assert incidents.list_incidents(store)[1] == 1


def test_owner_manager_falls_back_to_the_owners_superior(isettings: Settings, backend: Backend,
                                                         store: Store) -> None:
    # nobody holds Trade's manager position: alice's superior is her manager
    org.import_csv(store, isettings, "name,department,role,superior\nbo,,specialist,\nalice,Trade,specialist,bo\n")
    _rules(isettings, GMV_RULE)
    _run(isettings, backend, store, RED_DAY)
    [inc] = incidents.list_incidents(store)[0]
    assert (inc.playbook, inc.first_responder) == ("metric_drop", "bo")


def test_the_rules_own_playbook_and_level_win_and_other_metrics_open_none(isettings: Settings, backend: Backend,
                                                                         store: Store) -> None:
    _rules(isettings, {**GMV_RULE, "playbook": "system_outage", "incident_level": 2})
    _run(isettings, backend, store, RED_DAY)
    [inc] = incidents.list_incidents(store)[0]
    assert (inc.playbook, inc.level, inc.deadline_at) == ("system_outage", 2, NOW + dt.timedelta(hours=48))
    # a red alert on a metric that is not revenue (orders fell 0 %, so use a threshold on orders) opens nothing
    _rules(isettings, {"id": "gmv-dod", "kind": "threshold", "metric": "orders", "op": "<", "value": 5,
                       "level": "red", "department": "Trade"})
    with store.session() as ses:  # a new rule: the earlier alert is resolved so this one opens afresh
        for a in ses.scalars(select(MetricAlert)):
            a.status, a.open_key = "resolved", None
    assert _run(isettings, backend, store, RED_DAY) == [None]
    assert incidents.list_incidents(store)[1] == 1


def test_metric_drop_levels_follow_the_alert_colour() -> None:
    pb = incidents.playbook("metric_drop")
    assert (pb.level_for("red"), pb.level_for("yellow"), pb.level_for("blue"), pb.level_for("green")) == (1, 2, 3, None)
    assert incidents.playbook("stock_out").level_for("red") is None
