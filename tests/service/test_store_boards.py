"""Migration 0013 on SQLite and PostgreSQL: the pins of ``dashboard_pins`` move onto boards (a default board per
person, shared pins onto a department board) and come back as pins on the way down."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from jingyun.config import load_settings
from jingyun.web.dashboards import DashboardStore, default_board_id


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_pins_move_onto_a_default_board_per_person(tmp_path: Path, db: str, request: pytest.FixtureRequest) -> None:
    """Migration 0013: dashboard_pins rows become items of a default board (shared pins: a department
    board); going down gives the pins back."""
    import sqlalchemy as sa
    from alembic import command
    from alembic.config import Config

    from jingyun.store import open_store
    from jingyun.store.db import MIGRATIONS

    if db == "sqlite":
        st = open_store(load_settings(tmp_path), migrate=False)
    else:
        st = open_store(load_settings(tmp_path), request.getfixturevalue("pg_url"), migrate=False)
        with st.engine.begin() as con:
            con.execute(sa.text("DROP SCHEMA public CASCADE"))
            con.execute(sa.text("CREATE SCHEMA public"))

    def alembic(verb: str, target: str) -> None:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with st.engine.begin() as con:
            cfg.attributes["connection"] = con
            getattr(command, verb)(cfg, target)

    alembic("upgrade", "0012")
    t0 = dt.datetime(2026, 1, 1)
    with st.engine.begin() as con:
        for i, (pid, owner, shared, depts) in enumerate((("p1", "mgr", False, []), ("p2", "mgr", True, [7, 9]),
                                                         ("p3", "spec", False, []), ("p4", "mgr", False, []))):
            con.execute(sa.text("INSERT INTO dashboard_pins VALUES (:id, :o, 'trend', :q, :t, :d, :s, :c)"),
                        {"id": pid, "o": owner, "q": f"metric=m{i}", "t": f"T{i}", "d": json.dumps(depts), "s": shared,
                         "c": t0 + dt.timedelta(minutes=i)})
    alembic("upgrade", "head")
    store = DashboardStore(tmp_path, st)
    assert [(p.id, p.query, p.board_id) for p in store.pins("spec")] == [("p3", "metric=m2", default_board_id("spec"))]
    default = store.board(default_board_id("mgr"))
    assert default.is_default and default.name == "我的看板" and [i.id for i in default.items] == ["p1", "p4"]
    assert [i.position for i in default.items] == [0, 1]
    by_dept = {b.department_id: b for b in store.boards("mgr", frozenset()) if b.department_id is not None}
    assert set(by_dept) == {7, 9}
    assert [(i.id, i.query) for i in store.board(by_dept[7].id).items] == [("p2", "metric=m1")]
    assert [i.query for i in store.board(by_dept[9].id).items] == ["metric=m1"]
    assert [p.id for p in store.shared_with("spec", frozenset({9}))] != []
    alembic("downgrade", "0012")
    with st.engine.begin() as con:
        rows = con.execute(sa.text("SELECT owner, query, shared FROM dashboard_pins ORDER BY created_at, id")).all()
    assert sorted(rows) == sorted([("mgr", "metric=m0", False), ("mgr", "metric=m1", True), ("mgr", "metric=m1", True),
                                   ("spec", "metric=m2", False), ("mgr", "metric=m3", False)])
    st.close()
