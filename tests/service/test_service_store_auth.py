"""Store (SQLite and PostgreSQL), passwords and revocation, tokens, API keys, encryption, audit alerts."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from jingyun.config import load_settings
from jingyun.errors import JingyunError
from jingyun.security import auth
from jingyun.security.audit import Auditor
from jingyun.security.config import ServiceSettings
from jingyun.security.crypto import FieldCipher, rotate_store
from jingyun.store import IdempotencyKey, Person, Store, open_store

SERVICE = ServiceSettings(secret=b"s" * 32, mask_salt=b"salt")


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path) -> Iterator[Store]:
    settings = load_settings(tmp_path)
    if request.param == "sqlite":
        st = open_store(settings)
    else:
        url = request.getfixturevalue("pg_url")
        st = open_store(settings, url)
        with st.engine.begin() as con:  # a clean schema per test on the shared server
            con.execute(text("DROP SCHEMA public CASCADE"))
            con.execute(text("CREATE SCHEMA public"))
        st.migrate()
    yield st
    st.close()


def test_store_round_trip_and_append_only_audit(store: Store) -> None:
    auth.create_person(store, username="amy", password="long-enough-pw", role="manager", departments=["growth", "stores"])
    with pytest.raises(JingyunError, match="already exists"):
        auth.create_person(store, username="amy", password="long-enough-pw", role="manager")
    auditor = Auditor(store, SERVICE)
    auditor.log(actor="amy", role="manager", action="login")
    total, rows = auditor.query(action="login")
    assert total == 1 and rows[0].actor == "amy"
    for stmt in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError), store.engine.begin() as con:
            con.execute(text(stmt))
    assert auditor.query()[0] == 1
    with store.session() as ses:
        ses.add(IdempotencyKey(principal="p", key="k", route="r", request_hash="h", status_code=200, response="{}"))
    with pytest.raises(IntegrityError), store.session() as ses:
        ses.add(IdempotencyKey(principal="p", key="k", route="r", request_hash="h", status_code=200, response="{}"))
    with store.session() as ses:
        person = ses.query(Person).one()
        assert person.department_names == ["growth", "stores"]


def test_no_lockout_and_every_credential_ends_with_a_new_version(store: Store) -> None:
    """Wrong passwords never lock (throttling is the service's, per address and name); a password reset
    raises the person's token version, which ends the sessions and the bearer tokens issued before."""
    bob = auth.create_person(store, username="bob", password="right-password", role="analyst")
    assert [auth.authenticate(store, SERVICE, "bob", "wrong").outcome for _ in range(6)] == ["bad_credentials"] * 6
    assert auth.authenticate(store, SERVICE, "bob", "right-password").outcome == "ok"
    assert auth.authenticate(store, SERVICE, "nobody", "x").outcome == "bad_credentials"
    session = auth.open_session(store, SERVICE, bob.id, refresh=True)
    assert session.refresh_token is not None
    token = auth.issue_token(SERVICE, "bob", version=bob.token_version)
    assert auth.session_principal(store, session.cookie) is not None
    assert auth.token_principal(store, SERVICE, token).name == "bob"
    auth.reset_password(store, "bob", "another-password")
    assert auth.session_principal(store, session.cookie) is None
    with pytest.raises(JingyunError, match="revoked"):
        auth.token_principal(store, SERVICE, token)
    with pytest.raises(JingyunError, match="refresh token is not valid"):
        auth.refresh(store, SERVICE, session.refresh_token)


def test_tokens_refuse_none_bad_signature_expiry_and_audience(store: Store) -> None:
    auth.create_person(store, username="cat", password="right-password", role="admin")
    good = auth.issue_token(SERVICE, "cat")
    assert auth.token_principal(store, SERVICE, good).role == "admin"
    header, body, _ = good.split(".")
    none_header = base64.urlsafe_b64encode(json.dumps({"alg": "none"}).encode()).rstrip(b"=").decode()
    cases = {
        "alg must be HS256": f"{none_header}.{body}.",
        "signature": f"{header}.{body}.{'A' * 43}",
        "expired": auth.issue_token(SERVICE, "cat", now=dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)),
        "aud": auth.issue_token(SERVICE, "cat", audience="someone-else"),
        "well-formed": "not-a-token",
    }
    other = ServiceSettings(secret=b"o" * 32)
    cases["signature does not verify"] = auth.issue_token(other, "cat")
    for why, token in cases.items():
        with pytest.raises(JingyunError, match=why.split()[0]):
            auth.token_principal(store, SERVICE, token)


