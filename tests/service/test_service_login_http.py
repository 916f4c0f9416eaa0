"""Sign-in over HTTP: session cookie, sign-out ending the bearer token too, throttling audited, login rate limit
(429 + Retry-After). The throttle's own cases are in test_service_sessions.py."""

from __future__ import annotations

from service_support import PASSWORD, Service

from jingyun.security.throttle import LoginThrottle


def test_login_sets_a_session_cookie_and_logout_revokes_it(svc: Service) -> None:
    r = svc.client.post("/api/v1/auth/login", json={"username": "ana", "password": PASSWORD})
    assert r.status_code == 200 and r.json()["user"]["role"] == "analyst"
    assert "jingyun_session" in r.cookies or "jingyun_session" in svc.client.cookies
    assert svc.client.get("/api/v1/me").json()["username"] == "ana"
    bearer = r.json()["access_token"]
    svc.client.post("/api/v1/auth/logout")
    svc.client.cookies.clear()
    assert svc.client.get("/api/v1/me").status_code == 401
    # sign-out ends the bearer token issued with the cookie as well (it answered 200 for 12 hours)
    assert svc.client.get("/api/v1/me", headers={"Authorization": f"Bearer {bearer}"}).status_code == 401


def test_wrong_passwords_are_throttled_not_locked_and_audited(svc: Service) -> None:
    svc.state.login_throttle = LoginThrottle(svc.state.service)  # a clean slate
    codes = [svc.client.post("/api/v1/auth/login", json={"username": "spec_b", "password": "wrong-one"}).json()
             ["error"]["code"] for _ in range(6)]
    assert codes == ["bad_credentials"] * 5 + ["rate_limited"]  # the sixth must wait; never account_locked
    alerts = svc.client.get("/api/v1/admin/alerts", headers=svc.headers("admin")).json()["items"]
    assert any(a["kind"] == "failed_logins" and a["actor"] == "spec_b" for a in alerts)
    svc.state.login_throttle = LoginThrottle(svc.state.service)


def test_login_rate_limit(svc: Service) -> None:
    limiter = svc.state.login_limiter
    old = (limiter.rate, limiter.burst)
    limiter.rate, limiter.burst = 0.001, 2
    limiter._buckets.clear()
    try:
        codes = [svc.client.post("/api/v1/auth/login", json={"username": "x", "password": "y"}).status_code
                 for _ in range(3)]
        assert codes == [401, 401, 429]
        r = svc.client.post("/api/v1/auth/login", json={"username": "x", "password": "y"})
        assert r.json()["error"]["code"] == "rate_limited" and int(r.headers["Retry-After"]) >= 1
    finally:
        limiter.rate, limiter.burst = old
        limiter._buckets.clear()
