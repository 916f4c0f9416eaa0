"""The console delivery log filtered by journey (``/console/messages?journey=KEY``), with paging and the other filters."""

from __future__ import annotations

import re

from jingyun.automation import deliveries
from jingyun.messaging import Message, deliver


def _seed(store, msettings) -> None:
    for i in range(55):  # more than one page (50) of one journey's messages
        deliver(store, msettings, Message("inbox", f"u{i}", f"browse {i}", "T", key=f"abandoned-browse:1:push:u{i}:{i}",
                                          user_id=f"u{i}"))
    for i in range(3):
        deliver(store, msettings, Message("inbox", f"c{i}", f"care {i}", "T", key=f"care_30:2:note:c{i}:{i}"))
    # traps: a longer key sharing the prefix, '_' as a LIKE wildcard, a message no journey sent
    deliver(store, msettings, Message("inbox", "x1", "browse-extra", "T", key="abandoned-browse-2:1:push:x1:1"))
    deliver(store, msettings, Message("inbox", "x2", "wild", "T", key="careX30:1:note:x2:1"))
    deliver(store, msettings, Message("inbox", "x3", "manual", "T", key="manual-send-1"))


def _login(service, role: str = "admin") -> None:
    service.client.cookies.clear()
    r = service.client.post("/console/login", data={"username": f"p_{role}", "password": "messaging-test-password"},
                            follow_redirects=False)
    assert r.status_code == 303, r.text


def _ids(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'<tr data-id="(\d+)">', html)]


def test_library_log_by_journey(store, msettings) -> None:
    _seed(store, msettings)
    page = deliveries.log(store, journey="care_30")
    assert page.total == 3 and sorted(r.key for r in page.items) == [f"care_30:2:note:c{i}:{i}" for i in range(3)]
    assert deliveries.log(store, journey="abandoned-browse", limit=50).total == 55
    assert deliveries.log(store, journey="abandoned-browse", channel="email").total == 0
    assert deliveries.log(store, journey="nobody").total == 0
    assert deliveries.log(store).total == 61  # no journey: the whole log


def test_console_page_filters_by_journey_and_keeps_paging(store, msettings, smtp, service) -> None:
    _seed(store, msettings)
    _login(service)
    first = service.client.get("/console/messages?lang=en&journey=abandoned-browse")
    assert first.status_code == 200
    assert "56 " not in first.text and len(_ids(first.text)) == 50
    assert "browse-extra" not in first.text and "care 0" not in first.text and "manual" not in first.text
    # the next page link keeps the journey, and the second page holds the last 5
    nxt = re.search(r'href="([^"]*page=2[^"]*)"', first.text)
    assert nxt is not None and "journey=abandoned-browse" in nxt.group(1)
    second = service.client.get("/console/messages?lang=en&page=2&journey=abandoned-browse")
    assert len(_ids(second.text)) == 5
    assert set(_ids(first.text)).isdisjoint(_ids(second.text))
    care = service.client.get("/console/messages?lang=en&journey=care_30")
    assert len(_ids(care.text)) == 3 and "wild" not in care.text
    assert 'value="care_30"' in care.text  # the form shows the filter
    # combined with the other filters
    assert _ids(service.client.get("/console/messages?lang=en&journey=care_30&channel=email").text) == []
    assert len(_ids(service.client.get("/console/messages?lang=en&journey=care_30&status=sent&channel=inbox").text)) == 3
    # a key that is not a journey key is refused, not ignored
    assert service.client.get("/console/messages?journey=Bad%20Key").status_code in (400, 422)
