"""Sign-in over HTTP: session cookie, lockout answer, login rate limit (429 + Retry-After)."""

from __future__ import annotations

from service_support import PASSWORD, Service


def test_login_sets_a_session_cookie_and_logout_revokes_it(svc: Service) -> None:
    r = svc.client.post("/api/v1/auth/login", json={"username": "ana", "password": PASSWORD})
    assert r.status_code == 200 and r.json()["user"]["role"] == "analyst"
    assert "jingyun_session" in r.cookies or "jingyun_session" in svc.client.cookies
    assert svc.client.get("/api/v1/me").json()["username"] == "ana"
    bearer = r.json()["access_token"]
    svc.client.post("/api/v1/auth/logout")
    svc.client.cookies.clear()
    assert svc.client.get("/api/v1/me").status_code == 401
    assert svc.client.get("/api/v1/me", headers={"Authorization": f"Bearer {bearer}"}).status_code == 200


def test_wrong_passwords_lock_and_are_audited(svc: Service) -> None:
    codes = [svc.client.post("/api/v1/auth/login", json={"username": "spec_b", "password": "wrong-one"}).json()
             ["error"]["code"] for _ in range(6)]
    assert codes == ["bad_credentials"] * 4 + ["account_locked"] * 2
    alerts = svc.client.get("/api/v1/alerts", headers=svc.headers("admin")).json()["items"]
    assert any(a["kind"] == "failed_logins" and a["actor"] == "spec_b" for a in alerts)


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
