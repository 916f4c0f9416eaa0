"""Finding 13: users' personal columns are encrypted at rest (envelope encryption), joins go
through the keyed pseudonym, and raw values come back only through ``personal.reveal``."""

from __future__ import annotations

import datetime as dt
import stat
from collections.abc import Sequence
from pathlib import Path

import pytest

from jingyun.config import Settings
from jingyun.errors import JingyunError
from jingyun.ingest import ingest_file
from jingyun.security import vault
from jingyun.security.config import load_service_settings
from jingyun.security.masking import pseudonym
from jingyun.warehouse import Warehouse, personal

# Known personal values: each must be absent from the warehouse's bytes.
PEOPLE = [
    # user_id, name, phone, email, birth date, address, id card (an extra column → attributes)
    ("u1", "欧阳娜娜", "13912345678", "nana.ouyang@example.org", "1991-07-23", "浙江省杭州市西湖区文三路8812号", "330106199107231234"),
    ("u2", "Zebulon Quackenbush", "13887654321", "zeb.quack@mailbox.test", "1984-02-11", "上海市浦东新区银城中路7713号", "310115198402115678"),
    ("u3", "司马相如", "+86 139-5555-0101", "simaxr@example.net", "2001-12-30", "四川省成都市锦江区红星路6619号", "510104200112309012"),
]
HEADER = "user_id,name,phone,email,birth_date,address,registered_at,gender,id_card,member_level\n"


def _csv(path: Path, people: Sequence[tuple[str, ...]]) -> Path:
    lines = [",".join([*p[:6], f"2026-01-0{i + 1} 09:00:00", "female", p[6], "gold"]) for i, p in enumerate(people)]
    path.write_text(HEADER + "\n".join(lines) + "\n", encoding="utf-8")
    return path


def _needles() -> list[bytes]:
    out = []
    for _, name, phone, email, birth, address, id_card in PEOPLE:
        digits = "".join(ch for ch in phone if ch.isdigit())[-11:]
        out += [name.encode(), digits.encode(), email.encode(), birth.encode(), address.encode(), id_card.encode()]
    return out


def _found(home: Path, needles: list[bytes]) -> list[bytes]:
    files = [p for p in home.iterdir() if p.name.startswith("warehouse.duckdb")]  # the file and its .wal
    blob = b"".join(p.read_bytes() for p in files)
    return [n for n in needles if n in blob]


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> str:
    value = "the-first-master-secret-0123456789"
    monkeypatch.setenv("JINGYUN_SECRET_KEY", value)
    monkeypatch.delenv("JINGYUN_OLD_SECRET_KEYS", raising=False)
    monkeypatch.delenv("JINGYUN_ENCRYPT_PERSONAL", raising=False)
    return value


def _load(settings: Settings, tmp_path: Path) -> None:
    with Warehouse.open(settings) as wh:
        report = ingest_file(wh, "users", _csv(tmp_path / "users.csv", PEOPLE))
        assert (report.stored, report.quarantined) == (3, 0)
        wal = settings.warehouse_path.with_name("warehouse.duckdb.wal")
        # before the checkpoint the new rows sit in the write-ahead log: nothing personal there
        assert wal.exists() and wal.stat().st_size > 0
        assert _found(settings.home, _needles()) == []
        wh.con.execute("CHECKPOINT")


