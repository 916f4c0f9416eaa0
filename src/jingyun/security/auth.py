"""Authentication: passwords (argon2id), lockout, console sessions, API keys
and signed bearer tokens.

- Passwords: argon2id hashes; after ``lockout_failures`` (5) wrong passwords
  in a row the account is locked for ``lockout_minutes`` (15), and while it is
  locked the password is not even checked (no oracle).
- Sessions and API keys are random 256-bit secrets; only their SHA-256 is
  stored (a slow hash adds nothing for random secrets and would cost every
  ingestion call ~50 ms).
- Bearer tokens are JWS compact HS256, signed with a sub-key of the secret:
  the header must say exactly HS256 (``none`` and every other alg refused),
  ``exp`` and ``aud`` are required and enforced.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from jingyun.errors import JingyunError
from jingyun.security.config import ServiceSettings
from jingyun.security.roles import Principal, check_role
from jingyun.store import ApiKey, Department, Person, Store, WebSession
from jingyun.store.models import utcnow

_hasher = PasswordHasher()
MIN_PASSWORD = 10


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise JingyunError("weak_password", f"password must have at least {MIN_PASSWORD} characters", "password", status=422)
    return _hasher.hash(password)


def _verify(hash_: str, password: str) -> bool:
    try:
        return _hasher.verify(hash_, password)
    except (VerificationError, InvalidHashError):
        return False


def principal_for(person: Person, kind: str) -> Principal:
    return Principal(name=person.username, role=check_role(person.role), kind=kind,  # type: ignore[arg-type]
                     departments=frozenset(d.id for d in person.departments), person_id=person.id)


# -- people ----------------------------------------------------------------------------------
def departments_by_name(ses: Session, names: list[str]) -> list[Department]:
    found = []
    for name in names:
        dep = ses.scalar(select(Department).where(Department.name == name))
        if dep is None:
            dep = Department(name=name)
            ses.add(dep)
            ses.flush()
        found.append(dep)
    return found


def create_person(store: Store, *, username: str, password: str, role: str, display_name: str = "",
                  departments: list[str] | None = None, email: str | None = None, phone: str | None = None,
                  service: ServiceSettings | None = None) -> Person:
    from jingyun.security.crypto import FieldCipher

    check_role(role)
    if not username or len(username) > 100:
        raise JingyunError("bad_username", "username must be 1-100 characters", "username", status=422)
    cipher = FieldCipher(service) if service and (email or phone) else None
    with store.session() as ses:
        if ses.scalar(select(Person).where(Person.username == username)) is not None:
            raise JingyunError("exists", f"user {username!r} already exists", "username", status=409)
        person = Person(username=username, display_name=display_name or username, role=role,
                        password_hash=hash_password(password), failed_logins=0, disabled=False,
                        departments=departments_by_name(ses, departments or []))
        if cipher:
            person.email_enc = cipher.encrypt(email, "email_enc")
            person.phone_enc = cipher.encrypt(phone, "phone_enc")
        ses.add(person)
        ses.flush()
        ses.refresh(person)
        return person


def reset_password(store: Store, username: str, password: str) -> None:
    with store.session() as ses:
        person = ses.scalar(select(Person).where(Person.username == username))
        if person is None:
            raise JingyunError("not_found", f"no user {username!r}", "username", status=404)
        person.password_hash = hash_password(password)
        person.failed_logins = 0
        person.locked_until = None
        ses.execute(update(WebSession).where(WebSession.person_id == person.id).values(revoked=True))


@dataclass(frozen=True)
class LoginResult:
    person: Person | None
    outcome: str  # ok | bad_credentials | locked | just_locked
    failures: int = 0


def authenticate(store: Store, service: ServiceSettings, username: str, password: str,
                 now: dt.datetime | None = None) -> LoginResult:
    """Check a password with lockout. Never raises for bad input: the caller audits the outcome."""
    now = now or utcnow()
    with store.session() as ses:
        person = ses.scalar(select(Person).where(Person.username == username))
        if person is None or person.disabled:
            _verify(_DUMMY, password)  # same time as a real check: no user-enumeration oracle
            return LoginResult(None, "bad_credentials")
        if person.locked_until is not None and person.locked_until > now:
            return LoginResult(None, "locked", person.failed_logins)
        if _verify(person.password_hash, password):
            person.failed_logins = 0
            person.locked_until = None
            return LoginResult(person, "ok")
        person.failed_logins += 1
        if person.failed_logins >= service.lockout_failures:
            person.locked_until = now + dt.timedelta(minutes=service.lockout_minutes)
            failures, person.failed_logins = person.failed_logins, 0
            return LoginResult(None, "just_locked", failures)
        return LoginResult(None, "bad_credentials", person.failed_logins)


_DUMMY = _hasher.hash("not-a-real-password-0000")


# -- sessions --------------------------------------------------------------------------------
def create_session(store: Store, service: ServiceSettings, person_id: int) -> str:
    token = secrets.token_urlsafe(32)
    with store.session() as ses:
        ses.add(WebSession(token_hash=sha256_hex(token), person_id=person_id,
                           expires_at=utcnow() + dt.timedelta(hours=service.session_hours), revoked=False))
    return token


def session_principal(store: Store, token: str) -> Principal | None:
    with store.session() as ses:
        row = ses.get(WebSession, sha256_hex(token))
        if row is None or row.revoked or row.expires_at <= utcnow():
            return None
        person = ses.get(Person, row.person_id)
        if person is None or person.disabled:
            return None
        return principal_for(person, "session")


def revoke_session(store: Store, token: str) -> None:
    with store.session() as ses:
        row = ses.get(WebSession, sha256_hex(token))
        if row is not None:
            row.revoked = True


# -- API keys --------------------------------------------------------------------------------
def create_api_key(store: Store, *, name: str, scope: str, role: str = "analyst", department: str | None = None,
                   created_by: str = "") -> tuple[ApiKey, str]:
    """A new key; the plaintext is returned once and never stored."""
    if scope not in ("ingest", "read"):
        raise JingyunError("bad_scope", "scope must be ingest or read", "scope", status=422)
    check_role(role)
    prefix = secrets.token_hex(6)
    plaintext = f"jy_{prefix}_{secrets.token_urlsafe(32)}"
    with store.session() as ses:
        dep_id = departments_by_name(ses, [department])[0].id if department else None
        key = ApiKey(prefix=prefix, key_hash=sha256_hex(plaintext), name=name, scope=scope, role=role,
                     department_id=dep_id, created_by=created_by)
        ses.add(key)
        ses.flush()
        ses.refresh(key)
        return key, plaintext


def api_key_principal(store: Store, plaintext: str) -> Principal | None:
    parts = plaintext.split("_", 2)
    if len(parts) != 3 or parts[0] != "jy":
        return None
    with store.session() as ses:
        key = ses.scalar(select(ApiKey).where(ApiKey.prefix == parts[1]))
        if key is None or key.revoked_at is not None:
            return None
        if not hmac.compare_digest(key.key_hash, sha256_hex(plaintext)):
            return None
        deps = frozenset({key.department_id}) if key.department_id else frozenset()
        return Principal(name=f"key:{key.prefix}", role=check_role(key.role), kind="api_key", departments=deps,
                         scope=key.scope)  # type: ignore[arg-type]


def revoke_api_key(store: Store, prefix: str) -> None:
    with store.session() as ses:
        key = ses.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
        if key is None:
            raise JingyunError("not_found", f"no API key {prefix}", "prefix", status=404)
        key.revoked_at = key.revoked_at or utcnow()


# -- bearer tokens (JWS HS256) ---------------------------------------------------------------
def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue_token(service: ServiceSettings, username: str, *, ttl_seconds: int = 3600,
                audience: str | None = None, now: dt.datetime | None = None) -> str:
    issued = int((now or dt.datetime.now(dt.UTC)).timestamp())
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = {"sub": username, "aud": audience or service.token_audience, "iat": issued, "exp": issued + ttl_seconds}
    body = _b64(json.dumps(claims).encode())
    sig = hmac.new(service.derive("token-signing"), f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{_b64(sig)}"


def verify_token(service: ServiceSettings, token: str, now: dt.datetime | None = None) -> dict[str, Any]:
    """The token's claims, or JingyunError(401) saying what is wrong."""
    def bad(why: str) -> JingyunError:
        return JingyunError("bad_token", why, "Authorization", status=401)

    try:
        header_b64, body_b64, sig_b64 = token.split(".")
        header = json.loads(_unb64(header_b64))
        claims = json.loads(_unb64(body_b64))
        sig = _unb64(sig_b64)
    except (ValueError, TypeError):
        raise bad("the bearer token is not a well-formed JWS") from None
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        raise bad("the token's alg must be HS256 (none and others are refused)")
    expected = hmac.new(service.derive("token-signing"), f"{header_b64}.{body_b64}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(sig, expected):
        raise bad("the token's signature does not verify")
    if not isinstance(claims, dict) or not isinstance(claims.get("exp"), int | float):
        raise bad("the token has no exp claim")
    if claims["exp"] <= (now or dt.datetime.now(dt.UTC)).timestamp():
        raise bad("the token has expired")
    aud = claims.get("aud")
    auds = aud if isinstance(aud, list) else [aud]
    if service.token_audience not in auds:
        raise bad(f"the token's aud must include {service.token_audience}")
    if not isinstance(claims.get("sub"), str):
        raise bad("the token has no sub claim")
    return claims


def token_principal(store: Store, service: ServiceSettings, token: str) -> Principal:
    claims = verify_token(service, token)
    with store.session() as ses:
        person = ses.scalar(select(Person).where(Person.username == claims["sub"]))
        if person is None or person.disabled:
            raise JingyunError("bad_token", "the token's user no longer exists", "Authorization", status=401)
        return principal_for(person, "token")
