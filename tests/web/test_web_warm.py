"""web.warm: after an ingest inside the service, the cockpit's and the funnel page's default views are computed
in the background for the new data version, so the first view after it finds them kept (a hit, counted in
web.datacache — not timed); a file ingest is warmed after its last chunk; ``console_warm = false`` warms
nothing. On a small demo business served by the real app (scheduler and writer running)."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from jingyun.api.app import app_state, create_app
from jingyun.api.writer import Job
from jingyun.config import load_settings
from jingyun.control import ambient
from jingyun.ingest import ingest_file
from jingyun.security import auth
from jingyun.web import datacache, mount, warm
from jingyun.web.metrics_view import targets
from jingyun.web.routes import analyses, cockpit

PASSWORD = "warm-test-password"
FUNNEL = {"steps": analyses.DEFAULT_STEPS, "window": "24h"}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from jingyun.demo import build
    from jingyun.demo.params import DemoParams

    home = tmp_path_factory.mktemp("warm_demo")
    build(load_settings(home), DemoParams(users=300, days=60, seed=11))
    return home


@pytest.fixture
def home(built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A copy of the small demo per test (each ingests into it), the warm-up debounced in fractions of a second."""
    copy = tmp_path / "ws"
    shutil.copytree(built, copy)
    monkeypatch.setenv("JINGYUN_HOME", str(copy))
    monkeypatch.setattr(warm, "QUIET_S", 0.3)
    monkeypatch.setattr(warm, "MIN_INTERVAL_S", 0.0)
    monkeypatch.setattr(warm, "POLL_S", 0.5)
    datacache.clear()
    yield copy
    datacache.clear()


def _app(home: Path) -> TestClient:
    settings = load_settings(home)
    app = create_app(settings)
    mount(app, settings)
    auth.create_person(app_state(app).store, username="ana", password=PASSWORD, role="analyst", departments=[],
                       service=app_state(app).service)
    return TestClient(app)


def _ingest_http(client: TestClient, n: int = 1) -> None:
    """n events through the writer's group commit (what POST /api/v1/events/batch queues)."""
    writer = app_state(client.app).writer
    events = [{"event_id": f"warm{time.monotonic_ns()}_{i}", "user_id": "u_warm", "event": "view_product",
               "ts": "2026-09-01T02:00:00Z"} for i in range(n)]
    job = Job("events", events, [json.dumps(e) for e in events], {})
    assert {o.status for o in writer.submit(job).result(timeout=30)} == {"accepted"}


def _version(client: TestClient) -> str:
    wh = app_state(client.app).writer.reader()
    try:
        return datacache.data_version(wh)
    finally:
        wh.close()


def _views(client: TestClient) -> None:
    """The panel requests the cockpit and the funnel page make with no query string (their templates)."""
    ids = [t.id for t in targets(app_state(client.app).settings).targets]
    for tid in ids:
        assert client.get("/console/panel/kpi", params={"id": tid}).status_code == 200
    assert client.get("/console/panel/trend", params={"metric": "gmv"}).status_code == 200
    assert client.get("/console/panel/scorecard").status_code == 200
    assert client.get("/console/panel/alerts").status_code == 200
    assert client.get("/console/panel/funnel", params=FUNNEL).status_code == 200
    assert client.get("/console/drill/funnel", params=FUNNEL).status_code == 200
    assert client.get("/console/panel/funnel_breakdown", params={**FUNNEL, "by": "platform"}).status_code == 200


