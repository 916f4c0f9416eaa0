"""Routing by level, de-duplication, acknowledging, the email with its diagnosis, incidents for red alerts."""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message as EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from conftest import series_day, write_rules
from jingyun.config import Settings, load_settings
from jingyun.errors import JingyunError
from jingyun.ops.alerts import inbox
from jingyun.ops.alerts.service import run
from jingyun.security.auth import create_person
from jingyun.security.config import load_service_settings
from jingyun.store.alerts import MetricAlertEvent
from jingyun.store.approvals import IncidentRow, OrgPosition
from jingyun.store.db import Store
from jingyun.store.models import Department, Person
from jingyun.warehouse.backends import Backend

NOW = dt.datetime(2026, 10, 20, 1, 0)
DEPT = "Trade"


class Inbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    box = Inbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


@pytest.fixture
def msettings(asettings: Settings, smtp: tuple[Inbox, int]) -> Settings:
    return load_settings(asettings.home, smtp_port=smtp[1], smtp_host="127.0.0.1", smtp_from="ops@shop.cn",
                         messages_public_url="http://jy.test")


def _people(store: Store, settings: Settings, *, positions: bool = True) -> None:
    svc = load_service_settings(settings)
    people = {"alice": "specialist", "bob": "manager", "carol": "admin", "dave": "manager"}
    for name, role in people.items():
        create_person(store, username=name, password="pw-123456789", role=role, departments=[DEPT],
                      email=f"{name}@shop.cn", service=svc)
    with store.session() as ses:
        ids = {p.username: p.id for p in ses.scalars(select(Person))}
        ses.get(Person, ids["alice"]).superior_id = ids["bob"]  # type: ignore[union-attr]
        ses.get(Person, ids["bob"]).superior_id = ids["dave"]  # type: ignore[union-attr]
        if positions:
            dept = ses.scalar(select(Department).where(Department.name == DEPT))
            assert dept is not None
            ses.add(OrgPosition(department_id=dept.id, title="manager", person_id=ids["bob"]))
            ses.add(OrgPosition(department_id=dept.id, title="director", person_id=ids["carol"]))


RULES = [
    {"id": "gmv-dod", "kind": "change", "metric": "gmv", "blue": "5%", "yellow": "10%", "red": "20%",
     "department": DEPT, "owner": "alice", "playbook": "stock_out", "incident_level": 1},
    {"id": "gmv-low", "kind": "threshold", "metric": "gmv", "op": "<", "value": 995, "level": "yellow",
     "department": DEPT, "owner": "alice"},
]


def _run(settings: Settings, backend: Backend, store: Store, i: int, **kw: Any) -> Any:
    return run(settings, backend, store, series_day(i), now=NOW + dt.timedelta(days=i), **kw)


def test_routing_reaches_the_level_and_person(asettings: Settings, backend: Backend, store: Store) -> None:
    _people(store, asettings)
    write_rules(asettings, RULES[:1])
    got = {i: _run(asettings, backend, store, i, send=False).outcomes for i in (1, 3, 5)}
    # day 1: −9.9 % blue → owner alice; day 3: −10 % yellow → manager bob; day 5: −20 % red → director carol
    assert [(o.level, o.recipient) for o in got[1]] == [("blue", "alice")]
    assert [(o.level, o.recipient, o.action) for o in got[3]] == [("yellow", "bob", "raised")]
    assert [(o.level, o.recipient, o.action) for o in got[5]] == [("red", "carol", "raised")]
    page = inbox.listing(store, recipient="carol")
    assert page.total == 1 and page.items[0].recipient_role == "director"


def test_routing_falls_back_to_superiors_and_roles(asettings: Settings, backend: Backend, store: Store) -> None:
    _people(store, asettings, positions=False)
    write_rules(asettings, RULES[:1])
    assert [o.recipient for o in _run(asettings, backend, store, 3, send=False).outcomes] == ["bob"]  # alice's superior
    assert [o.recipient for o in _run(asettings, backend, store, 5, send=False).outcomes] == ["dave"]  # bob's superior


def test_repeat_is_not_resent_and_updates_the_open_alert(msettings: Settings, backend: Backend, store: Store,
                                                         smtp: tuple[Inbox, int]) -> None:
    _people(store, msettings)
    write_rules(msettings, RULES[1:])
    first = _run(msettings, backend, store, 7).outcomes  # 801 < 995
    again = _run(msettings, backend, store, 7).outcomes  # the same day evaluated twice
    second = _run(msettings, backend, store, 8).outcomes  # 990: still below, a new day
    third = _run(msettings, backend, store, 9).outcomes
    assert [o.action for o in first + again + second + third] == ["opened", "unchanged", "repeated", "repeated"]
    assert len({o.alert_id for o in first + second + third}) == 1
    assert len(smtp[0].messages) == 1 and smtp[0].messages[0]["To"] == "bob@shop.cn"
    row, events = inbox.get(store, first[0].alert_id)
    assert (row.repeats, row.last_day, row.value) == (2, series_day(9), 990.0)
    assert [e.kind for e in events] == ["opened", "sent", "repeated", "repeated"]
    # resolved, the next breach opens a new alert and is sent again
    inbox.act(store, row.id, "resolve", actor="bob", role="manager", departments=[DEPT])
    _run(msettings, backend, store, 9)  # same day again after resolving: a new alert
    assert inbox.listing(store, rule="gmv-low").total == 2 and len(smtp[0].messages) == 2


