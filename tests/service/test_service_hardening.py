"""Issue 15, findings 7 and 10: JSON input limits, Content-Encoding, 413 without a reset, security
headers on every response, no server paths, private files under the home."""

from __future__ import annotations

import dataclasses
import gzip
import json
import logging
import os
import socket
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from service_support import PASSWORD, free_port

from jingyun.api import create_app
from jingyun.api.app import app_state
from jingyun.api.bodies import MAX_BODY, MAX_DEPTH, json_depth
from jingyun.config import load_settings
from jingyun.security import auth
from jingyun.security.headers import SecurityHeadersMiddleware
from jingyun.web import mount

INGEST = "/api/v1/events/batch"
ESTIMATE = "/api/v1/audience/estimate"  # a route whose body FastAPI parses


class Svc:
    def __init__(self, client: TestClient, home: Path, admin: str, ingest: str):
        self.client, self.home, self.admin, self.ingest = client, home, admin, ingest

    def post(self, path: str, body: bytes, who: str = "admin", **headers: str) -> httpx.Response:
        token = self.ingest if who == "ingest" else self.admin
        return self.client.post(path, content=body, headers={"Content-Type": "application/json",
                                                            "Authorization": f"Bearer {token}", **headers})


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Svc]:
    """The service with the console mounted, as `jingyun serve` runs it."""
    home = tmp_path_factory.mktemp("hardening")
    settings = load_settings(home)
    app = create_app(settings)
    mount(app, settings)
    state = app_state(app)
    auth.create_person(state.store, username="root", password=PASSWORD, role="admin", departments=[],
                       service=state.service)
    admin = auth.issue_token(state.service, "root")
    ingest = auth.create_api_key(state.store, name="gw", scope="ingest")[1]
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Svc(client, home, admin, ingest)


def _events(prefix: str, n: int, **extra: object) -> list[dict[str, object]]:
    return [{"event_id": f"{prefix}-{i}", "user_id": f"u{i}", "event": "view_home", "ts": "2024-05-01T08:00:00Z",
             **extra} for i in range(n)]


def _nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth - 1):
        value = [value]
    return value


# -- finding 7: deep JSON -----------------------------------------------------------------------

@pytest.mark.parametrize("path", [INGEST, ESTIMATE])
def test_deeply_nested_body_is_a_422_naming_the_body(svc: Svc, path: str, caplog: pytest.LogCaptureFixture) -> None:
    deep = b"{\"rule\": " + b"[ " * 50_000 + b" ]" * 50_000 + b"}"
    assert 195_000 < len(deep) < 205_000
    with caplog.at_level(logging.DEBUG):
        r = svc.post(path, deep, who="ingest" if path == INGEST else "admin")
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "too_deep" and r.json()["error"]["field"] == "body"
    assert "RecursionError" not in caplog.text and "Traceback" not in caplog.text


def test_depth_cap_is_exact_and_ignores_brackets_in_strings(svc: Svc) -> None:
    at_cap = _events("deep-ok", 1, properties={"x": _nested(MAX_DEPTH - 3)})  # {events: [ {properties: {x: ...}}]}
    body = json.dumps({"events": at_cap}).encode()
    assert json_depth(body) == MAX_DEPTH
    ok = svc.post(INGEST, body, who="ingest")
    assert ok.status_code == 200 and ok.json()["accepted"] == 1, ok.text
    over = json.dumps({"events": _events("deep-no", 1, properties={"x": _nested(MAX_DEPTH - 2)})}).encode()
    assert svc.post(INGEST, over, who="ingest").json()["error"]["code"] == "too_deep"
    texty = _events("brackets", 3, properties={"note": "[[[{{{" * 100, "q": '\\"[[[' * 50})
    r = svc.post(INGEST, json.dumps({"events": texty}).encode(), who="ingest")
    assert r.status_code == 200 and r.json()["accepted"] == 3, r.text


# -- finding 10: UTF-8 only, no NaN / Infinity ---------------------------------------------------

@pytest.mark.parametrize("path", [INGEST, ESTIMATE])
def test_utf16_and_other_charsets_are_refused(svc: Svc, path: str) -> None:
    who = "ingest" if path == INGEST else "admin"
    payload = {"events": _events("浙江", 1)} if path == INGEST else {"rule": {"attr": "province", "op": "eq", "value": "浙江省"}}
    for encoding in ("utf-16", "utf-16-le", "utf-32"):
        r = svc.post(path, json.dumps(payload, ensure_ascii=False).encode(encoding), who=who)
        assert r.status_code == 415, (encoding, r.text)
        assert "UTF-8" in r.json()["error"]["message"] and r.json()["error"]["field"] == "body"
    latin = svc.post(path, json.dumps(payload, ensure_ascii=False).encode("gb18030"), who=who)
    assert latin.status_code == 415 and "not UTF-8" in latin.json()["error"]["message"]
    declared = svc.post(path, json.dumps(payload).encode(), who=who, **{"Content-Type": "application/json; charset=utf-16"})
    assert declared.status_code == 415 and declared.json()["error"]["field"] == "Content-Type"


