"""A person without marketing consent never enters a marketing export; analytics needs none by default."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from jingyun.config import load_settings
from jingyun.errors import JingyunError
from jingyun.messaging import consent
from jingyun.segments import saved
from jingyun.segments.store import SavedSegment
from jingyun.store.db import open_store
from jingyun.warehouse import Warehouse

from .conftest import Planted


def _people(path: Path) -> list[str]:
    with path.open(encoding="utf-8-sig") as fh:
        return sorted(r["person_id"] for r in csv.DictReader(fh))


def test_marketing_export_holds_only_consenting_people(planted: Planted, tmp_path: Path) -> None:
    store = open_store(planted.settings)
    consent.record(store, "u_b", purpose="marketing", granted=False)  # withdrawn
    consent.record(store, "u_c", purpose="marketing", channel="sms", granted=True)  # one channel is not an export
    consent.record(store, "u_c", purpose="analytics", granted=True)
    store.close()
    with Warehouse.open(planted.settings) as wh:
        saved.create(wh, SavedSegment("all_users", {"attr": "member_level", "op": "in",
                                                    "value": ["gold", "regular", "silver"]}))
        n = saved.export(wh, "all_users", tmp_path / "m.csv", mask=None, purpose="marketing")
        assert n == 2 and _people(tmp_path / "m.csv") == ["u_a", "u_target"]  # the two who granted marketing
        n = saved.export(wh, "all_users", tmp_path / "a.csv", mask=None)  # analytics: not required by default
        assert _people(tmp_path / "a.csv") == ["u_a", "u_b", "u_c", "u_target"] and n == 4
        with pytest.raises(JingyunError) as err:
            saved.export(wh, "all_users", tmp_path / "x.csv", mask=None, purpose="spam")
        assert err.value.field == "purpose"


def test_required_purposes_are_a_setting(planted: Planted, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JINGYUN_CONSENT_REQUIRED", "marketing,analytics")
    settings = load_settings(planted.home)
    assert settings.consent_required == ("marketing", "analytics")
    store = open_store(settings)
    consent.record(store, "u_c", purpose="analytics", granted=True)
    store.close()
    with Warehouse.open(settings) as wh:
        saved.create(wh, SavedSegment("all_users", {"attr": "member_level", "op": "in", "value": ["gold", "regular", "silver"]}))
        assert saved.export(wh, "all_users", tmp_path / "a.csv", mask=None) == 1
    assert _people(tmp_path / "a.csv") == ["u_c"]
