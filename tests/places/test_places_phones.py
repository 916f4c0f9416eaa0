"""Mobile numbers: one normal form whatever the spelling, the same as ingestion stores, with the carrier."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from jingyun.ingest import ingest_file
from jingyun.places import carrier, normalise_phone
from jingyun.places.phones import carrier_sql
from jingyun.warehouse import Warehouse, personal

SPELLINGS = ["13800138000", "+8613800138000", "+86 138 0013 8000", "0086-138-0013-8000", "86 13800138000",
             "138-0013-8000", "(+86) 138.0013.8000", " 138 0013 8000 "]


@pytest.mark.parametrize("text", SPELLINGS)
def test_every_spelling_is_one_number(text: str) -> None:
    phone = normalise_phone(text)
    assert phone is not None and (phone.e164, phone.national, phone.carrier) == ("+8613800138000", "13800138000",
                                                                                  "china_mobile")


@pytest.mark.parametrize("text", ["1380013800", "138001380001", "12800138000", "+1 415 555 0100", "abc", "", None,
                                  "010-12345678"])
def test_what_is_not_a_mainland_mobile_is_refused(text: str | None) -> None:
    assert normalise_phone(text) is None and carrier(text) is None


def test_carriers_by_segment() -> None:
    assert [carrier(n) for n in ("13912345678", "18612345678", "18912345678", "19212345678", "17031234567",
                                 "17041234567", "13491234567", "19912345678")] == [
        "china_mobile", "china_unicom", "china_telecom", "china_broadnet", "china_mobile", "china_unicom",
        "china_telecom", "china_telecom"]
    con = duckdb.connect()
    numbers = ["+8613912345678", "+8618612345678", "+8617041234567", "+8613491234567", "+15555550100"]
    got = [con.execute(f"SELECT {carrier_sql('$1')}", [n]).fetchone()[0] for n in numbers]  # type: ignore[index]
    assert got == [carrier(n) for n in numbers]


def test_ingestion_stores_the_same_normal_form(wh: Warehouse, tmp_path: Path) -> None:
    path = tmp_path / "users.csv"
    path.write_text("user_id,phone\n" + "".join(f"u{i},\"{p}\"\n" for i, p in enumerate(SPELLINGS)) + "u99,12345\n",
                    encoding="utf-8")
    report = ingest_file(wh, "users", path)
    assert report.stored == len(SPELLINGS) + 1
    ps = {r[0] for r in wh.rows("SELECT _phone_ps FROM users WHERE user_id <> 'u99'")}
    assert len(ps) == 1 and None not in ps  # one pseudonym: every spelling is one number (sealed, as before)
    people = personal.reveal(wh, [{"user_id": f"u{i}", "phone": None} for i in range(len(SPELLINGS))], ["phone"])
    assert {p["phone"] for p in people} == {"+8613800138000"}
    assert carrier(people[0]["phone"]) == "china_mobile"