@pytest.mark.parametrize("path", [INGEST, ESTIMATE])
@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400", "-1E+999"])
def test_nan_and_infinity_are_not_json(svc: Svc, path: str, literal: str) -> None:
    if path == INGEST:
        body = ('{"events": [{"event_id": "nan-1", "user_id": "u", "event": "e", "ts": "2024-05-01T08:00:00Z", '
                f'"properties": {{"amount": {literal}}}}}]}}')
    else:
        body = f'{{"rule": {{"attr": "age", "op": "gt", "value": {literal}}}}}'
    r = svc.post(path, body.encode(), who="ingest" if path == INGEST else "admin")
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "malformed_json" and r.json()["error"]["field"] == "body"


def test_nan_inside_a_string_is_just_text(svc: Svc) -> None:
    events = _events("nan-text", 1, properties={"v": "NaN", "w": "Infinity 1e400"})
    r = svc.post(INGEST, json.dumps({"events": events}).encode(), who="ingest")
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text


# -- finding 10: Content-Encoding ---------------------------------------------------------------

def test_gzip_body_is_decompressed(svc: Svc) -> None:
    body = gzip.compress(json.dumps({"events": _events("gz", 20)}).encode())
    r = svc.post(INGEST, body, who="ingest", **{"Content-Encoding": "gzip"})
    assert r.status_code == 200 and r.json()["accepted"] == 20, r.text


def test_gzip_bomb_stops_at_the_cap(svc: Svc) -> None:
    bomb = gzip.compress(b"0" * 10_000_000, compresslevel=9)
    assert len(bomb) < 20_000
    for path, who in ((INGEST, "ingest"), (ESTIMATE, "admin")):
        r = svc.post(path, bomb, who=who, **{"Content-Encoding": "gzip"})
        assert r.status_code == 413 and r.json()["error"]["code"] == "too_large", r.text
    # and just under the cap is fine (padding inside a string)
    small = json.dumps({"events": _events("gz-pad", 1, properties={"pad": " " * (1_048_576 - 1000)})}).encode()
    r = svc.post(INGEST, gzip.compress(small), who="ingest", **{"Content-Encoding": "gzip"})
    assert r.status_code == 200, r.text


def test_other_or_broken_encodings_are_refused(svc: Svc) -> None:
    body = json.dumps({"events": _events("enc", 1)}).encode()
    for coding in ("br", "deflate", "compress", "gzip, gzip", "zstd"):
        r = svc.post(INGEST, body, who="ingest", **{"Content-Encoding": coding})
        assert r.status_code == 415 and r.json()["error"]["field"] == "Content-Encoding", (coding, r.text)
    broken = svc.post(INGEST, body, who="ingest", **{"Content-Encoding": "gzip"})  # says gzip, is not
    assert broken.status_code == 400 and broken.json()["error"]["code"] == "bad_encoding"
    cut = svc.post(INGEST, gzip.compress(body)[:-12], who="ingest", **{"Content-Encoding": "gzip"})
    assert cut.status_code == 400 and cut.json()["error"]["code"] == "bad_encoding"


# -- finding 10: 5 MB gets a 413, never a reset --------------------------------------------------