def test_alert_email_carries_the_diagnosis(msettings: Settings, backend: Backend, store: Store,
                                           smtp: tuple[Inbox, int]) -> None:
    _people(store, msettings)
    write_rules(msettings, RULES[:1])
    out = _run(msettings, backend, store, 5).outcomes  # 1000 (u2, seo) → 800 (u1, ads): −20 % red
    assert [(o.level, o.recipient) for o in out] == [("red", "carol")]
    assert out[0].sent and out[0].sent[0]["status"] == "sent"
    msg = smtp[0].messages[0]
    body = msg.get_payload(decode=True).decode() if not msg.is_multipart() else \
        msg.get_payload(0).get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert msg["To"] == "carol@shop.cn"
    # the whole drop: seo (1000 → 0) is the driver; ads rose 0 → 800
    assert "Top driver: channel = seo" in body and "¥-1,000.00" in body
    assert "http://jy.test/console/alerts?rule=gmv-dod" in body
    assert "¥800.00" in body and "¥1,000.00" in body


def test_red_alert_opens_an_incident_with_its_deadline(asettings: Settings, backend: Backend, store: Store) -> None:
    _people(store, asettings)
    write_rules(asettings, RULES[:1])
    out = _run(asettings, backend, store, 5).outcomes
    assert out[0].incident_id is not None
    with store.session() as ses:
        inc = ses.get(IncidentRow, out[0].incident_id)
        assert inc is not None
        assert (inc.playbook, inc.level, inc.source, inc.alert_id) == ("stock_out", 1, "alert", out[0].alert_id)
        assert inc.deadline_at - inc.opened_at == dt.timedelta(hours=24)
    # the next day's repeat (still red) opens no second incident
    again = _run(asettings, backend, store, 5).outcomes
    assert again[0].incident_id is None and again[0].action == "unchanged"
    with store.session() as ses:
        assert len(list(ses.scalars(select(IncidentRow)))) == 1


def test_ack_snooze_resolve_and_who_may(asettings: Settings, backend: Backend, store: Store) -> None:
    _people(store, asettings)
    write_rules(asettings, RULES[1:])
    aid = _run(asettings, backend, store, 7, send=False).outcomes[0].alert_id
    with pytest.raises(JingyunError) as exc:
        inbox.act(store, aid, "ack", actor="alice", role="specialist", departments=[DEPT])
    assert exc.value.status == 403
    now = NOW + dt.timedelta(days=8)
    inbox.act(store, aid, "snooze", actor="bob", role="manager", until=now + dt.timedelta(hours=2), now=now)
    assert inbox.listing(store, status="snoozed", now=now).total == 1
    assert inbox.listing(store, status="open", now=now + dt.timedelta(hours=3)).total == 1  # the snooze ran out
    with pytest.raises(JingyunError):
        inbox.act(store, aid, "snooze", actor="bob", role="manager", until=now - dt.timedelta(hours=1), now=now)
    inbox.act(store, aid, "ack", actor="bob", role="manager", now=now)
    inbox.act(store, aid, "resolve", actor="carol", role="admin", now=now)
    with pytest.raises(JingyunError) as exc:
        inbox.act(store, aid, "ack", actor="bob", role="manager", now=now)
    assert exc.value.code == "alert_resolved"
    with store.session() as ses:
        kinds = [e.kind for e in ses.scalars(select(MetricAlertEvent).where(MetricAlertEvent.alert_id == aid))]
    assert kinds == ["opened", "snoozed", "acknowledged", "resolved"]


def test_risk_map_shows_the_worst_light_per_department(asettings: Settings, backend: Backend, store: Store) -> None:
    from jingyun.metrics.dictionary import load_dictionary
    from jingyun.ops.alerts.rules import parse_rules

    write_rules(asettings, RULES)
    _run(asettings, backend, store, 5, send=False)  # red change, yellow threshold, both on gmv
    d = load_dictionary()
    rules = parse_rules({"rules": [*RULES, {"id": "aov", "kind": "threshold", "metric": "aov", "op": "<",
                                            "value": 1, "department": "CX"}]}, d, None)
    got = inbox.risk_map(store, rules, d)
    assert [(g["department"], g["worst"]) for g in got] == [("CX", "green"), (DEPT, "red")]
    assert [(c["subject"], c["level"]) for c in got[1]["lights"]] == [("gmv", "red")]
