"""Incidents from the playbook library: deadlines per level, first responder, steps, timeline, review."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from jingyun import incidents
from jingyun.approvals import org
from jingyun.config import Settings
from jingyun.errors import JingyunError
from jingyun.store import Store, open_store

T0 = dt.datetime(2026, 5, 1, 3, 0)


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    st = open_store(settings)
    org.import_csv(st, settings, "name,department,role\ntom,tech,manager\ntess,service,manager\n")
    yield st
    st.close()


def test_library_has_the_six_playbooks() -> None:
    assert sorted(incidents.library()) == ["complaint_surge", "data_leak", "metric_drop", "negative_press",
                                           "stock_out", "system_outage"]
    assert all(p.steps and p.first_responder for p in incidents.library().values())


@pytest.mark.parametrize(("level", "hours"), [(1, 24), (2, 48), (3, 72)])
def test_deadline_per_level(store: Store, settings: Settings, level: int, hours: int) -> None:
    inc = incidents.open_incident(store, settings, playbook="complaint_surge", level=level, title="客诉激增",
                                  now=T0)
    assert inc.deadline_at == T0 + dt.timedelta(hours=hours)
    assert not inc.overdue(inc.deadline_at - dt.timedelta(seconds=1)) and inc.overdue(inc.deadline_at)


def test_timeline_steps_and_review(store: Store, settings: Settings) -> None:
    inc = incidents.open_incident(store, settings, playbook="system_outage", level=2, title="支付超时",
                                  source="alert", alert_id=7, now=T0)
    assert inc.first_responder == "tom" and len(inc.steps) == 4
    again = incidents.open_incident(store, settings, playbook="system_outage", level=1, title="x", source="alert",
                                    alert_id=7, now=T0)
    assert again.id == inc.id  # one open incident per alert
    incidents.complete_step(store, inc.id, 1, author="tom", now=T0 + dt.timedelta(hours=1))
    incidents.complete_step(store, inc.id, 1, author="tom", now=T0 + dt.timedelta(hours=2))  # once
    incidents.add_note(store, inc.id, author="tom", text="rolled back", now=T0 + dt.timedelta(hours=3))
    inc = incidents.set_level(store, inc.id, 1, author="tom", now=T0 + dt.timedelta(hours=4))
    assert inc.deadline_at == T0 + dt.timedelta(hours=24)  # counted from the opening
    with pytest.raises(JingyunError) as exc:
        incidents.close(store, inc.id, author="tom", review={"summary": "ok", "root_cause": ""})
    assert exc.value.field == "review.root_cause"
    inc = incidents.close(store, inc.id, author="tom", now=T0 + dt.timedelta(hours=5),
                          review={"summary": "网关超时", "root_cause": "连接池耗尽", "actions": ["扩容", ""]})
    assert inc.status == "closed" and inc.review == {"summary": "网关超时", "root_cause": "连接池耗尽",
                                                     "actions": ["扩容"]}
    assert [e.kind for e in inc.timeline] == ["opened", "step", "note", "level", "closed"]
    assert inc.steps[0].done_by == "tom" and inc.steps[1].done_at is None
    with pytest.raises(JingyunError) as exc:
        incidents.add_note(store, inc.id, author="tom", text="late")
    assert exc.value.code == "closed"
    rows, total = incidents.list_incidents(store, status="closed")
    assert total == 1 and rows[0].id == inc.id


def test_bad_input_names_the_field(store: Store, settings: Settings) -> None:
    for kwargs, field in (({"playbook": "meteor", "level": 1}, "playbook"), ({"playbook": "data_leak", "level": 4},
                                                                              "level")):
        with pytest.raises(JingyunError) as exc:
            incidents.open_incident(store, settings, title="t", **kwargs)  # type: ignore[arg-type]
        assert exc.value.field == field
    inc = incidents.open_incident(store, settings, playbook="data_leak", level=1, title="泄露")
    assert inc.first_responder is None and "nobody holds tech.director" in inc.timeline[0].text
