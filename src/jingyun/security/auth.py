"""Authentication: passwords (argon2id), sign-in, sessions, API keys and
signed bearer tokens.

- Passwords: argon2id hashes. Wrong guesses are slowed by
  :mod:`jingyun.security.throttle` (per address and per name, never a lockout);
  an unknown or disabled name costs the same hash check as a real one.
- Sessions, refresh tokens and API keys are random 256-bit secrets; only their
  SHA-256 is stored (a slow hash adds nothing for random secrets and would cost
  every ingestion call ~50 ms).
- Bearer tokens are JWS compact HS256, signed with a sub-key of the secret:
  the header must say exactly HS256 (``none`` and every other alg refused),
  ``exp``, ``aud`` and ``ver`` are required and enforced; they live an hour.
- Every credential of a person carries the person's ``token_version``: the
  bearer token as the ``ver`` claim, the session row (cookie and refresh
  token) as a column. Sign-out, a password reset, disabling the account or a
  change of role raise the version, which ends them all in one UPDATE. We
  chose a version over a session-id claim because the check reads only the
  person row the request loads anyway, and one write reaches every token
  ever issued, including ones no session table knows.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
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
from jingyun.security.audit import Auditor
from jingyun.security.config import ServiceSettings
from jingyun.security.roles import Principal, check_role
from jingyun.security.throttle import LoginThrottle
from jingyun.store import ApiKey, Department, Person, Store, WebSession
from jingyun.store.models import utcnow

MIN_PASSWORD = 10


@functools.cache
def _hasher_with(time_cost: int, memory_kib: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib)


def _hasher() -> PasswordHasher:
    """Argon2id at the configured cost (``JINGYUN_PASSWORD_HASH_*``); verifying reads the cost from the hash."""
    from jingyun.security.config import read_service_config

    cfg = read_service_config()
    return _hasher_with(cfg.password_hash_time_cost, cfg.password_hash_memory_kib)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise JingyunError("weak_password", f"password must have at least {MIN_PASSWORD} characters", "password", status=422)
    return _hasher().hash(password)


def _verify(hash_: str, password: str) -> bool:
    try:
        return _hasher().verify(hash_, password)
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
                        password_hash=hash_password(password), disabled=False,
                        departments=departments_by_name(ses, departments or []))
        if cipher:
            person.email_enc = cipher.encrypt(email, "email_enc")
            person.phone_enc = cipher.encrypt(phone, "phone_enc")
        ses.add(person)
        ses.flush()
        ses.refresh(person)
        return person


def revoke_credentials(ses: Session, person_id: int) -> None:
    """End every session, refresh token and bearer token of a person (in the caller's unit of work)."""
    ses.execute(update(Person).where(Person.id == person_id).values(token_version=Person.token_version + 1))
    ses.execute(update(WebSession).where(WebSession.person_id == person_id).values(revoked=True))


def reset_password(store: Store, username: str, password: str) -> None:
    with store.session() as ses:
        person = ses.scalar(select(Person).where(Person.username == username))
        if person is None:
            raise JingyunError("not_found", f"no user {username!r}", "username", status=404)
        person.password_hash = hash_password(password)
        ses.flush()
        revoke_credentials(ses, person.id)


@dataclass(frozen=True)
class LoginResult:
    person: Person | None
    outcome: str  # ok | bad_credentials


def authenticate(store: Store, service: ServiceSettings, username: str, password: str) -> LoginResult:
    """Check a password. Never raises for bad input: the caller throttles and audits the outcome."""
    with store.session() as ses:
        person = ses.scalar(select(Person).where(Person.username == username))
        if person is None or person.disabled:
            _verify(_dummy_hash(), password)  # same time as a real check: no user-enumeration oracle
            return LoginResult(None, "bad_credentials")
        if _verify(person.password_hash, password):
            return LoginResult(person, "ok")
        return LoginResult(None, "bad_credentials")


@functools.cache
def _dummy_hash() -> str:
    """A hash to check unknown names against, made on first use (an argon2 hash costs ~0.2 s: not at import)."""
    return _hasher().hash("not-a-real-password-0000")


def sign_in(store: Store, service: ServiceSettings, throttle: LoginThrottle, auditor: Auditor, *, username: str,
            password: str, address: str, request_id: str = "", via: str = "api") -> Person:
    """The person behind a right password, or 429 (throttled) / 401; throttled and audited here.

    Every refusal is the same for a real and an unknown name: the throttle is keyed by what was
    typed, and the 401 names no account.
    """
    throttle.check(username, address)
    result = authenticate(store, service, username, password)
    detail = {} if via == "api" else {"via": via}
    if result.person is None:
        # what was typed may name nobody: it is logged as typed, never trusted as an actor
        auditor.log(actor=username[:100], action="login_failed", outcome="failed",
                    detail={"why": result.outcome, **detail}, request_id=request_id)
        for scope, failures in throttle.failed(username, address):
            auditor.log(actor=username[:100], action="login_throttled", outcome="failed", request_id=request_id,
                        detail={"scope": scope, "failures": failures, **detail})
        raise JingyunError("bad_credentials", "wrong username or password", "password", status=401)
    throttle.succeeded(username, address)
    auditor.log(actor=result.person.username, role=result.person.role, action="login", detail=detail,
                request_id=request_id)
    return result.person


# -- sessions --------------------------------------------------------------------------------
ACCESS_TOKEN_SECONDS = 3600


@dataclass(frozen=True)
class NewSession:
    cookie: str
    refresh_token: str | None
    expires_at: dt.datetime  # naive UTC, like the store


def open_session(store: Store, service: ServiceSettings, person_id: int, *, refresh: bool = False) -> NewSession:
    """A new sign-in of ``session_hours``, with a refresh token when asked (the API's sign-in)."""
    cookie = secrets.token_urlsafe(32)
    refresh_token = secrets.token_urlsafe(32) if refresh else None
    expires = utcnow() + dt.timedelta(hours=service.session_hours)
    with store.session() as ses:
        person = ses.get(Person, person_id)
        if person is None:
            raise JingyunError("not_found", "no such person", "person_id", status=404)
        ses.add(WebSession(token_hash=sha256_hex(cookie), person_id=person_id, expires_at=expires, revoked=False,
                           token_version=person.token_version,
                           refresh_hash=sha256_hex(refresh_token) if refresh_token else None))
    return NewSession(cookie, refresh_token, expires)


def create_session(store: Store, service: ServiceSettings, person_id: int) -> str:
    """A new session without a refresh token; its cookie token."""
    return open_session(store, service, person_id).cookie


def _live(ses: Session, row: WebSession | None) -> Person | None:
    if row is None or row.revoked or row.expires_at <= utcnow():
        return None
    person = ses.get(Person, row.person_id)
    if person is None or person.disabled or person.token_version != row.token_version:
        return None
    return person


def session_principal(store: Store, token: str) -> Principal | None:
    with store.session() as ses:
        person = _live(ses, ses.get(WebSession, sha256_hex(token)))
        return principal_for(person, "session") if person else None


def revoke_session(store: Store, token: str) -> None:
    """End one session (the CLI replacing its own); sign-out ends them all with :func:`revoke_credentials`."""
    with store.session() as ses:
        row = ses.get(WebSession, sha256_hex(token))
        if row is not None:
            row.revoked = True


def sign_out(store: Store, person_id: int) -> None:
    with store.session() as ses:
        revoke_credentials(ses, person_id)


@dataclass(frozen=True)
class Refreshed:
    person: Person
    access_token: str
    expires_in: int
    refresh_token: str


def access_token(service: ServiceSettings, person: Person, session_expires: dt.datetime) -> tuple[str, int]:
    """A bearer token for an hour at most, and never past the end of its session."""
    left = int((session_expires - utcnow()).total_seconds())
    ttl = max(1, min(ACCESS_TOKEN_SECONDS, left))
    return issue_token(service, person.username, ttl_seconds=ttl, version=person.token_version), ttl


def refresh(store: Store, service: ServiceSettings, refresh_token: str) -> Refreshed:
    """Rotate a refresh token: a new access token and a new refresh token, the old one spent.

    A spent refresh token presented again means two holders: the session it belonged to is
    ended, so whichever of them was the thief is signed out (OAuth 2.0 security BCP, 4.14).
    """
    digest = sha256_hex(refresh_token)
    bad = JingyunError("bad_token", "the refresh token is not valid (expired, spent or signed out); sign in again",
                       "refresh_token", status=401)
    with store.session() as ses:
        row = ses.scalar(select(WebSession).where(WebSession.refresh_hash == digest))
        if row is None:
            replayed = ses.scalar(select(WebSession).where(WebSession.refresh_prev_hash == digest))
            if replayed is not None:
                replayed.revoked = True
        person = _live(ses, row) if row is not None else None
        if row is None or person is None:
            ses.commit()  # keep the revocation of a replayed family
            raise bad
        new = secrets.token_urlsafe(32)
        row.refresh_prev_hash, row.refresh_hash = digest, sha256_hex(new)
        token, ttl = access_token(service, person, row.expires_at)
        return Refreshed(person, token, ttl, new)


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


def issue_token(service: ServiceSettings, username: str, *, ttl_seconds: int = ACCESS_TOKEN_SECONDS,
                version: int = 0, audience: str | None = None, now: dt.datetime | None = None) -> str:
    """A signed bearer token; ``version`` is the person's ``token_version`` (0 until their first sign-out)."""
    if not 0 < ttl_seconds <= ACCESS_TOKEN_SECONDS:
        raise ValueError(f"a bearer token lives 1 to {ACCESS_TOKEN_SECONDS} seconds")
    issued = int((now or dt.datetime.now(dt.UTC)).timestamp())
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = {"sub": username, "aud": audience or service.token_audience, "iat": issued, "exp": issued + ttl_seconds,
              "ver": version}
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
    if type(claims.get("ver")) is not int:
        raise bad("the token has no ver claim; sign in again")
    return claims


def token_principal(store: Store, service: ServiceSettings, token: str) -> Principal:
    claims = verify_token(service, token)
    with store.session() as ses:
        person = ses.scalar(select(Person).where(Person.username == claims["sub"]))
        if person is None or person.disabled:
            raise JingyunError("bad_token", "the token's user no longer exists", "Authorization", status=401)
        if person.token_version != claims["ver"]:
            raise JingyunError("bad_token", "the token was revoked (signed out, new password or new role); "
                               "sign in again", "Authorization", status=401)
        return principal_for(person, "token")
