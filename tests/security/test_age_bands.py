"""One age-band scheme: the masking gate and the ``age_band`` tag give the same band for the same birth
date on the same day, and values stored under the old ``18_24`` labels stay readable."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from jingyun.config import Settings, load_settings
from jingyun.security import age_bands
from jingyun.security.masking import Masker, age_band
from jingyun.segments import audience, snapshots, tags
from jingyun.segments.common import ensure_segment_tables
from jingyun.segments.store import SegmentStore
from jingyun.warehouse import Warehouse


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("age_bands")


@pytest.fixture(scope="module")
def wh(home: Path) -> Iterator[Warehouse]:
    warehouse = Warehouse.open(load_settings(home))
    yield warehouse
    warehouse.close()


def _users(wh: Warehouse, births: list[dt.date | None]) -> None:
    wh.con.execute("DELETE FROM users")
    n = len(births)
    batch = pa.table({"user_id": [f"u{i}" for i in range(n)], "person_id": [f"u{i}" for i in range(n)],
                      "birth_date": pa.array(births, pa.date32()), "is_test": [False] * n,
                      "registered_at": [dt.datetime(2020, 1, 1)] * n})
    wh.con.register("_u", batch)
    try:
        wh.con.execute("INSERT INTO users BY NAME SELECT * FROM _u")
    finally:
        wh.con.unregister("_u")


def _tag_bands(wh: Warehouse, as_of: dt.datetime) -> dict[str, str]:
    sql = tags.tag_query(tags.shipped_tags()["age_band"], wh.settings, as_of)
    assert sql is not None
    return {str(p): str(v) for p, v in wh.rows(sql)}


def test_the_scheme_names_ages_inclusively() -> None:
    assert age_bands.BANDS == ("0-17", "18-24", "25-30", "31-40", "41-50", "51+")
    today = dt.date(2026, 7, 23)
    assert [age_band(dt.date(2026 - a, 7, 23), today) for a in (0, 17, 18, 24, 25, 30, 31, 40, 41, 50, 51, 99)] == [
        "0-17", "0-17", "18-24", "18-24", "25-30", "25-30", "31-40", "31-40", "41-50", "41-50", "51+", "51+"]
    assert age_band(dt.date(2001, 7, 24), today) == "18-24"  # 25 only tomorrow
    assert age_band(dt.date(2000, 2, 29), dt.date(2025, 2, 28)) == "18-24"  # a leap-day birth turns 25 on 1 March
    assert age_band(dt.date(2000, 2, 29), dt.date(2025, 3, 1)) == "25-30"
    assert age_band(dt.date(2027, 1, 1), today) is None and age_band("not a date", today) is None


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(births=st.lists(st.dates(dt.date(1920, 1, 1), dt.date(2030, 12, 31)), min_size=1, max_size=25),
       today=st.dates(dt.date(2000, 1, 1), dt.date(2035, 12, 31)))
def test_tag_and_masking_give_the_same_band(wh: Warehouse, births: list[dt.date], today: dt.date) -> None:
    _users(wh, list(births))
    # the tag's as-of day is the local day (Asia/Shanghai): 04:00 UTC is noon there, the same date
    got = _tag_bands(wh, dt.datetime.combine(today, dt.time(4, 0)))
    masker = Masker(b"salt", today=today)
    want = {f"u{i}": masker.row("users", {"user_id": f"u{i}", "birth_date": b})["age_band"]
            for i, b in enumerate(births)}
    assert got == {k: v for k, v in want.items() if v is not None}
    assert all(v == age_band(births[int(k[1:])], today) for k, v in got.items())


def test_compute_tags_stores_the_scheme(wh: Warehouse) -> None:
    as_of = dt.datetime(2026, 7, 23, 4, 0)
    _users(wh, [dt.date(2008, 7, 24), dt.date(2008, 7, 23), dt.date(2001, 7, 23), dt.date(1975, 1, 1), None])
    ensure_segment_tables(wh)
    tags.compute_tags(wh, ["age_band"], as_of=as_of)
    assert dict(wh.rows("SELECT person_id, value FROM user_tags WHERE tag = 'age_band'")) == {
        "u0": "0-17", "u1": "18-24", "u2": "25-30", "u3": "51+"}


def test_old_labels_stay_readable(wh: Warehouse, home: Path) -> None:
    settings: Settings = wh.settings
    ensure_segment_tables(wh)
    wh.con.execute("DELETE FROM user_tags")
    wh.con.execute("INSERT INTO user_tags VALUES ('u0', 'age_band', '18_24', now()), ('u1', 'age_band', '51_plus', "
                   "now()), ('u2', 'age_band', '31-40', now()), ('u3', 'aov_band', '18_24', now())")
    ensure_segment_tables(wh)  # renames stored values of the old scheme, and nothing else
    assert sorted(wh.rows("SELECT person_id, tag, value FROM user_tags")) == [
        ("u0", "age_band", "18-24"), ("u1", "age_band", "51+"), ("u2", "age_band", "31-40"),
        ("u3", "aov_band", "18_24")]

    # a rule saved with an old label selects the same people as the new label
    ctx = audience.RuleContext({"age_band": "string"}, lambda n: None, dt.datetime(2026, 7, 23))
    for old, new in (("18_24", "18-24"), (["51_plus", "31_40"], ["51+", "31-40"])):
        op = "in" if isinstance(old, list) else "eq"
        a = sorted(wh.rows(audience.compile_rule({"tag": "age_band", "op": op, "value": old}, ctx).sql))
        b = sorted(wh.rows(audience.compile_rule({"tag": "age_band", "op": op, "value": new}, ctx).sql))
        assert a == b and a

    # an old snapshot compared with a new one: nobody moved
    store = SegmentStore(settings)
    store.save_snapshot("age_band", "2026-05", {"groups": {"u0": "18_24", "u1": "51_plus"}})
    store.save_snapshot("age_band", "2026-06", {"groups": {"u0": "18-24", "u1": "51+"}})
    tr = snapshots.compare_snapshots(wh, "age_band", "2026-05", "2026-06")
    assert (tr.moved, tr.stayed) == (0, 2) and set(tr.groups) <= set(age_bands.BANDS) | {snapshots.NONE}