def _signed_in(client: TestClient) -> None:
    r = client.post("/console/login", data={"username": "ana", "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 303, r.text


def test_an_ingest_warms_the_default_views_and_the_first_view_is_a_hit(home: Path) -> None:
    with _app(home) as client:
        warmer = client.app.state.warmer  # type: ignore[attr-defined]
        assert isinstance(warmer, warm.Warmer)
        assert warmer.on_commit in app_state(client.app).writer.wh.after_commit
        before = _version(client)
        _ingest_http(client)
        version = _version(client)
        assert version != before
        run = warmer.wait(version, timeout=60)
        assert run is not None and not run.failed, run
        n_targets = len(targets(app_state(client.app).settings).targets)
        assert n_targets >= 5
        assert run.views == [*(f"kpi:{t.id}" for t in targets(app_state(client.app).settings).targets),
                             "trend", "scorecard", "alerts", "funnel", "funnel_drop_off", "funnel_breakdown"]
        # kept for the new version without any page request: a card per target, three funnel runs
        kept = datacache.kept(version)
        kinds = [datacache._kind(k) for k in kept]
        assert kinds.count("kpi") == n_targets and kinds.count("funnel") == 3 and kinds.count("trend") == 1
        assert any(k[2] == version for k in cockpit._SCORECARDS)
        assert any(k[1] == "" and k[2] == version for k in cockpit._ANOMALIES)
        computed = dict(datacache.computed)
        assert computed == {"kpi": n_targets, "trend": 1, "funnel": 3}
        hits = sum(datacache.hits.values())
        scorecards, anomalies = dict(cockpit._SCORECARDS), dict(cockpit._ANOMALIES)

        _signed_in(client)
        _views(client)
        assert datacache.computed == computed  # the page computed nothing: every card and funnel was kept
        assert sum(datacache.hits.values()) - hits == n_targets + 1 + 3
        assert datacache.kept(version) == kept
        assert scorecards == cockpit._SCORECARDS and anomalies == cockpit._ANOMALIES
    assert warmer.on_commit not in app_state(client.app).writer.wh.after_commit  # stopped with the service


def test_a_file_ingest_is_warmed_after_its_last_chunk(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "views.ndjson"
    path.write_text("\n".join(json.dumps({"event_id": f"f{i}", "user_id": f"u{i}", "event": "view_product",
                                          "ts": "2026-09-01T02:00:00Z"}) for i in range(40)) + "\n")
    ended: list[float] = []
    with _app(home) as client:
        warmer = client.app.state.warmer  # type: ignore[attr-defined]
        state = app_state(client.app)
        versions: list[str] = []

        def command() -> None:  # a `jingyun ingest` run through the control channel: a session, chunks of 10
            token = ambient.enter(ambient.Session(state.writer))
            try:
                wh = ambient.current().open(state.settings, read_only=False)  # type: ignore[union-attr]
                for start in range(0, 40, 10):
                    part = tmp_path / f"part{start}.ndjson"
                    part.write_text("\n".join(path.read_text().splitlines()[start:start + 10]) + "\n")
                    ingest_file(wh, "events", part)
                    versions.append(_version(client))
                    time.sleep(0.4)  # longer than the quiet time: only the command's end may start the warm-up
                wh.close()
                time.sleep(1.0)
            finally:
                ambient.leave(token)
                ended.append(time.monotonic())

        t = threading.Thread(target=command, name="jingyun-command")
        t.start()
        t.join(60)
        run = warmer.wait(versions[-1], timeout=60)
        assert run is not None and not run.failed
        assert run.began >= ended[0]  # not while the file was still loading
        assert [r.version for r in warmer.runs] == [versions[-1]]  # one warm-up, for the last chunk's version
        assert len(set(versions)) == 4


def test_with_console_warm_off_nothing_is_warmed(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JINGYUN_CONSOLE_WARM", "false")
    with _app(home) as client:
        assert client.app.state.warmer is None  # type: ignore[attr-defined]
        assert not any(getattr(getattr(f, "__self__", None), "__class__", None) is warm.Warmer
                       for f in app_state(client.app).writer.wh.after_commit)
        _ingest_http(client)
        version = _version(client)
        time.sleep(1.5)  # several times the (patched) quiet time and poll
        assert datacache.kept(version) == [] and datacache.computed == {}
        assert not any(k[2] == version for k in cockpit._SCORECARDS)
        _signed_in(client)
        _views(client)  # the first view computes, as before
        assert datacache.computed["kpi"] == len(targets(app_state(client.app).settings).targets)


def test_a_failing_view_is_logged_and_the_rest_are_warmed(home: Path, monkeypatch: pytest.MonkeyPatch,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    def broken(ctx: object, params: object) -> None:
        raise RuntimeError("scorecard broke")

    monkeypatch.setattr(cockpit, "scorecard_panel", broken)
    with _app(home) as client:
        warmer = client.app.state.warmer  # type: ignore[attr-defined]
        _ingest_http(client)
        version = _version(client)
        run = warmer.wait(version, timeout=60)
        assert run is not None and run.failed == ["scorecard"]
        assert "funnel_breakdown" in run.views and "alerts" in run.views
        assert "scorecard failed" in caplog.text
        assert warmer._thread is not None and warmer._thread.is_alive()  # never raised out of its thread


def test_a_page_asking_during_the_warm_up_waits_for_it(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Single flight: the card the warm-up is computing is not computed a second time by the page."""
    real = cockpit.kpi.kpi_card
    first = threading.Event()

    def slow(*args: object, **kwargs: object) -> object:
        first.set()
        time.sleep(1.0)  # the page's request arrives while this runs
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(cockpit.kpi, "kpi_card", slow)
    with _app(home) as client:
        warmer = client.app.state.warmer  # type: ignore[attr-defined]
        _signed_in(client)
        _ingest_http(client)
        version = _version(client)
        assert first.wait(30)  # the warm-up is computing the first card
        tid = targets(app_state(client.app).settings).targets[0].id
        assert client.get("/console/panel/kpi", params={"id": tid}).status_code == 200
        # the page waited for the warm-up's computation and used its result
        assert datacache.computed.get("kpi") == 1 and datacache.waited == {"kpi": 1} and datacache.hits == {"kpi": 1}
        run = warmer.wait(version, timeout=60)
        assert run is not None and not run.failed
        assert datacache.computed["kpi"] == len(targets(app_state(client.app).settings).targets)
