"""Guard rails in simulation: caps and quiet hours across two competing journeys in two time zones,
entry limits, holdout share and determinism, unsubscribed people, test accounts."""

from __future__ import annotations

import datetime as dt

import automation_rows as rows
import pandas as pd
import pytest

from jingyun.automation import guards
from jingyun.automation.guards import GuardRules
from jingyun.automation.journey import parse_journey
from jingyun.automation.simulate import simulate
from jingyun.warehouse import Warehouse
from jingyun.warehouse.backends.duckdb import DuckDBBackend

TZ = "Asia/Shanghai"


def on(event: str, key: str, priority: int, **extra: object) -> dict[str, object]:
    return {"key": key, "priority": priority, "holdout": 0, "entry_limit": "1s",
            "trigger": {"type": "event", "event": event},
            "steps": [{"id": "push", "type": "action", "channel": "push", "template": "t"}], **extra}


def people(wh: Warehouse) -> None:
    rows.users(wh, [{"user_id": "sh"}, {"user_id": "ny", "timezone": "America/New_York"}])


def outcomes(results: list, user: str) -> list[tuple[str, str, str | None]]:
    """(journey, outcome, local sent time) of one person's sends, in time order."""
    frames = pd.concat([r.sends for r in results], ignore_index=True)
    mine = frames[frames["user_id"] == user].sort_values(["sent_at", "journey"], na_position="last")
    zone = "America/New_York" if user == "ny" else TZ
    return [(j, o, None if pd.isna(s) else s.tz_localize("UTC").tz_convert(zone).strftime("%m-%d %H:%M"))
            for j, o, s in zip(mine["journey"], mine["outcome"], mine["sent_at"], strict=True)]


def test_quiet_hours_release_and_priority_in_two_zones(wh: Warehouse, backend: DuckDBBackend) -> None:
    """04:00 UTC is 23:00 in New York (quiet: waits to 08:00, where the journeys compete for 2 slots and
    the higher priority wins both) and 12:00 in Shanghai (sent at once: first come, A before B at a tie)."""
    people(wh)
    base = dt.datetime(2026, 3, 3, 4, 0)
    rows.events(wh, [(u, e, base + dt.timedelta(minutes=m)) for u in ("sh", "ny") for m in (0, 10, 20)
                     for e in ("a", "b")])
    js = [parse_journey(on("a", "high", 80)), parse_journey(on("b", "low", 20))]
    results = simulate(backend, js, dt.date(2026, 3, 2), dt.date(2026, 3, 4), timezone=TZ)
    assert outcomes(results, "sh") == [("high", "sent", "03-03 12:00"), ("low", "sent", "03-03 12:00"),
                                       *[(j, "cap", None) for j in ("high", "high", "low", "low")]]
    assert outcomes(results, "ny") == [("high", "sent", "03-03 08:00"), ("high", "sent", "03-03 08:00"),
                                       *[(j, "cap", None) for j in ("high", "low", "low", "low")]]
    high, low = (r.to_dict() for r in results)
    assert high["actions"] == {"push": 3} and high["suppressed"]["cap"] == 3
    assert low["actions"] == {"push": 1} and low["suppressed"]["cap"] == 5


def test_quiet_hours_drop_by_rule(wh: Warehouse, backend: DuckDBBackend) -> None:
    people(wh)
    rows.events(wh, [("ny", "a", "2026-03-03 04:00:00"), ("sh", "a", "2026-03-03 04:00:00")])
    [r] = simulate(backend, [parse_journey(on("a", "j", 50, on_quiet_hours="drop"))], dt.date(2026, 3, 3),
                   dt.date(2026, 3, 3), timezone=TZ)
    assert r.to_dict()["suppressed"]["quiet_hours"] == 1 and r.to_dict()["actions"] == {"push": 1}
    assert outcomes([r], "ny") == [("j", "quiet_hours", None)]


def test_caps_count_local_days_and_weeks(wh: Warehouse, backend: DuckDBBackend) -> None:
    """15:30 and 16:30 UTC are 23:30 and 00:30 in Shanghai (two local days: both sent under a cap of 1 a
    day) but 10:30 and 11:30 the same day in New York (the second is capped)."""
    people(wh)
    rows.events(wh, [(u, "a", f"2026-03-03 {h}:30:00") for u in ("sh", "ny") for h in (15, 16)])
    rules = GuardRules(cap_day=1, cap_week=5, quiet_start=dt.time(0), quiet_end=dt.time(0), timezone=TZ)
    [r] = simulate(backend, [parse_journey(on("a", "j", 50))], dt.date(2026, 3, 3), dt.date(2026, 3, 4),
                   timezone=TZ, rules=rules)
    assert [o for _, o, _ in outcomes([r], "sh")] == ["sent", "sent"]
    assert [o for _, o, _ in outcomes([r], "ny")] == ["sent", "cap"]


