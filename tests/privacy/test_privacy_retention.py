"""Retention policies: the dry run and the run are exact on built data."""

from __future__ import annotations

import datetime as dt

import pytest

from jingyun.errors import JingyunError
from jingyun.privacy import retention
from jingyun.store.db import open_store
from jingyun.store.privacy import RetentionRun
from jingyun.warehouse import Warehouse

from .conftest import Planted

NOW = dt.datetime(2026, 3, 31, 16, 0)  # 2026-04-01 00:00+08:00


def test_dry_run_then_run_exact(planted: Planted) -> None:
    (planted.home / "retention.yaml").write_text(
        "policies:\n  - {table: events, days: 28, action: delete}\n  - {table: orders, days: 27, action: anonymise}\n")
    policies = retention.load_policies(planted.settings)
    store = open_store(planted.settings)
    with Warehouse.open(planted.settings) as wh:
        # events before 03-03 16:00 UTC: e1, e2 (03-01), e3 (03-02), e4 (03-03 01:00); orders before 03-04 16:00: o1, o2, o3, o4
        dry = retention.run(wh, store, policies, dry_run=True, now=NOW)
        assert [(r.table, r.rows, r.cutoff) for r in dry] == [
            ("events", 4, "2026-03-04T00:00:00+08:00"), ("orders", 4, "2026-03-05T00:00:00+08:00")]
        assert wh.scalar("SELECT count(*) FROM events") == 6
        done = retention.run(wh, store, policies, now=NOW)
        assert [r.rows for r in done] == [4, 4]
        assert sorted(r[0] for r in wh.rows("SELECT event_id FROM events")) == ["e5", "e6"]
        assert wh.scalar("SELECT count(*) FROM orders WHERE user_id = 'anonymised' AND person_id = 'anonymised'") == 4
        assert str(wh.scalar("SELECT sum(amount) FROM orders")) == "207.75"  # totals stay
        again = retention.run(wh, store, policies, dry_run=True, now=NOW)
        assert [r.rows for r in again] == [0, 0]  # nothing left to do
    with store.session() as ses:
        assert ses.query(RetentionRun).count() == 6
    store.close()


@pytest.mark.parametrize(("text", "field"), [
    ("policies:\n  - {table: nope, days: 3}\n", "policies[0].table"),
    ("policies:\n  - {table: events, days: 0}\n", "policies[0].days"),
    ("policies:\n  - {table: events, days: 3, action: shred}\n", "policies[0].action"),
    ("policies: 3\n", "policies"),
])
def test_bad_policies_name_the_field(planted: Planted, text: str, field: str) -> None:
    (planted.home / "retention.yaml").write_text(text)
    with pytest.raises(JingyunError) as err:
        retention.load_policies(planted.settings)
    assert err.value.field == field
