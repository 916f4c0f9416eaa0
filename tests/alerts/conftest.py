"""A hand-built warehouse with known daily GMV, a real metadata store, and people to route to."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import select

from jingyun.api import create_app
from jingyun.api.app import app_state
from jingyun.config import Settings, load_settings
from jingyun.security import auth
from jingyun.store.approvals import OrgPosition
from jingyun.store.db import Store, open_store
from jingyun.store.models import Department, Person
from jingyun.warehouse import Warehouse
from jingyun.warehouse.backends import Backend, open_backend
from jingyun.web import mount

DAY0 = dt.date(2026, 8, 1)  # 60 quiet days (a weekly pattern), then the anomaly day, then the designed series
BASE = [1000.0 + 20 * (i % 7) + 3 * ((i * 37) % 11 - 5) for i in range(60)]  # weekly, with noise
ANOMALY_DAY = DAY0 + dt.timedelta(days=60)  # GMV 300 against about 1,060 expected
SERIES_START = DAY0 + dt.timedelta(days=70)  # 2026-10-10
# day:        0     1     2     3     4     5     6     7    8    9     10
SERIES = [1000.0, 901.0, 1000.0, 900.0, 1000.0, 800.0, 1000.0, 801.0, 990.0, 990.0, 1000.0]


def series_day(i: int) -> dt.date:
    return SERIES_START + dt.timedelta(days=i)


def daily_gmv() -> dict[dt.date, float]:
    out = {DAY0 + dt.timedelta(days=i): v for i, v in enumerate(BASE)}
    out[ANOMALY_DAY] = 300.0
    for i in range(61, 70):
        out[DAY0 + dt.timedelta(days=i)] = BASE[i % 60]
    out.update({series_day(i): v for i, v in enumerate(SERIES)})
    return out


def load(wh: Warehouse) -> None:
    """One paid order a day at noon Shanghai time (04:00 UTC) for that day's GMV, from alternating channels."""
    wh.con.executemany("INSERT INTO users (user_id, registered_at, channel, person_id, is_test) VALUES (?, ?, ?, ?, FALSE)",
                       [("u1", dt.datetime(2026, 1, 1), "ads", "u1"), ("u2", dt.datetime(2026, 1, 1), "seo", "u2")])
    rows = []
    for n, (day, gmv) in enumerate(sorted(daily_gmv().items())):
        user = "u1" if n % 2 else "u2"
        rows.append((f"o{n:04d}", user, dt.datetime.combine(day, dt.time(4)), f"{gmv:.2f}", "paid", user))
    wh.con.executemany("INSERT INTO orders (order_id, user_id, ts, amount, status, person_id, is_test) "
                       "VALUES (?, ?, ?, CAST(? AS DECIMAL(18,2)), ?, ?, FALSE)", rows)


@pytest.fixture
def asettings(home: Path) -> Settings:
    return load_settings(home)


@pytest.fixture
def warehouse(asettings: Settings) -> Iterator[Warehouse]:
    wh = Warehouse.open(asettings)
    load(wh)
    yield wh
    wh.close()


@pytest.fixture
def backend(asettings: Settings, warehouse: Warehouse) -> Backend:
    return open_backend(asettings, warehouse=warehouse)


@pytest.fixture
def store(asettings: Settings) -> Iterator[Store]:
    st = open_store(asettings)
    yield st
    st.close()


def write_rules(settings: Settings, rules: list[dict[str, object]], **top: object) -> None:
    (settings.home / "alert_rules.yaml").write_text(yaml.safe_dump({**top, "rules": rules}, allow_unicode=True),
                                                    encoding="utf-8")


# -- the service with people in two departments and three alerts (Trade red + yellow, CX yellow) -----------
SERVICE_RULES: list[dict[str, object]] = [
    {"id": "gmv-dod", "kind": "change", "metric": "gmv", "yellow": "10%", "red": "20%", "department": "Trade",
     "owner": "alice"},
    {"id": "gmv-low", "kind": "threshold", "metric": "gmv", "op": "<", "value": 995, "level": "yellow",
     "department": "Trade", "owner": "alice"},
    {"id": "aov-cx", "kind": "threshold", "metric": "aov", "op": "<", "value": 2000, "level": "yellow",
     "department": "CX"},
]
PASSWORD = "alerts-service-password"
# who: (username, role, departments)
PEOPLE = {"alice": ("alice", "specialist", ["Trade"]), "bob": ("bob", "manager", ["Trade"]),
          "carol": ("carol", "admin", []), "erin": ("erin", "specialist", ["CX"]), "ana": ("ana", "analyst", [])}


@pytest.fixture
def service(asettings: Settings) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """The API and console on the hand-built warehouse; bearer tokens per person and per API key."""
    with Warehouse.open(asettings) as wh:
        load(wh)
    write_rules(asettings, SERVICE_RULES)
    application = create_app(asettings)
    mount(application, asettings)
    state = app_state(application)
    for username, role, depts in PEOPLE.values():
        auth.create_person(state.store, username=username, password=PASSWORD, role=role, departments=depts,
                           service=state.service)
    with state.store.session() as ses:
        ids = {p.username: p.id for p in ses.scalars(select(Person))}
        trade = ses.scalar(select(Department).where(Department.name == "Trade"))
        assert trade is not None
        ses.add(OrgPosition(department_id=trade.id, title="manager", person_id=ids["bob"]))
        ses.add(OrgPosition(department_id=trade.id, title="director", person_id=ids["carol"]))
    tokens = {who: auth.issue_token(state.service, username) for who, (username, _r, _d) in PEOPLE.items()}
    tokens["read_key"] = auth.create_api_key(state.store, name="bi", scope="read", role="analyst")[1]
    tokens["ingest_key"] = auth.create_api_key(state.store, name="gw", scope="ingest")[1]
    with TestClient(application) as client:
        yield client, tokens
