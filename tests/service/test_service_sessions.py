"""Issue 15, findings 5, 6 and 9 and the session settings of 10, over HTTP on a real app and store:

- sessions that can end: sign-out, `jingyun admin reset-password`, a new role and a disabled account end
  the cookie, the bearer tokens and the refresh tokens of that person at once; access tokens live an hour
  and are refreshed by a rotating refresh token;
- the session settings: lifetime, and the `Secure` cookie over HTTPS (or a trusted proxy's word);
- a foreign object and a missing one answer byte for byte alike;
- sign-in throttling: a real and an unknown name answer alike at every count, the wait grows, and an
  attacker's address never keeps the admin out.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from service_support import PASSWORD, Service

from jingyun.errors import JingyunError
from jingyun.security import auth
from jingyun.security.config import load_service_settings
from jingyun.security.throttle import LoginThrottle
from jingyun.store import Segment


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(svc: Service) -> Iterator[Clock]:
    """A fresh throttle on a clock the test moves; the flood guard (real time, 20/min) out of the way."""
    flood = svc.state.login_limiter
    fake = Clock()
    svc.state.login_throttle = LoginThrottle(svc.state.service, clock=fake)
    old = (flood.rate, flood.burst)
    flood.rate, flood.burst = 1e6, 1e6
    flood._buckets.clear()
    yield fake
    flood.rate, flood.burst = old
    flood._buckets.clear()
    svc.state.login_throttle = LoginThrottle(svc.state.service)


def _person(svc: Service, name: str, role: str = "analyst", departments: list[str] | None = None) -> None:
    auth.create_person(svc.state.store, username=name, password=PASSWORD, role=role, departments=departments or [],
                       service=svc.state.service)


def _client(svc: Service, address: str = "10.0.0.1", base_url: str = "http://testserver") -> TestClient:
    """Another caller of the same app, from its own address (not entered: the app's lifespan stays the fixture's)."""
    return TestClient(svc.client.app, client=(address, 40000), base_url=base_url)


def _login(c: TestClient, name: str, password: str = PASSWORD) -> httpx.Response:
    return c.post("/api/v1/auth/login", json={"username": name, "password": password})


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _claims(token: str) -> dict[str, object]:
    body = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))))


def _all_refused(svc: Service, login: httpx.Response) -> None:
    """The cookie, the bearer token and the refresh token of that sign-in are all dead."""
    c = _client(svc, "10.9.9.9")
    c.cookies.set("jingyun_session", login.cookies["jingyun_session"])
    assert c.get("/api/v1/me").status_code == 401
    assert c.get("/api/v1/me", headers=_bearer(login.json()["access_token"]), cookies={}).status_code == 401
    r = svc.client.post("/api/v1/auth/refresh", json={"refresh_token": login.json()["refresh_token"]})
    assert r.status_code == 401 and r.json()["error"]["field"] == "refresh_token"


# -- finding 5: sessions that can end ----------------------------------------------------------------
def test_logout_ends_every_session_and_token_of_the_person(svc: Service, clock: Clock) -> None:
    _person(svc, "leo")
    first, second = _login(_client(svc, "10.0.0.2"), "leo"), _login(_client(svc, "10.0.0.3"), "leo")
    assert first.status_code == second.status_code == 200
    assert svc.client.get("/api/v1/me", headers=_bearer(second.json()["access_token"])).json()["username"] == "leo"
    # sign out with the second sign-in's bearer token: the first one (another device) ends too
    assert svc.client.post("/api/v1/auth/logout", headers=_bearer(second.json()["access_token"])).status_code == 204
    _all_refused(svc, first)
    _all_refused(svc, second)
    assert _login(_client(svc, "10.0.0.2"), "leo").status_code == 200  # signing in again works


def test_reset_password_from_the_cli_ends_every_token(svc: Service, clock: Clock,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from jingyun.cli.main import main

    _person(svc, "mia")
    login = _login(_client(svc), "mia")
    assert svc.client.get("/api/v1/me", headers=_bearer(login.json()["access_token"])).status_code == 200
    monkeypatch.setenv("JINGYUN_HOME", str(svc.settings.home))
    assert main(["admin", "reset-password", "mia", "--password", "a-new-long-password"]) == 0
    _all_refused(svc, login)
    assert _login(_client(svc), "mia", "a-new-long-password").status_code == 200


def test_a_new_role_or_a_disabled_account_ends_every_token(svc: Service, clock: Clock) -> None:
    _person(svc, "ned")
    admin = svc.headers("admin")
    before_role = _login(_client(svc), "ned")
    assert svc.client.patch("/api/v1/admin/users/ned", json={"role": "manager"}, headers=admin).status_code == 200
    _all_refused(svc, before_role)
    # a change of departments only is no new role: nothing ends
    after_role = _login(_client(svc), "ned")
    assert svc.client.patch("/api/v1/admin/users/ned", json={"departments": ["growth"]}, headers=admin).status_code == 200
    assert svc.client.get("/api/v1/me", headers=_bearer(after_role.json()["access_token"])).status_code == 200
    # disabled, then enabled again: what was issued before stays dead
    assert svc.client.patch("/api/v1/admin/users/ned", json={"disabled": True}, headers=admin).status_code == 200
    assert svc.client.patch("/api/v1/admin/users/ned", json={"disabled": False}, headers=admin).status_code == 200
    _all_refused(svc, after_role)


def test_access_tokens_live_an_hour_and_refresh_rotates(svc: Service, clock: Clock) -> None:
    _person(svc, "ola")
    login = _login(_client(svc), "ola").json()
    assert 0 < login["expires_in"] <= 3600
    claims = _claims(login["access_token"])
    assert int(claims["exp"]) - int(claims["iat"]) <= 3600  # type: ignore[call-overload]
    r = svc.client.post("/api/v1/auth/refresh", json={"refresh_token": login["refresh_token"]})
    assert r.status_code == 200
    new = r.json()
    assert new["refresh_token"] != login["refresh_token"] and 0 < new["expires_in"] <= 3600
    assert svc.client.get("/api/v1/me", headers=_bearer(new["access_token"])).json()["username"] == "ola"
    # the spent refresh token again: refused, and the replay ends the session it belonged to
    replay = svc.client.post("/api/v1/auth/refresh", json={"refresh_token": login["refresh_token"]})
    assert replay.status_code == 401
    assert svc.client.post("/api/v1/auth/refresh", json={"refresh_token": new["refresh_token"]}).status_code == 401


def test_tokens_without_a_version_claim_are_refused(svc: Service) -> None:
    service = svc.state.service
    header = base64.urlsafe_b64encode(json.dumps({"alg": "HS256"}).encode()).rstrip(b"=").decode()
    good = _claims(auth.issue_token(service, "ana"))
    del good["ver"]
    body = base64.urlsafe_b64encode(json.dumps(good).encode()).rstrip(b"=").decode()
    sig = hmac.new(service.derive("token-signing"), f"{header}.{body}".encode(), hashlib.sha256).digest()
    token = f"{header}.{body}.{base64.urlsafe_b64encode(sig).rstrip(b'=').decode()}"
    with pytest.raises(JingyunError, match="ver"):
        auth.verify_token(service, token)
    with pytest.raises(ValueError):
        auth.issue_token(service, "ana", ttl_seconds=12 * 3600)  # no more 12-hour bearer tokens


# -- finding 10, session settings ------------------------------------------------------------------
def test_session_settings_come_from_the_environment(svc: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JINGYUN_COOKIE_SECURE", "true")
    monkeypatch.setenv("JINGYUN_TRUST_PROXY", "yes")
    monkeypatch.setenv("JINGYUN_SESSION_HOURS", "2.5")
    monkeypatch.setenv("JINGYUN_LOGIN_FREE_FAILURES", "3")
    monkeypatch.setenv("JINGYUN_LOGIN_ACCOUNT_MAX_DELAY", "30")
    service = load_service_settings(svc.settings)
    assert (service.cookie_secure, service.trust_proxy, service.session_hours) == (True, True, 2.5)
    assert (service.login_free_failures, service.login_account_max_delay) == (3, 30.0)
    monkeypatch.setenv("JINGYUN_COOKIE_SECURE", "perhaps")
    with pytest.raises(JingyunError) as err:
        load_service_settings(svc.settings)
    assert err.value.field == "JINGYUN_COOKIE_SECURE"
    monkeypatch.setenv("JINGYUN_COOKIE_SECURE", "0")
    monkeypatch.setenv("JINGYUN_SESSION_HOURS", "0")
    with pytest.raises(JingyunError, match="JINGYUN_SESSION_HOURS"):
        load_service_settings(svc.settings)


def _set_cookie(r: httpx.Response) -> str:
    return next(v for k, v in r.headers.multi_items() if k == "set-cookie" and v.startswith("jingyun_session="))


def test_the_cookie_is_secure_over_https_and_lives_session_hours(svc: Service, clock: Clock) -> None:
    _person(svc, "pam")
    state = svc.state
    original = state.service
    try:
        state.service = dataclasses.replace(original, session_hours=3.0)
        plain = _set_cookie(_login(_client(svc), "pam"))
        assert "secure" not in plain.lower() and "Max-Age=10800" in plain
        assert "secure" in _set_cookie(_login(_client(svc, base_url="https://testserver"), "pam")).lower()
        # a proxy's X-Forwarded-Proto counts only when the operator says the proxy is trusted
        c = _client(svc)
        forwarded = {"X-Forwarded-Proto": "https"}
        r = c.post("/api/v1/auth/login", json={"username": "pam", "password": PASSWORD}, headers=forwarded)
        assert "secure" not in _set_cookie(r).lower()
        state.service = dataclasses.replace(original, trust_proxy=True)
        r = c.post("/api/v1/auth/login", json={"username": "pam", "password": PASSWORD}, headers=forwarded)
        assert "secure" in _set_cookie(r).lower()
        state.service = dataclasses.replace(original, cookie_secure=True)
        assert "secure" in _set_cookie(_login(_client(svc), "pam")).lower()
    finally:
        state.service = original


# -- finding 6: a foreign object reads like a missing one ------------------------------------------
def test_a_foreign_segment_and_a_missing_one_answer_byte_for_byte_alike(svc: Service) -> None:
    with svc.state.store.session() as ses:
        stores = auth.departments_by_name(ses, ["stores"])[0]
        seg = Segment(name="theirs", department_id=stores.id, rule="{}", created_by="spec_b")
        ses.add(seg)
        ses.flush()
        foreign = seg.id
    missing = foreign + 10_000
    calls = [("get", "/api/v1/segments/{}", "specialist"), ("get", "/api/v1/segments/{}/size", "specialist"),
             ("get", "/api/v1/segments/{}/export", "specialist"), ("post", "/api/v1/segments/{}/approve", "manager")]
    for method, path, who in calls:
        theirs = svc.client.request(method.upper(), path.format(foreign), headers=svc.headers(who))
        nothing = svc.client.request(method.upper(), path.format(missing), headers=svc.headers(who))
        assert theirs.status_code == nothing.status_code == 404, path
        assert theirs.content == nothing.content, path
        assert json.loads(theirs.content)["error"]["field"] == "segment_id"
        varying = {"x-request-id", "date"}  # per-request ids and clocks, in headers only
        assert {k: v for k, v in theirs.headers.items() if k not in varying} == \
            {k: v for k, v in nothing.headers.items() if k not in varying}, path


def test_a_foreign_department_and_a_missing_one_answer_alike(svc: Service) -> None:
    body = {"name": "x", "rule": {"city": "Beijing"}}
    theirs = svc.client.post("/api/v1/segments", json={**body, "department": "stores"}, headers=svc.headers("specialist"))
    nothing = svc.client.post("/api/v1/segments", json={**body, "department": "no-such-dept"},
                              headers=svc.headers("specialist"))
    assert theirs.status_code == nothing.status_code == 404 and theirs.content == nothing.content


# -- finding 9: throttling, never a lockout ---------------------------------------------------------
def test_a_real_and_an_unknown_account_answer_alike_at_every_attempt(svc: Service, clock: Clock) -> None:
    real, unknown = _client(svc, "10.1.0.1"), _client(svc, "10.1.0.2")
    seen = []
    for _ in range(10):
        a = _login(real, "root", "wrong-password")
        b = _login(unknown, "no-such-person", "wrong-password")
        assert (a.status_code, a.content, a.headers.get("retry-after")) == \
            (b.status_code, b.content, b.headers.get("retry-after"))
        seen.append(a.status_code)
        if a.status_code == 429:
            clock.now += int(a.headers["retry-after"])  # both wait it out, and guess again
    assert seen[:5] == [401] * 5 and 429 in seen  # the throttle did engage, for both alike
    assert b"locked" not in a.content


def test_the_wait_grows_and_holds_the_right_password_too(svc: Service, clock: Clock) -> None:
    attacker = _client(svc, "10.2.0.1")
    waits = []
    for _ in range(12):
        r = _login(attacker, "root", "wrong-password")
        if r.status_code == 429:
            waits.append(int(r.headers["retry-after"]))
            assert r.json()["error"]["code"] == "rate_limited"
            clock.now += waits[-1]
    assert waits == sorted(waits) and waits[0] < waits[-1] and len(set(waits)) >= 4
    # while it must wait, even the right password from that address is not checked
    assert _login(attacker, "root", "wrong-password").status_code == 401
    assert _login(attacker, "root").status_code == 429


def test_an_attacker_never_keeps_the_admin_out(svc: Service, clock: Clock) -> None:
    home, attacker = _client(svc, "10.3.0.1"), _client(svc, "10.3.0.66")
    assert _login(home, "root").status_code == 200  # the admin's usual place
    for _ in range(20):
        _login(attacker, "root", "wrong-password")
    assert _login(_client(svc, "10.3.0.2"), "root").status_code == 200  # another address, never seen
    assert _login(home, "root").status_code == 200
    # a patient attacker, waiting out every delay for an hour, pushes the name past its own threshold
    for _ in range(40):
        r = _login(attacker, "root", "wrong-password")
        clock.now += int(r.headers.get("retry-after", "1"))
    assert svc.state.login_throttle.failures("root", "10.3.0.66")[1] > svc.state.service.login_account_failures
    assert _login(home, "root").status_code == 200  # familiar: never held by the name's counter
    fresh = _client(svc, "10.3.0.3")
    r = _login(fresh, "root")
    if r.status_code == 429:  # a new place may wait, a minute at most
        assert int(r.headers["retry-after"]) <= svc.state.service.login_account_max_delay
        clock.now += int(r.headers["retry-after"])
        r = _login(fresh, "root")
    assert r.status_code == 200
    alerts = svc.client.get("/api/v1/admin/alerts?limit=1000", headers=svc.headers("admin")).json()["items"]
    assert {a["detail"].get("scope") for a in alerts if a["kind"] == "failed_logins" and a["actor"] == "root"} \
        >= {"address", "account"}


# -- the console's sign-in: the same throttle, cookie and sign-out ---------------------------------
def test_the_console_signs_in_and_out_like_the_api(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from jingyun.api import create_app
    from jingyun.api.app import app_state
    from jingyun.config import load_settings
    from jingyun.web import mount

    settings = load_settings(tmp_path)
    app = create_app(settings, warehouse_memory=True)
    mount(app, settings)
    state = app_state(app)
    auth.create_person(state.store, username="quinn", password=PASSWORD, role="analyst", service=state.service)
    with TestClient(app, base_url="https://testserver", client=("10.4.0.1", 40000)) as c:
        api = _login(c, "quinn").json()["access_token"]
        r = c.post("/console/login", data={"username": "quinn", "password": PASSWORD}, follow_redirects=False)
        assert r.status_code == 303 and "secure" in _set_cookie(r).lower()
        c.cookies.set("jingyun_session", r.cookies["jingyun_session"])
        assert c.post("/console/logout", follow_redirects=False).status_code == 303
        assert c.get("/api/v1/me", headers=_bearer(api), cookies={}).status_code == 401  # the API's token too
        c.cookies.clear()
        answers = [c.post("/console/login", data={"username": "quinn", "password": "wrong-password"},
                          follow_redirects=False) for _ in range(6)]
        assert [a.status_code for a in answers] == [401] * 5 + [429]
        assert int(answers[-1].headers["retry-after"]) >= 1


def test_every_service_setting_is_documented() -> None:
    from pathlib import Path

    from jingyun.security.config import SERVICE_SETTINGS_HELP

    api = (Path(__file__).parents[2] / "docs" / "api.md").read_text(encoding="utf-8")
    assert [name for name in SERVICE_SETTINGS_HELP if f"`{name}`" not in api] == []