@pytest.fixture(scope="module")
def server(svc: Svc) -> Iterator[int]:
    """The same app on a real uvicorn (h11) server, as `jingyun serve` runs it."""
    port = free_port()
    config = uvicorn.Config(svc.client.app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield port
    srv.should_exit = True
    thread.join(10)


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a response: {data!r}"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers["content-length"])
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed inside the response body"
        rest += chunk
    return int(lines[0].split()[1]), headers, rest[:length]


def _send_big(port: int, size: int, token: str, *, chunked: bool) -> tuple[int, dict[str, str], bytes, socket.socket]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = f"POST {INGEST} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer {token}\r\n"
    head += "Transfer-Encoding: chunked\r\n\r\n" if chunked else f"Content-Length: {size}\r\n\r\n"
    sock.sendall(head.encode())
    piece = b"x" * 65536
    sent = 0
    while sent < size:
        part = piece[: min(len(piece), size - sent)]
        sock.sendall(b"%x\r\n%s\r\n" % (len(part), part) if chunked else part)
        sent += len(part)
    if chunked:
        sock.sendall(b"0\r\n\r\n")
    status, headers, body = _read_response(sock)
    return status, headers, body, sock


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_five_megabytes_get_a_413_not_a_reset(svc: Svc, server: int, chunked: bool) -> None:
    for _ in range(3):
        status, headers, body, sock = _send_big(server, 5 * 1_048_576, svc.ingest, chunked=chunked)
        try:
            assert status == 413 and json.loads(body)["error"]["code"] == "too_large"
            assert headers["x-content-type-options"] == "nosniff"
            # the body was read to its end, so the connection is still good for the next request
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert _read_response(sock)[0] == 200
        finally:
            sock.close()


# -- finding 10: security headers ---------------------------------------------------------------

def _assert_security_headers(r: httpx.Response, *, tls: bool = False) -> None:
    csp = r.headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "default-src 'self'" in csp, r.url
    assert "unsafe-eval" not in csp and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    assert r.headers.get("x-frame-options") == "DENY"
    assert r.headers.get("x-content-type-options") == "nosniff"
    assert r.headers.get("referrer-policy") == "no-referrer"
    assert ("strict-transport-security" in r.headers) is tls, r.url


def test_security_headers_on_every_kind_of_response(svc: Svc) -> None:
    c = svc.client
    api = c.get("/api/v1/metrics", headers={"Authorization": f"Bearer {svc.admin}"})
    assert api.status_code == 200
    unauthenticated = c.get("/api/v1/metrics")
    assert unauthenticated.status_code == 401
    missing = c.get("/api/v1/no-such-route")
    assert missing.status_code == 404
    page = c.get("/console/login")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    static = c.get("/console/static/app.js")
    assert static.status_code == 200
    static_missing = c.get("/console/static/nope.js")
    assert static_missing.status_code == 404
    too_large = svc.post(INGEST, b"x" * (MAX_BODY + 1), who="ingest")
    assert too_large.status_code == 413
    for r in (api, unauthenticated, missing, page, static, static_missing, too_large):
        _assert_security_headers(r)


def test_security_headers_on_a_500(svc: Svc) -> None:
    app = svc.client.app
    assert isinstance(app, FastAPI)

    def boom() -> None:
        raise RuntimeError("planted failure")

    app.router.add_api_route("/api/v1/_test_boom", boom, include_in_schema=False)
    r = svc.client.get("/api/v1/_test_boom")
    assert r.status_code == 500 and r.json()["error"]["code"] == "internal"
    _assert_security_headers(r)
    assert r.headers.get("x-request-id")


def test_hsts_only_over_tls(svc: Svc) -> None:
    tls = TestClient(svc.client.app, base_url="https://testserver")  # no `with`: its lifespan would close the writer
    r = tls.get("/healthz")
    _assert_security_headers(r, tls=True)
    assert "max-age=" in r.headers["strict-transport-security"]
    _assert_security_headers(svc.client.get("/healthz"), tls=False)
    # a forwarded https counts only when the proxy is trusted (JINGYUN_TRUST_PROXY), as for the Secure cookie
    _assert_security_headers(svc.client.get("/healthz", headers={"X-Forwarded-Proto": "https"}), tls=False)
    state = app_state(svc.client.app)
    trusting = SecurityHeadersMiddleware(svc.client.app, dataclasses.replace(state.service, trust_proxy=True))
    behind_proxy = TestClient(trusting).get("/healthz", headers={"X-Forwarded-Proto": "https"})
    _assert_security_headers(behind_proxy, tls=True)


def test_console_pages_need_no_inline_script() -> None:
    """The CSP allows no inline script: no template may carry one, or an inline event handler."""
    import re

    templates = Path(__file__).resolve().parents[2] / "src/jingyun/web/templates"
    found = []
    for path in templates.rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        found += [f"{path.name}: {m.group(0)[:40]}" for m in re.finditer(
            r"<script(?![^>]*\bsrc=)[^>]*>|\son[a-z]+\s*=|javascript:|hx-on|hx-vars|hx-trigger=\"[^\"]*\[", text)]
    assert found == []


# -- finding 10: no server paths ------------------------------------------------------------------

def test_kpi_targets_names_no_server_path(svc: Svc) -> None:
    headers = {"Authorization": f"Bearer {svc.admin}"}
    shipped = svc.client.get("/api/v1/kpi/targets", headers=headers)
    assert shipped.status_code == 200, shipped.text
    assert shipped.json()["file"] == "kpi_targets.yaml"
    package = str(Path(__file__).resolve().parents[2])
    assert package not in shipped.text and "/src/jingyun" not in shipped.text
    own = svc.home / "kpi_targets.yaml"
    import shutil

    from jingyun.metrics.kpi import EXAMPLE_PATH

    shutil.copy(EXAMPLE_PATH, own)
    try:
        mine = svc.client.get("/api/v1/kpi/targets", headers=headers)
        assert mine.json()["file"] == "kpi_targets.yaml"
        assert str(svc.home) not in mine.text and not mine.json()["file"].startswith("/")
    finally:
        own.unlink()


def test_metric_files_scorecard_and_errors_name_no_server_path(svc: Svc) -> None:
    """Workspace metric files, the scorecard's targets file and a bad targets file's error were absolute paths."""
    headers = {"Authorization": f"Bearer {svc.admin}"}
    (svc.home / "metrics").mkdir(exist_ok=True)
    mine = svc.home / "metrics" / "extra.yaml"
    mine.write_text("metrics:\n  big_orders:\n    name: {zh: 大单数, en: Big orders}\n    unit: orders\n"
                    "    description: {zh: 大单, en: Big orders}\n    direction: higher\n    grain: day\n"
                    "    owner: ops\n    perspective: financial\n"
                    "    formula: {kind: count, table: orders}\n", encoding="utf-8")
    bad = svc.home / "kpi_targets.yaml"
    try:
        listed = svc.client.get("/api/v1/metrics", headers=headers)
        assert listed.status_code == 200, listed.text
        assert "metrics/extra.yaml" in listed.json()["files"]
        assert str(svc.home) not in listed.text
        card = svc.client.get("/api/v1/kpi/scorecard", headers=headers, params={"period": "2026-10"})
        assert card.status_code == 200 and not card.json()["targets_file"].startswith("/"), card.text[:300]
        bad.write_text("targets: 3\n", encoding="utf-8")
        refused = svc.client.get("/api/v1/kpi/targets", headers=headers)
        assert refused.status_code >= 400 and "kpi_targets.yaml" in refused.text
        assert str(svc.home) not in refused.text and str(svc.home.resolve()) not in refused.text
    finally:
        mine.unlink()
        bad.unlink(missing_ok=True)


# -- finding 10: private files --------------------------------------------------------------------

def _modes(home: Path) -> dict[str, str]:
    out = {str(home): oct(stat.S_IMODE(home.stat().st_mode))}
    for p in home.rglob("*"):
        out[str(p.relative_to(home))] = oct(stat.S_IMODE(p.lstat().st_mode))
    return out


def test_every_file_under_a_fresh_home_is_private(svc: Svc) -> None:
    r = svc.post(INGEST, json.dumps({"events": _events("modes", 3)}).encode(), who="ingest")
    assert r.status_code == 200
    bad = {"x": "y"}
    svc.post(INGEST, json.dumps({"events": [bad]}).encode(), who="ingest")  # quarantined
    names = _modes(svc.home)
    for wanted in ("meta.sqlite", "warehouse.duckdb", "secret.key"):
        assert wanted in names, sorted(names)
    wrong = {name: mode for name, mode in names.items()
             if mode != ("0o700" if Path(svc.home, name).is_dir() or name == str(svc.home) else "0o600")}
    assert wrong == {}


def test_an_existing_home_is_narrowed_when_opened(tmp_path: Path) -> None:
    home = tmp_path / "old"
    (home / "segments").mkdir(parents=True)
    for name in ("meta.sqlite", "warehouse.duckdb", "segments/s.json"):
        (home / name).write_text("x")
        os.chmod(home / name, 0o644)
    os.chmod(home / "segments", 0o755)
    os.chmod(home, 0o755)
    load_settings(home)
    assert set(_modes(home).values()) <= {"0o600", "0o700"}, _modes(home)


def test_a_refused_whole_body_is_answered_at_once_on_a_kept_connection(svc: Svc, server: int) -> None:
    """A body refused on its last piece (bad gzip) is answered without waiting to drain a body that has
    ended: the socket's timeout is half the drain timeout, and the connection serves the next request."""
    from jingyun.api.bodies import DRAIN_SECONDS

    body = json.dumps({"events": _events("drain", 1)}).encode()
    sock = socket.create_connection(("127.0.0.1", server), timeout=DRAIN_SECONDS / 2)
    try:
        for payload in (body, gzip.compress(body)[:-12]):  # says gzip and is not; gzip cut short
            head = (f"POST {INGEST} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
                    f"Authorization: Bearer {svc.ingest}\r\nContent-Length: {len(payload)}\r\n\r\n")
            sock.sendall(head.encode() + payload)
            status, headers, answer = _read_response(sock)
            assert status == 400 and json.loads(answer)["error"]["code"] == "bad_encoding"
            assert headers.get("connection", "") != "close"
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _read_response(sock)[0] == 200
    finally:
        sock.close()