def test_week_cap_and_waiting_for_the_next_morning(wh: Warehouse, backend: DuckDBBackend) -> None:
    """Mon-Thu, three sends a day at 10:00-10:20 Shanghai: 2 a day, 5 a week (ISO week, Monday first)."""
    rows.users(wh, [{"user_id": "sh"}])
    days = [dt.datetime(2026, 3, 2, 2, 0) + dt.timedelta(days=d, minutes=10 * k) for d in range(4) for k in range(3)]
    rows.events(wh, [("sh", "a", t) for t in days])
    [r] = simulate(backend, [parse_journey(on("a", "j", 50))], dt.date(2026, 3, 2), dt.date(2026, 3, 8), timezone=TZ)
    sent = [s for _, o, s in outcomes([r], "sh") if o == "sent"]
    assert sent == ["03-02 10:00", "03-02 10:10", "03-03 10:00", "03-03 10:10", "03-04 10:00"]
    [r] = simulate(backend, [parse_journey(on("a", "j", 50, on_cap="wait"))], dt.date(2026, 3, 2), dt.date(2026, 3, 2),
                   timezone=TZ)
    # Monday's third send waits to Tuesday 08:00 and takes a slot there
    assert [s for _, o, s in outcomes([r], "sh") if o == "sent"] == ["03-02 10:00", "03-02 10:10", "03-03 08:00"]


def test_entry_limit_default_once_per_24h(wh: Warehouse, backend: DuckDBBackend) -> None:
    rows.users(wh, [{"user_id": "u1"}])
    stamps = ["2026-03-02 02:00:00", "2026-03-02 20:00:00", "2026-03-03 01:59:59", "2026-03-03 02:00:00",
              "2026-03-04 01:00:00", "2026-03-04 02:00:00"]
    rows.events(wh, [("u1", "a", t) for t in stamps])
    j = on("a", "j", 50)
    del j["entry_limit"]
    [r] = simulate(backend, [parse_journey(j)], dt.date(2026, 3, 1), dt.date(2026, 3, 5), timezone=TZ,
                   with_users=True)
    assert [u.entered_at.isoformat() for u in r.users] == ["2026-03-02T10:00:00+08:00", "2026-03-03T10:00:00+08:00",
                                                           "2026-03-04T10:00:00+08:00"]
    assert r.to_dict()["suppressed"]["entry_limit"] == 3
    j["entry_limit"] = "once"
    [r] = simulate(backend, [parse_journey(j)], dt.date(2026, 3, 1), dt.date(2026, 3, 5), timezone=TZ)
    assert r.entered == 1 and r.to_dict()["suppressed"]["entry_limit"] == 5


def test_holdout_share_and_determinism() -> None:
    ids = [f"user{i}" for i in range(20000)]
    mask = guards.holdout_mask("browse", ids, 0.10)
    assert abs(mask.mean() - 0.10) < 3 * (0.1 * 0.9 / len(ids)) ** 0.5  # within 3 standard errors
    assert (guards.holdout_mask("browse", ids, 0.10) == mask).all()
    assert (guards.holdout_mask("browse", ids, 0.20)[mask]).all()  # raising the share keeps the old members
    other = guards.holdout_mask("birthday", ids, 0.10)
    assert abs((mask & other).mean() - 0.01) < 0.004  # journeys hold out independent people
    assert guards.in_holdout("browse", ids[int(mask.argmax())], 0.10)


def test_holdout_in_simulation(wh: Warehouse, backend: DuckDBBackend) -> None:
    n = 400
    rows.users(wh, [{"user_id": f"u{i}"} for i in range(n)])
    rows.events(wh, [(f"u{i}", "a", "2026-03-02 02:00:00") for i in range(n)])
    j = on("a", "j", 50, holdout=0.25)
    [r] = simulate(backend, [parse_journey(j)], dt.date(2026, 3, 2), dt.date(2026, 3, 2), timezone=TZ, with_users=True)
    held = {u.user_id for u in r.users if not u.path}
    assert held == {f"u{i}" for i in range(n) if guards.in_holdout("j", f"u{i}", 0.25)}
    assert r.entered == n and r.to_dict()["suppressed"]["holdout"] == len(held)
    assert r.to_dict()["steps"] == [{"id": "push", "users": n - len(held)}]
    assert 0.25 - 0.07 < len(held) / n < 0.25 + 0.07


def test_unsubscribed_people_receive_nothing(wh: Warehouse, backend: DuckDBBackend, settings: object) -> None:
    consent = pytest.importorskip("jingyun.messaging.consent")
    from jingyun.store import open_store

    store = open_store(settings)  # type: ignore[arg-type]
    rows.users(wh, [{"user_id": u} for u in ("yes", "no", "never")])
    rows.events(wh, [(u, "a", "2026-03-02 02:00:00") for u in ("yes", "no", "never")])
    consent.record(store, "yes", purpose="marketing", granted=True)
    consent.record(store, "no", purpose="marketing", granted=False)
    j = on("a", "j", 50, steps=[{"id": "push", "type": "action", "channel": "push", "template": "t"},
                                {"id": "receipt", "type": "action", "channel": "inbox", "template": "r",
                                 "purpose": "service"}])
    [r] = simulate(backend, [parse_journey(j)], dt.date(2026, 3, 2), dt.date(2026, 3, 2), timezone=TZ, store=store)
    out = r.to_dict()
    # marketing is opt-in: "no" withdrew consent and "never" gave none; service messages need none
    assert out["actions"] == {"push": 1, "inbox": 3} and out["suppressed"]["unsubscribed"] == 2
    assert outcomes([r], "no") == [("j", "sent", "03-02 10:00"), ("j", "unsubscribed", None)]
