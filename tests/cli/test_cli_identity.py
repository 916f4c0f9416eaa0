"""The CLI has an identity (issue 15, finding 11): personal data needs a credential whose role sees it,
the role is never self-declared, every personal read and export is audited, and the credential ends
when the admin resets the password."""

from __future__ import annotations

import csv
import datetime as dt
import json
import stat
from pathlib import Path

import pyarrow as pa
import pytest

from jingyun.cli.main import main
from jingyun.config import Settings, load_settings
from jingyun.security import auth
from jingyun.security.audit import Auditor
from jingyun.security.cli_identity import credential_path
from jingyun.security.config import load_service_settings
from jingyun.security.masking import pseudonym
from jingyun.store import open_store
from jingyun.warehouse import Warehouse

PHONE = "+8613912345678"
NAME = "张三丰"
ADDRESS = "浙江省杭州市西湖区文三路99号"
PASSWORD = "correct horse battery"
RULE = json.dumps({"attr": "province", "op": "eq", "value": "浙江省"})


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def ws(home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Settings:
    """Two customers sharing a planted phone, stored in clear (with its keyed pseudonym, as ingestion
    writes it), and a saved segment holding them."""
    for var in ("JINGYUN_API_KEY", "JINGYUN_PASSWORD", "JINGYUN_SECRET_KEY", "JINGYUN_MASK_SALT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("JINGYUN_ENCRYPT_PERSONAL", "0")
    settings = load_settings()
    t0 = dt.datetime(2026, 1, 1)
    rows = [
        {"user_id": "u1", "person_id": "u1", "name": NAME, "phone": PHONE, "email": "zsf@example.cn",
         "address": ADDRESS, "province": "浙江省", "birth_date": dt.date(1990, 6, 15), "registered_at": t0},
        {"user_id": "u2", "person_id": "u2", "name": "李四", "phone": PHONE, "province": "浙江省", "registered_at": t0},
    ]
    with Warehouse.open(settings) as wh:
        extra: dict[str, object] = {"is_test": False, "_ingested_at": t0}
        # the keyed pseudonym column that encryption at rest adds (its name is that module's business)
        for (col,) in wh.rows("SELECT column_name FROM information_schema.columns WHERE table_name = 'users' "
                              "AND column_name LIKE '%phone_ps'"):
            extra[col] = hashed(settings, PHONE)
        wh.con.register("_plant", pa.Table.from_pylist([r | extra for r in rows]))
        wh.con.execute("INSERT INTO users BY NAME SELECT * FROM _plant")
        wh.con.unregister("_plant")
    assert run(["segment", "create", "zj", "--rule", RULE], capsys)[0] == 0
    return settings


def person(settings: Settings, username: str, role: str) -> None:
    auth.create_person(open_store(settings), username=username, password=PASSWORD, role=role)


def login(username: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("JINGYUN_PASSWORD", PASSWORD)
    code, out, err = run(["login", "--username", username], capsys)
    assert code == 0, err
    assert f"signed in as {username}" in out


def one_line_refusal(code: int, out: str, err: str) -> str:
    assert code == 2, (out, err)
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert PHONE not in out + err and NAME not in out + err
    return err


def hashed(settings: Settings, value: str) -> str:
    found = pseudonym(value, load_service_settings(settings).mask_salt)
    assert found is not None
    return found


def audit(settings: Settings, action: str) -> list[dict[str, object]]:
    store = open_store(settings)
    _, records = Auditor(store, load_service_settings(settings)).query(action=action, limit=100)
    return [r.to_dict() for r in records]


def test_personal_export_without_a_credential_is_refused_in_one_line(
        ws: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "out.csv"
    err = one_line_refusal(*run(["segment", "export", "zj", str(target), "--personal"], capsys))
    assert err.startswith("error: login_required [personal]") and "jingyun login" in err
    assert not target.exists()


def test_a_self_declared_role_no_longer_grants_raw_data(ws: Settings, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "out.csv"
    err = one_line_refusal(*run(["segment", "export", "zj", str(target), "--personal", "--role", "manager"], capsys))
    assert "role_flag_removed [role]" in err and "jingyun login" in err
    assert not target.exists()
    one_line_refusal(*run(["profile", "u1", "--role", "admin", "--json"], capsys))


def test_a_manager_sign_in_exports_raw_rows_audited_with_the_actor(
        ws: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("JINGYUN_EXPORT_ALERT_ROWS", "1")
    person(ws, "boss", "manager")
    login("boss", monkeypatch, capsys)
    target = tmp_path / "out.csv"
    code, out, err = run(["segment", "export", "zj", str(target), "--personal", "--json"], capsys)
    assert code == 0, err
    assert json.loads(out) == {"segment": "zj", "path": str(target), "rows": 2, "deidentified": False}
    text = target.read_text(encoding="utf-8-sig")
    assert PHONE in text and NAME in text and ADDRESS in text
    [entry] = audit(ws, "export")
    assert (entry["actor"], entry["actor_role"], entry["target"]) == ("boss", "manager", "segment:zj")
    assert entry["detail"] == {"command": "segment export", "rows": 2, "deidentified": False, "via": "cli",
                               "purpose": "analytics"}  # what the export is for (marketing: consented only)
    assert PHONE not in json.dumps(entry, ensure_ascii=False)
    _, alerts = Auditor(open_store(ws), load_service_settings(ws)).alerts()
    assert [(a["kind"], a["actor"]) for a in alerts if a["kind"] == "bulk_export"] == [("bulk_export", "boss")]


def test_a_specialist_sign_in_gets_de_identified_rows_only(
        ws: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    person(ws, "clerk", "specialist")
    login("clerk", monkeypatch, capsys)
    err = one_line_refusal(*run(["segment", "export", "zj", str(tmp_path / "raw.csv"), "--personal"], capsys))
    assert "forbidden [personal]" in err and "specialist" in err
    target = tmp_path / "out.csv"
    assert run(["segment", "export", "zj", str(target)], capsys)[0] == 0
    with target.open(encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    text = target.read_text(encoding="utf-8-sig")
    assert PHONE not in text and NAME not in text and ADDRESS not in text
    assert hashed(ws, PHONE) in text and {r["user_id"] for r in rows} == {"u1", "u2"}
    [entry] = audit(ws, "export")
    assert (entry["actor"], entry["actor_role"]) == ("clerk", "specialist")
    assert entry["detail"] == {"command": "segment export", "rows": 2, "deidentified": True, "via": "cli",
                               "purpose": "analytics"}
    code, out, _ = run(["query", "SELECT phone, name FROM users", "--json"], capsys)
    assert code == 0 and PHONE not in out and NAME not in out and hashed(ws, PHONE) in out


def test_query_without_a_credential_prints_pseudonyms_whatever_the_alias(
        ws: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["query", "SELECT phone FROM users", "--json"], capsys)
    assert code == 0 and PHONE not in out
    assert [r["phone"] for r in json.loads(out)["rows"]] == [hashed(ws, PHONE)] * 2
    for sql in ("SELECT phone AS p, name AS who, address AS a FROM users",
                "WITH t AS (SELECT name AS x, phone AS y FROM users) SELECT * FROM t",
                "SELECT * FROM users"):
        code, out, err = run(["query", sql, "--json"], capsys)
        assert code == 0, err
        assert PHONE not in out and NAME not in out and ADDRESS not in out, sql
        assert hashed(ws, PHONE) in out
    code, out, _ = run(["query", "SELECT address AS a FROM users WHERE user_id = 'u1'"], capsys)
    assert code == 0 and "浙江省" in out and "文三路" not in out  # an address becomes its province
    assert audit(ws, "read_personal") == []  # nothing raw was read


def test_check_prints_no_raw_phone(ws: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["check", "duplicate_users_by_phone", "--json"], capsys)
    [result] = json.loads(out)["checks"]
    assert code == 0 and result["count"] == 1
    assert PHONE not in out and hashed(ws, PHONE) in result["rows"][0]  # the pseudonym, not hashed twice
    code, out, _ = run(["check", "duplicate_users_by_phone"], capsys)
    assert code == 0 and PHONE not in out


def test_a_raw_role_sees_query_and_check_rows_in_clear_and_is_audited(
        ws: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    person(ws, "root", "admin")
    login("root", monkeypatch, capsys)
    code, out, _ = run(["query", "SELECT count(*) AS n FROM users", "--json"], capsys)
    assert code == 0 and json.loads(out)["rows"] == [{"n": 2}]
    assert audit(ws, "read_personal") == []  # an aggregate reads nothing personal
    code, out, _ = run(["query", "SELECT user_id, phone FROM users ORDER BY user_id", "--json"], capsys)
    assert code == 0 and json.loads(out)["rows"] == [{"user_id": "u1", "phone": PHONE}, {"user_id": "u2", "phone": PHONE}]
    entries = audit(ws, "read_personal")
    assert [(e["actor"], e["actor_role"], e["target"]) for e in entries] == [("root", "admin", "query")]
    assert entries[0]["detail"] == {"command": "query", "rows": 2, "columns": ["phone"], "deidentified": False,
                                    "via": "cli"}
    assert PHONE not in json.dumps(entries, ensure_ascii=False)


def test_profile_is_raw_only_for_a_raw_role_and_every_read_is_audited(
        ws: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["profile", "u1", "--json"], capsys)
    assert code == 0 and PHONE not in out and NAME not in out and json.loads(out)["masked"] is True
    person(ws, "boss", "manager")
    login("boss", monkeypatch, capsys)
    code, out, _ = run(["profile", "u1", "--json"], capsys)
    assert code == 0 and json.loads(out)["attributes"]["phone"] == PHONE
    anonymous, signed_in = audit(ws, "read_personal")
    assert str(anonymous["actor"]).startswith("cli:") and anonymous["detail"]["deidentified"] is True  # type: ignore[index]
    assert (signed_in["actor"], signed_in["actor_role"], signed_in["target"]) == ("boss", "manager", "person:u1")


def test_a_password_reset_ends_the_cli_session(ws: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    person(ws, "boss", "manager")
    login("boss", monkeypatch, capsys)
    assert run(["query", "SELECT phone FROM users"], capsys)[0] == 0
    assert run(["admin", "reset-password", "boss", "--password", "a brand new password"], capsys)[0] == 0
    for args in (["segment", "export", "zj", str(tmp_path / "x.csv"), "--personal"], ["profile", "u1"],
                 ["query", "SELECT phone FROM users"], ["check"], ["whoami"]):
        err = one_line_refusal(*run(args, capsys))
        assert "session_ended [credential]" in err and "jingyun login" in err, args
    assert not (tmp_path / "x.csv").exists()


def test_the_credential_file_is_private_and_logout_revokes_it(
        ws: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    person(ws, "boss", "manager")
    login("boss", monkeypatch, capsys)
    path = credential_path(ws)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token = json.loads(path.read_text(encoding="utf-8"))["token"]
    assert auth.session_principal(open_store(ws), token) is not None
    path.chmod(0o644)
    err = one_line_refusal(*run(["whoami"], capsys))
    assert "credential_exposed [credential]" in err
    path.chmod(0o600)
    code, out, _ = run(["whoami", "--json"], capsys)
    assert code == 0 and json.loads(out) == {"signed_in": True, "name": "boss", "role": "manager", "kind": "session",
                                             "sees_personal_data": True}
    assert run(["logout"], capsys)[:2] == (0, "signed out boss\n")
    assert not path.exists()
    assert auth.session_principal(open_store(ws), token) is None  # ended server-side, not only forgotten here
    code, out, _ = run(["whoami"], capsys)
    assert code == 0 and out.startswith("not signed in")
    assert [e["actor"] for e in audit(ws, "logout")] == ["boss"]


def test_a_wrong_password_is_refused_and_audited(ws: Settings, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    person(ws, "boss", "manager")
    monkeypatch.setenv("JINGYUN_PASSWORD", "not the password")
    err = one_line_refusal(*run(["login", "-u", "boss"], capsys))
    assert "bad_credentials" in err
    assert not credential_path(ws).exists()
    assert [(e["actor"], e["outcome"]) for e in audit(ws, "login_failed")] == [("boss", "failed")]


def test_an_api_key_identifies_but_never_sees_raw_data(ws: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    key, plaintext = auth.create_api_key(open_store(ws), name="bi", scope="read", role="manager")
    monkeypatch.setenv("JINGYUN_API_KEY", plaintext)
    err = one_line_refusal(*run(["segment", "export", "zj", str(tmp_path / "x.csv"), "--personal"], capsys))
    assert "forbidden [personal]" in err and "API key" in err
    code, out, _ = run(["query", "SELECT phone FROM users", "--json"], capsys)
    assert code == 0 and PHONE not in out and hashed(ws, PHONE) in out
    assert run(["profile", "u1"], capsys)[0] == 0
    [entry] = audit(ws, "read_personal")
    assert (entry["actor"], entry["actor_role"]) == (f"key:{key.prefix}", "manager")
    _, ingest_key = auth.create_api_key(open_store(ws), name="pos", scope="ingest")
    err = one_line_refusal(*run(["query", "SELECT phone FROM users", "--api-key", ingest_key], capsys))
    assert "ingest key" in err
    auth.revoke_api_key(open_store(ws), key.prefix)
    err = one_line_refusal(*run(["profile", "u1"], capsys))
    assert "bad_credential [api_key]" in err


def test_quarantined_payloads_are_de_identified_without_a_raw_role(
        ws: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "u.ndjson"
    bad.write_text(json.dumps({"user_id": "u9", "name": NAME, "phone": "13700001111", "registered_at": "nope",
                               "note": "call 13700002222"}, ensure_ascii=False) + "\n", encoding="utf-8")
    assert run(["ingest", "users", str(bad)], capsys)[0] == 0
    code, out, _ = run(["quarantine", "list", "--json"], capsys)
    [row] = json.loads(out)["rows"]
    assert code == 0 and "13700001111" not in out and "13700002222" not in out and NAME not in out
    assert hashed(ws, "13700001111") in row["raw"]
    code, out, _ = run(["quarantine", "show", str(row["qid"])], capsys)
    assert code == 0 and "13700001111" not in out and NAME not in out
    person(ws, "root", "admin")
    login("root", monkeypatch, capsys)
    code, out, _ = run(["quarantine", "show", str(row["qid"]), "--json"], capsys)
    assert code == 0 and "13700001111" in out
    assert [(e["actor"], e["target"]) for e in audit(ws, "read_personal")] == [("root", f"quarantine:{row['qid']}")]


def test_a_metric_breakdown_by_a_personal_column_needs_a_raw_role(
        ws: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    with Warehouse.open(ws) as wh:
        wh.con.execute("INSERT INTO orders (order_id, user_id, person_id, ts, amount, status, is_test, _ingested_at) "
                       "VALUES ('o1', 'u1', 'u1', TIMESTAMP '2026-01-02 03:00:00', 100, 'paid', FALSE, now())")
    args = ["metrics", "compute", "gmv", "--from", "2026-01-01", "--to", "2026-01-31", "--grain", "total", "--json"]
    code, plain, err = run(args, capsys)
    assert code == 0, err  # an aggregate: no credential asked
    err = one_line_refusal(*run([*args, "--by", "users.phone"], capsys))
    assert "login_required [by]" in err and "jingyun login" in err
    person(ws, "clerk", "specialist")
    login("clerk", monkeypatch, capsys)
    assert "sensitive_field [by]" in one_line_refusal(*run([*args, "--by", "users.phone"], capsys))
    assert run(args, capsys)[1] == plain  # the aggregate prints exactly what it printed before
    person(ws, "boss", "manager")
    login("boss", monkeypatch, capsys)
    code, out, _ = run([*args, "--by", "users.phone"], capsys)
    assert code == 0 and [p["by_value"] for p in json.loads(out)["points"]] == [PHONE]
    [entry] = audit(ws, "export")
    assert (entry["actor"], entry["target"], entry["detail"]["by"]) == ("boss", "metric:gmv", "users.phone")  # type: ignore[index]


def test_scheduled_jobs_do_not_act_as_the_signed_in_person(
        ws: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    person(ws, "boss", "manager")
    login("boss", monkeypatch, capsys)
    monkeypatch.setenv("JINGYUN_CLI_SESSION", "off")  # what the scheduler sets for its child processes
    code, out, _ = run(["query", "SELECT phone FROM users", "--json"], capsys)
    assert code == 0 and PHONE not in out and hashed(ws, PHONE) in out
    assert audit(ws, "read_personal") == []
