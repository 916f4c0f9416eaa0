"""Metadata in one store (issue 16, item 4): a segment, an experiment and a dashboard pin made on one
surface (the API, the CLI, the console) are the same rows on every other; the files of older workspaces
are imported once; concurrent writers lose nothing; the stores work on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from service_support import PASSWORD

from jingyun.api import create_app
from jingyun.api.app import app_state
from jingyun.config import load_settings
from jingyun.demo import build
from jingyun.demo.params import DemoParams
from jingyun.errors import JingyunError
from jingyun.experiments.definition import Flag
from jingyun.experiments.registry import create_experiment, get_experiment, get_flag, list_experiments, save_flag
from jingyun.security import auth
from jingyun.segments.store import RunRecord, SavedSegment, SegmentStore, import_files
from jingyun.store import shared
from jingyun.web import mount
from jingyun.web.dashboards import DashboardStore

ZJ = {"attr": "province", "op": "eq", "value": "浙江省"}


def cli(home: Path, *args: str) -> Any:
    env = {**os.environ, "JINGYUN_HOME": str(home), "JINGYUN_CLI_SESSION": "off"}
    env.pop("JINGYUN_DB_URL", None)
    proc = subprocess.run([sys.executable, "-m", "jingyun.cli.main", *args], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("one_store")
    build(load_settings(home), DemoParams(users=300, days=40, seed=11))
    return home


def _console_login(client: TestClient, username: str) -> None:
    r = client.post("/console/login", data={"username": username, "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 303, r.text


def test_segments_experiments_and_pins_are_the_same_rows_on_every_surface(home: Path) -> None:
    # made from the CLI before any service runs: a workspace segment (no department) and an experiment
    made = cli(home, "segment", "create", "cli_zj", "--rule", json.dumps(ZJ), "--zh", "浙江人群", "--json")
    assert made["segment"]["department"] is None and made["segment"]["version"] == 1
    cli(home, "exp", "create", "cli_exp", "--name", "CLI made", "--json")

    settings = load_settings(home)
    app = create_app(settings)
    mount(app, settings)
    state = app_state(app)
    for username, role, deps in (("spec", "specialist", ["growth"]), ("spec_s", "specialist", ["stores"]),
                                 ("mgr", "manager", ["growth"]), ("ana", "analyst", [])):
        auth.create_person(state.store, username=username, password=PASSWORD, role=role, departments=deps,
                           service=state.service)
    bearer = {u: {"Authorization": f"Bearer {auth.issue_token(state.service, u)}"} for u in ("spec", "spec_s", "mgr", "ana")}
    with TestClient(app) as api:
        listed = api.get("/api/v1/segments", headers=bearer["spec"]).json()["items"]
        cli_row = next(s for s in listed if s["name"] == "cli_zj")
        assert cli_row["department"] is None and cli_row["zh"] == "浙江人群" and cli_row["rule"] == ZJ
        size = api.get(f"/api/v1/segments/{cli_row['id']}/size", headers=bearer["spec"]).json()
        assert size["size"] == made["estimate"]["size"]
        # a manager cannot approve a workspace segment; the names are one namespace
        assert api.post(f"/api/v1/segments/{cli_row['id']}/approve", headers=bearer["mgr"]).status_code == 403
        dup = api.post("/api/v1/segments", json={"name": "cli_zj", "department": "growth", "rule": ZJ},
                       headers=bearer["spec"])
        assert dup.status_code == 409 and dup.json()["error"]["code"] == "segment_exists"

        r = api.post("/api/v1/segments", json={"name": "api_gold", "department": "growth", "zh": "金卡",
                                               "rule": {"member_level": "金卡会员"}}, headers=bearer["spec"])
        assert r.status_code == 201, r.text
        assert api.post(f"/api/v1/segments/{r.json()['id']}/approve", headers=bearer["mgr"]).status_code == 200

        console = TestClient(app)
        _console_login(console, "spec")
        panel = console.get("/console/panel/segments").text
        assert "金卡" in panel and "浙江人群" in panel  # zh names, in the zh-CN console
        assert console.get("/console/users/segment?name=api_gold").status_code == 200
        other = TestClient(app)
        _console_login(other, "spec_s")  # stores: sees the workspace segment, not growth's
        panel_s = other.get("/console/panel/segments").text
        assert "浙江人群" in panel_s and "金卡" not in panel_s
        assert other.get("/console/users/segment?name=api_gold").status_code == 404

        # the experiment made by the CLI is listed by the API and the console; the API's decision is the CLI's
        assert "cli_exp" in {e["key"] for e in api.get("/api/v1/experiments", headers=bearer["ana"]).json()["items"]}
        analyst = TestClient(app)
        _console_login(analyst, "ana")
        assert "cli_exp" in analyst.get("/console/experiments").text
        done = api.post("/api/v1/experiments/cli_exp/conclude", json={"decision": "ship", "reason": "it won"},
                        headers=bearer["mgr"])
        assert done.status_code == 200, done.text

        # a pin made in the console
        pinned = console.post("/console/dashboards/pin", data={"panel": "trend", "query": "metric=gmv", "title": "GMV"})
        assert pinned.status_code == 200

        # while the service runs, another process (the CLI) reads the same rows
        segs = {s["name"]: s for s in cli(home, "segment", "list", "--json")}
        assert segs["api_gold"]["department"] == "growth" and segs["api_gold"]["status"] == "approved"
        assert segs["api_gold"]["rule"] == {"and": [{"attr": "member_level", "op": "eq", "value": "金卡会员"}]}
        shown = cli(home, "exp", "show", "cli_exp", "--json")
        assert shown["status"] == "concluded" and shown["decisions"][0]["reason"] == "it won"
        pins = subprocess.run(
            [sys.executable, "-c", "import sys, json; from pathlib import Path; from jingyun.web.dashboards import "
             "DashboardStore; print(json.dumps([p.title for p in DashboardStore(Path(sys.argv[1])).pins('spec')]))",
             str(home)], capture_output=True, text=True, check=True, env={**os.environ, "JINGYUN_HOME": str(home)})
        assert json.loads(pins.stdout) == ["GMV"]


def _old_home(tmp_path: Path) -> Path:
    """A workspace as the file-based stores left it (the formats they wrote)."""
    seg = tmp_path / "segments"
    (seg / "snapshots" / "lifecycle").mkdir(parents=True)
    (seg / "segments.json").write_text(json.dumps({"old_zj": {
        "name": "old_zj", "rule": ZJ, "zh": "老人群", "en": "old", "owner": "mgr", "automation": True,
        "playbook": None, "created_at": "2026-01-01T00:00:00", "updated_at": "2026-02-01T00:00:00", "version": 4}},
        ensure_ascii=False), encoding="utf-8")
    (seg / "tags.json").write_text(json.dumps([{
        "tag": "vip_campaign", "version": 1, "definition": {"name": "vip_campaign"}, "status": "approved",
        "author": "a", "created_at": "2026-01-01T00:00:00", "approved_by": "b", "approved_at": "2026-01-02T00:00:00",
        "note": ""}]), encoding="utf-8")
    (seg / "runs.json").write_text(json.dumps([{
        "run_id": "r1", "kind": "full", "target": "old_zj", "status": "ok", "started_at": "2026-01-01T00:00:00",
        "deadline_at": "2026-01-01T00:10:00", "finished_at": "2026-01-01T00:00:05", "seconds": 5.0, "attempts": 1,
        "rows": 12, "error": None, "extra": {"entries": 12, "exits": 0}}]), encoding="utf-8")
    (seg / "state.json").write_text(json.dumps({"watermark:old_zj": "2026-01-01T00:00:00"}), encoding="utf-8")
    groups = {f"p{i}": ("active" if i % 3 else "lapsed") for i in range(1000)}
    (seg / "snapshots" / "lifecycle" / "2026-01.json").write_text(json.dumps({
        "scheme": "lifecycle", "label": "2026-01", "taken_at": "2026-01-31T00:00:00", "as_of": "2026-01-31T00:00:00",
        "counts": {"active": 666, "lapsed": 334}, "groups": groups}), encoding="utf-8")
    exp = tmp_path / "experiments"
    (exp / "flags").mkdir(parents=True)
    (exp / "old_exp.yaml").write_text(yaml.safe_dump({
        "key": "old_exp", "name": "from yaml", "status": "running", "variations": [
            {"name": "control", "weight": 0.5}, {"name": "treatment", "weight": 0.5}],
        "created_at": "2026-01-01T00:00:00", "start": "2026-01-01T00:00:00"}), encoding="utf-8")
    (exp / "flags" / "new_checkout.yaml").write_text(yaml.safe_dump({
        "key": "new_checkout", "rollout": 0.05, "enabled": True, "targeting": {}, "seed": ""}), encoding="utf-8")
    dash = tmp_path / "dashboards"
    dash.mkdir()
    (dash / "mgr.json").write_text(json.dumps({"pins": [{
        "id": "abc123", "panel": "trend", "query": "metric=gmv", "title": "GMV", "owner": "mgr",
        "departments": [1], "shared": True, "created_at": "2026-01-01T00:00:00"}]}), encoding="utf-8")
    return tmp_path


def test_the_files_of_an_older_workspace_are_imported_once(tmp_path: Path) -> None:
    home = _old_home(tmp_path / "home")
    segs = cli(home, "segment", "list", "--json")  # the first open imports
    assert [(s["name"], s["zh"], s["version"], s["automation"], s["department"]) for s in segs] == \
        [("old_zj", "老人群", 4, True, None)]
    exps = cli(home, "exp", "list", "--json")
    assert [e["key"] for e in exps] == ["old_exp"]
    for old in ("segments/segments.json", "segments/tags.json", "segments/runs.json", "segments/state.json",
                "segments/snapshots", "experiments/old_exp.yaml", "experiments/flags/new_checkout.yaml"):
        assert not (home / old).exists() and (home / f"{old}.imported").exists(), old

    settings = load_settings(home)
    store = SegmentStore(settings)
    assert store.state() == {"watermark:old_zj": "2026-01-01T00:00:00"}
    assert [(r.run_id, r.rows, r.extra) for r in store.runs()] == [("r1", 12, {"entries": 12, "exits": 0})]
    assert store.approved_version("vip_campaign") is not None
    snap = store.load_snapshot("lifecycle", "2026-01")
    assert snap["counts"] == {"active": 666, "lapsed": 334} and len(snap["groups"]) == 1000
    assert get_flag(settings, "new_checkout").rollout == 0.05
    dash = DashboardStore(home)
    assert [p.id for p in dash.pins("mgr")] == ["abc123"]
    assert [p.id for p in dash.shared_with("spec", frozenset({1}))] == ["abc123"]

    # the same files again (a crash between commit and rename, or a restored backup): nothing doubles,
    # and what the store holds wins over the file
    store.save_segment(SavedSegment("old_zj", ZJ, zh="改过"), replace=True)
    again = _old_home(tmp_path / "again")
    shutil.copytree(again / "segments", home / "segments", dirs_exist_ok=True)
    assert import_files(store) == {"segments.json": 0, "tags.json": 0, "runs.json": 0, "state.json": 0,
                                   "snapshots": 0}
    assert store.get_segment("old_zj").zh == "改过" and len(store.segments()) == 1
    assert len(list_experiments(settings)) == 1


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    """Threads and processes write segments and pins at once; every write is kept (the JSON files, read,
    changed and written back whole, kept only the last writer's view)."""
    settings = load_settings(tmp_path)
    store = SegmentStore(settings)
    dash = DashboardStore(tmp_path)
    code = ("import sys; from jingyun.config import load_settings; from jingyun.segments.store import SavedSegment, "
            "SegmentStore; s = SegmentStore(load_settings(sys.argv[1])); "
            "[s.save_segment(SavedSegment(f'{sys.argv[2]}_{i}', {'attr': 'province', 'op': 'eq', 'value': 'x'})) "
            "for i in range(15)]")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path), f"proc{k}"]) for k in range(2)]
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for i in range(10):
                store.save_segment(SavedSegment(f"thread{k}_{i}", ZJ))
                dash.pin("mgr", frozenset({1}), "trend", f"metric=m{k}_{i}", f"t{k}{i}")
                store.put_state(f"watermark:{k}", i)
                store.add_tag_version("shared_tag", {"i": i}, f"author{k}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    assert not errors, errors
    assert len(store.segments()) == 4 * 10 + 2 * 15
    assert len(dash.pins("mgr")) == 40
    assert store.state() == {f"watermark:{k}": 9 for k in range(4)}
    versions = [v.version for v in store.tag_versions("shared_tag")]
    assert sorted(versions) == list(range(1, 41))  # every version kept, none numbered twice
    # a replace racing a replace: the version counts both
    base = store.get_segment("thread0_0").version

    def bump() -> None:
        store.save_segment(SavedSegment("thread0_0", ZJ, zh="x"), replace=True)

    racers = [threading.Thread(target=bump) for _ in range(4)]
    for t in racers:
        t.start()
    for t in racers:
        t.join()
    assert store.get_segment("thread0_0").version == base + 4


@pytest.fixture(params=["sqlite", "postgresql"])
def on_db(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    if request.param == "postgresql":
        from sqlalchemy import create_engine, text

        url = request.getfixturevalue("pg_url")
        engine = create_engine(url)
        with engine.begin() as con:
            con.execute(text("DROP SCHEMA public CASCADE"))
            con.execute(text("CREATE SCHEMA public"))
        engine.dispose()
        monkeypatch.setenv("JINGYUN_DB_URL", url)
    settings = load_settings(tmp_path)
    shared.forget(settings)
    yield tmp_path
    shared.forget(settings)


def test_every_store_round_trips_on_sqlite_and_postgresql(on_db: Path) -> None:
    settings = load_settings(on_db)
    store = SegmentStore(settings)
    saved = store.save_segment(SavedSegment("zj", ZJ, zh="浙江", automation=True, playbook="win_back"))
    assert store.get_segment("zj") == saved and saved.version == 1
    with pytest.raises(JingyunError) as exists:
        store.save_segment(SavedSegment("zj", ZJ))
    assert exists.value.code == "segment_exists"
    assert store.save_segment(SavedSegment("zj", {"and": [ZJ]}), replace=True).version == 2
    with pytest.raises(JingyunError) as bad:
        store.save_segment(SavedSegment("bad name!", ZJ))
    assert bad.value.code == "bad_name"
    store.put_run(RunRecord("r1", "full", "zj", "running", "2026-01-01T00:00:00", "2026-01-01T00:10:00"))
    store.put_run(RunRecord("r1", "full", "zj", "ok", "2026-01-01T00:00:00", "2026-01-01T00:10:00", seconds=1.5))
    assert [(r.status, r.seconds) for r in store.runs()] == [("ok", 1.5)]
    groups = {f"p{i}": str(i % 7) for i in range(5000)}
    store.save_snapshot("rfm", "2026-01", {"counts": {}, "groups": groups, "taken_at": "2026-01-31T00:00:00"})
    assert store.load_snapshot("rfm", "2026-01")["groups"] == groups and store.snapshot_labels("rfm") == ["2026-01"]
    v = store.add_tag_version("t", {"a": 1}, "me")
    assert store.decide_tag_version("t", v.version, "you", True).status == "approved"
    e = create_experiment(settings, "exp_1", name="一")
    assert get_experiment(settings, "exp_1") == e
    with pytest.raises(JingyunError) as dup:
        create_experiment(settings, "exp_1")
    assert dup.value.code == "experiment_exists"
    save_flag(settings, Flag("f1", 0.2))
    save_flag(settings, Flag("f1", 0.3))
    assert get_flag(settings, "f1").rollout == 0.3
    dash = DashboardStore(on_db)
    p = dash.pin("mgr", frozenset({2}), "trend", "q=1", "T")
    assert dash.pin("mgr", frozenset({2}), "trend", "q=1", "T") == p  # pinning twice keeps one
    dash.share("mgr", p.id, True, frozenset({2}))
    assert [x.id for x in dash.shared_with("spec", frozenset({2}))] == [p.id]
    dash.unpin("mgr", p.id)
    assert dash.pins("mgr") == []