def test_no_personal_value_in_the_warehouse_bytes(settings: Settings, secret: str, tmp_path: Path) -> None:
    _load(settings, tmp_path)
    assert _found(settings.home, _needles()) == []
    with Warehouse.open(settings, read_only=True) as wh:
        clear = wh.rows("SELECT count(name), count(phone), count(email), count(birth_date), count(address) FROM users")
        assert clear == [(0, 0, 0, 0, 0)]
        sealed = wh.rows("SELECT count(_name_enc), count(_phone_enc), count(_birth_date_enc), count(_attributes_enc) FROM users")
        assert sealed == [(3, 3, 3, 3)]
    key = vault.key_path(settings.home)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_the_byte_search_finds_values_stored_in_clear(settings: Settings, secret: str, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # the control: with encryption off the same search finds every value, so the test above can fail
    monkeypatch.setenv("JINGYUN_ENCRYPT_PERSONAL", "0")
    with Warehouse.open(settings) as wh:
        ingest_file(wh, "users", _csv(tmp_path / "users.csv", PEOPLE))
        wh.con.execute("CHECKPOINT")
    missing = set(_needles()) - set(_found(settings.home, _needles()))
    # a birth date is stored as a DATE (four bytes), not as its text
    assert missing == {p[4].encode() for p in PEOPLE}


def test_reveal_returns_raw_values_and_pseudonyms_match_the_gate(settings: Settings, secret: str, tmp_path: Path) -> None:
    _load(settings, tmp_path)
    salt = load_service_settings(settings).mask_salt
    with Warehouse.open(settings, read_only=True) as wh:
        rows = [dict(zip(("user_id", "name", "phone", "email", "birth_date", "address", "attributes", "_phone_ps",
                          "_email_ps"), r, strict=True))
                for r in wh.rows("SELECT user_id, name, phone, email, birth_date, address, attributes, _phone_ps, "
                                 "_email_ps FROM users ORDER BY user_id")]
        assert all(r["phone"] is None for r in rows)
        raw = personal.reveal(wh, rows)
    for got, (uid, name, phone, email, birth, address, id_card) in zip(raw, PEOPLE, strict=True):
        assert got["user_id"] == uid and got["name"] == name and got["address"] == address
        assert got["phone"] == "+86" + "".join(ch for ch in phone if ch.isdigit())[-11:]
        assert got["email"] == email
        assert got["birth_date"] == dt.date.fromisoformat(birth)
        assert '"id_card"' in got["attributes"] and id_card in got["attributes"]
        # a de-identified export's pseudonym joins to the stored one
        assert got["_phone_ps"] == pseudonym(phone, salt) and got["_email_ps"] == pseudonym(email, salt)
    # only the columns asked for are decrypted
    with Warehouse.open(settings, read_only=True) as wh:
        only = personal.reveal(wh, [{"user_id": "u1", "name": None, "phone": None}], ["phone"])
    assert only == [{"user_id": "u1", "name": None, "phone": "+8613912345678"}]


def test_merge_by_phone_goes_through_the_pseudonym(settings: Settings, secret: str, tmp_path: Path) -> None:
    _load(settings, tmp_path)
    # u9 registers later with u2's phone in another format, and an unknown email
    later = [("u9", "Z. Quackenbush", "+86 138 8765 4321", "other@mailbox.test", "1984-02-11", "上海市", "x")]
    with Warehouse.open(settings) as wh:
        ingest_file(wh, "users", _csv(tmp_path / "later.csv", later))
        assert wh.rows("SELECT person_id FROM users WHERE user_id = 'u9'") == [("u2",)]
        assert wh.rows("SELECT id_value, person_id FROM identities") == [("u9", "u2")]


def test_rotation_rewraps_the_data_key_and_values_stay_readable(settings: Settings, secret: str, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    _load(settings, tmp_path)
    before = vault.key_path(settings.home).read_bytes()
    monkeypatch.setenv("JINGYUN_SECRET_KEY", "the-second-master-secret-987654")
    monkeypatch.setenv("JINGYUN_OLD_SECRET_KEYS", secret)
    assert vault.rewrap(settings.home, load_service_settings(settings)) is True
    assert vault.key_path(settings.home).read_bytes() != before
    assert stat.S_IMODE(vault.key_path(settings.home).stat().st_mode) == 0o600
    monkeypatch.delenv("JINGYUN_OLD_SECRET_KEYS")  # the old secret is no longer needed
    with Warehouse.open(settings, read_only=True) as wh:
        got = personal.reveal(wh, [{"user_id": "u1", "name": None, "phone": None}])
    assert got == [{"user_id": "u1", "name": "欧阳娜娜", "phone": "+8613912345678"}]
    assert vault.rewrap(settings.home, load_service_settings(settings)) is False  # already current


def test_a_wrong_secret_fails_with_a_clear_error(settings: Settings, secret: str, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    _load(settings, tmp_path)
    monkeypatch.setenv("JINGYUN_SECRET_KEY", "somebody-elses-secret-000000000")
    with Warehouse.open(settings, read_only=True) as wh, pytest.raises(JingyunError) as err:
        personal.reveal(wh, [{"user_id": "u1", "phone": None}])
    assert err.value.code == "unknown_key" and err.value.field == "JINGYUN_SECRET_KEY"
    assert "JINGYUN_OLD_SECRET_KEYS" in err.value.message and str(settings.home) not in err.value.message
    # ingesting more users under the wrong secret is refused too, before anything is stored
    with Warehouse.open(settings) as wh:
        with pytest.raises(JingyunError) as err:
            ingest_file(wh, "users", _csv(tmp_path / "more.csv", [("u7", *PEOPLE[0][1:])]))
        assert err.value.code == "unknown_key"
        assert wh.count("users") == 3


def test_a_lost_key_file_is_refused_not_replaced(settings: Settings, secret: str, tmp_path: Path) -> None:
    _load(settings, tmp_path)
    vault.key_path(settings.home).unlink()
    with Warehouse.open(settings) as wh:
        with pytest.raises(JingyunError) as err:
            ingest_file(wh, "users", _csv(tmp_path / "more.csv", [("u7", *PEOPLE[0][1:])]))
        assert err.value.code == "missing_key"
        with pytest.raises(JingyunError):
            personal.reveal(wh, [{"user_id": "u1", "phone": None}])
    assert not vault.key_path(settings.home).exists()


def test_users_stored_in_clear_are_sealed_by_the_next_load(settings: Settings, secret: str, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JINGYUN_ENCRYPT_PERSONAL", "0")
    with Warehouse.open(settings) as wh:
        ingest_file(wh, "users", _csv(tmp_path / "users.csv", PEOPLE[:2]))
        assert wh.rows("SELECT count(phone), count(_phone_enc) FROM users") == [(2, 0)]
    monkeypatch.setenv("JINGYUN_ENCRYPT_PERSONAL", "1")
    with Warehouse.open(settings) as wh:
        ingest_file(wh, "users", _csv(tmp_path / "more.csv", PEOPLE[2:]))
        assert wh.rows("SELECT count(phone), count(name), count(_phone_enc), count(_name_enc) FROM users") == [(0, 0, 3, 3)]
        got = personal.reveal(wh, [{"user_id": "u1", "email": None, "birth_date": None}])
    assert got == [{"user_id": "u1", "email": "nana.ouyang@example.org", "birth_date": dt.date(1991, 7, 23)}]


def test_a_bad_setting_is_refused(settings: Settings, secret: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JINGYUN_ENCRYPT_PERSONAL", "maybe")
    with pytest.raises(JingyunError) as err:
        load_service_settings(settings)
    assert err.value.field == "JINGYUN_ENCRYPT_PERSONAL"


def test_cli_rotate_key_rewraps_the_data_key(settings: Settings, secret: str, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from jingyun.cli.main import main

    _load(settings, tmp_path)
    monkeypatch.setenv("JINGYUN_SECRET_KEY", "the-second-master-secret-987654")
    monkeypatch.setenv("JINGYUN_OLD_SECRET_KEYS", secret)
    assert main(["admin", "rotate-key", "--json"]) == 0
    assert '"data_key_rewrapped": true' in capsys.readouterr().out
    monkeypatch.delenv("JINGYUN_OLD_SECRET_KEYS")
    with Warehouse.open(settings, read_only=True) as wh:
        assert personal.reveal(wh, [{"user_id": "u2", "email": None}]) == [{"user_id": "u2", "email": "zeb.quack@mailbox.test"}]


def test_age_rules_and_age_band_tag_read_sealed_birth_dates_exactly(settings: Settings, secret: str,
                                                                    tmp_path: Path) -> None:
    from jingyun.segments import audience, tags
    from jingyun.segments.common import ensure_segment_tables

    _load(settings, tmp_path)
    as_of = dt.datetime(2026, 7, 23, 12, 0)  # u1 turns 35 today; u2 is 42, u3 24
    ctx = audience.RuleContext({}, lambda n: None, as_of)
    with Warehouse.open(settings) as wh:
        assert wh.rows("SELECT count(birth_date) FROM users") == [(0,)]

        def members(rule: dict[str, object]) -> list[str]:
            return sorted(r[0] for r in wh.rows(audience.compile_rule(rule, ctx).sql))

        assert members({"attr": "age", "op": "gte", "value": 35}) == ["u1", "u2"]
        assert members({"attr": "age", "op": "eq", "value": 35}) == ["u1"]
        assert members({"attr": "age", "op": "lt", "value": 30}) == ["u3"]
        ensure_segment_tables(wh)
        tags.compute_tags(wh, ["age_band"])
        assert wh.rows("SELECT count(*) FROM user_tags WHERE tag = 'age_band'") == [(3,)]
