"""local_day (a shift where the zone kept one offset) equals local_date (a time-zone conversion) everywhere:
around day boundaries, before and after the zone's last rule change, and on zones with daylight saving."""

from __future__ import annotations

import datetime as dt

import pytest

from jingyun.warehouse.sqltext import constant_offset, local_date, local_day


def test_constant_offsets():
    assert constant_offset("Asia/Shanghai") == (dt.datetime(1991, 9, 15), 8 * 3600)  # DST ended 1991-09-15
    assert constant_offset("America/Sao_Paulo") == (dt.datetime(2019, 2, 18), -3 * 3600)  # DST abolished 2019
    since, _ = constant_offset("Europe/Berlin")  # type: ignore[misc]
    assert since.year == 2099  # still observes DST: no shortcut in practice
    assert local_day("ts", "Europe/Berlin") == local_date("ts", "Europe/Berlin")
    assert "CASE WHEN" in local_day("ts", "Asia/Shanghai")


@pytest.mark.parametrize("tz", ["Asia/Shanghai", "America/Sao_Paulo", "Asia/Kolkata", "UTC"])
def test_local_day_equals_conversion(wh, tz):
    since, _ = constant_offset(tz)  # type: ignore[misc]
    instants = []
    for base in (since, dt.datetime(1988, 4, 10), dt.datetime(1991, 9, 14), dt.datetime(2018, 11, 4),
                 dt.datetime(2024, 1, 9), dt.datetime(2099, 12, 31), dt.datetime(2100, 1, 1)):
        for minutes in range(-36 * 60, 36 * 60, 29):  # every 29 minutes over three days, hitting midnights
            instants.append(base + dt.timedelta(minutes=minutes))
    values = ", ".join(f"(TIMESTAMP '{x:%Y-%m-%d %H:%M:%S}')" for x in instants)
    bad = wh.rows(f"SELECT count(*) FROM (VALUES {values}) v(ts) WHERE {local_day('ts', tz)} <> {local_date('ts', tz)}")
    assert bad[0][0] == 0
    # Both paths of the CASE were taken.
    fast = wh.rows(f"SELECT count(*) FROM (VALUES {values}) v(ts) WHERE ts >= TIMESTAMP '{since:%Y-%m-%d %H:%M:%S}'")
    assert 0 < fast[0][0] < len(instants)