def test_api_keys_are_hashed_scoped_and_revocable(store: Store) -> None:
    key, plaintext = auth.create_api_key(store, name="gw", scope="ingest")
    assert plaintext not in key.key_hash and key.key_hash == auth.sha256_hex(plaintext)
    principal = auth.api_key_principal(store, plaintext)
    assert principal is not None and principal.may("events:ingest") and not principal.may("schema:read")
    assert auth.api_key_principal(store, plaintext[:-1] + ("x" if plaintext[-1] != "x" else "y")) is None
    auth.revoke_api_key(store, key.prefix)
    assert auth.api_key_principal(store, plaintext) is None


def test_field_encryption_and_rotation(store: Store) -> None:
    old = ServiceSettings(secret=b"old-secret-123456")
    auth.create_person(store, username="dan", password="right-password", role="analyst", email="dan@corp.cn",
                       phone="+8613700000000", service=old)
    with store.session() as ses:
        token = ses.query(Person).one().email_enc
    assert token is not None and "dan@corp.cn" not in token
    assert FieldCipher(old).decrypt(token, "email_enc") == "dan@corp.cn"
    with pytest.raises(JingyunError):
        FieldCipher(old).decrypt(token, "phone_enc")  # bound to its column
    new = ServiceSettings(secret=b"new-secret-654321", old_secrets=(b"old-secret-123456",))
    assert rotate_store(store, new) == 2
    with store.session() as ses:
        person = ses.query(Person).one()
    with pytest.raises(JingyunError, match="not configured"):
        FieldCipher(old).decrypt(person.email_enc, "email_enc")
    only_new = ServiceSettings(secret=b"new-secret-654321")
    assert FieldCipher(only_new).decrypt(person.phone_enc, "phone_enc") == "+8613700000000"


def test_alerts_for_bulk_export_off_hours_and_failed_logins(store: Store) -> None:
    auditor = Auditor(store, ServiceSettings(secret=b"s" * 32, export_alert_rows=100))
    working = dt.datetime(2024, 6, 3, 2, 0)  # Monday 10:00 in Shanghai
    night = dt.datetime(2024, 6, 3, 15, 0)  # Monday 23:00 in Shanghai
    auditor.log(actor="a", action="export", detail={"rows": 50}, now=working)
    auditor.log(actor="a", action="export", detail={"rows": 500}, now=working)
    auditor.log(actor="b", action="read_personal", target="user:1", now=night)
    auditor.log(actor="c", action="account_locked", detail={"failures": 5}, now=working)
    total, alerts = auditor.alerts()
    assert total == 3
    assert [(a["kind"], a["actor"]) for a in alerts] == [("bulk_export", "a"), ("off_hours", "b"), ("failed_logins", "c")]
    assert auditor.export_csv().count("\n") == 5


def test_model_registry_in_the_store(store: Store) -> None:
    """The model registry migrates into the metadata store on both databases."""
    from jingyun.models.registry import StoreRegistry

    reg = StoreRegistry(store)
    entry = reg.register("clv", data_start=None, data_end=dt.date(2026, 10, 1), params={"unit": "day"},
                         metrics={"r": 0.6})
    assert [e.model_id for e in reg.list("clv")] == [entry.model_id]
    assert reg.get(entry.model_id).metrics == {"r": 0.6}
