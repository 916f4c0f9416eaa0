"""`journey simulate` against an independent pandas computation of the same abandoned-browse rule."""

from __future__ import annotations

import json

import automation_rows as rows
import numpy as np
import pandas as pd
import pytest

from jingyun.cli.main import main
from jingyun.warehouse import Warehouse

WINDOW = pd.Timedelta(minutes=30)


def generate(wh: Warehouse, seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    users = [f"u{i:03d}" for i in range(300)]
    rows.users(wh, [{"user_id": u, "is_test": i % 50 == 0} for i, u in enumerate(users)])
    t0 = pd.Timestamp("2026-03-01 16:00:00")  # 00:00 on 2 March in Shanghai
    views = pd.DataFrame({"u": rng.choice([*users, "ghost1", "ghost2"], 2500),
                          "ts": t0 + pd.to_timedelta(rng.integers(-3600, 3 * 86400, 2500), unit="s")})
    # cancellations close to the 30-minute edge: some just inside, at it and just past it
    base = views.sample(900, random_state=seed)
    offsets = rng.choice([0, 1, 60, 1799, 1800, 1801, 2400], len(base))
    follow = pd.DataFrame({"u": base["u"].to_numpy(), "ts": base["ts"].to_numpy() + pd.to_timedelta(offsets, unit="s")})
    pays, orders = follow.iloc[:400], follow.iloc[400:]
    statuses = rng.choice(["paid", "created", "cancelled", "completed"], len(orders))
    rows.events(wh, [(u, "view_product", t.to_pydatetime()) for u, t in zip(views["u"], views["ts"], strict=True)])
    rows.events(wh, [(u, "pay", t.to_pydatetime()) for u, t in zip(pays["u"], pays["ts"], strict=True)])
    rows.orders(wh, [(u, t.to_pydatetime(), s) for u, t, s in zip(orders["u"], orders["ts"], statuses, strict=True)])
    cancels = pd.concat([pays, orders[statuses != "cancelled"]])
    # people: a users row, or an order of any status (a ghost who ordered is a person); never a test account
    real = {u for i, u in enumerate(users) if i % 50} | (set(orders["u"]) - {u for i, u in enumerate(users) if not i % 50})
    return views[views["u"].isin(real)], cancels


def expected(views: pd.DataFrame, cancels: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> list[tuple[str, str]]:
    fired = []
    by_user = {u: g["ts"].to_numpy() for u, g in cancels.groupby("u")}
    for u, t in zip(views["u"], views["ts"], strict=True):
        c = by_user.get(u, np.array([], dtype="datetime64[ns]"))
        if not ((c > np.datetime64(t)) & (c <= np.datetime64(t + WINDOW))).any():
            fired.append((u, t + WINDOW))
    frame = pd.DataFrame(fired, columns=["u", "at"])
    frame = frame[(frame["at"] >= start) & (frame["at"] < end)].sort_values(["u", "at"])
    kept: list[tuple[str, pd.Timestamp]] = []
    last: dict[str, pd.Timestamp] = {}
    for u, at in zip(frame["u"], frame["at"], strict=True):  # once per 24 h, greedy
        if u not in last or at - last[u] >= pd.Timedelta(hours=24):
            kept.append((u, at))
            last[u] = at
    return sorted((u, (at + pd.Timedelta(hours=8)).strftime("%Y-%m-%dT%H:%M:%S+08:00")) for u, at in kept)


def test_simulate_matches_pandas(wh: Warehouse, tmp_path, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    views, cancels = generate(wh)
    wh.close()
    spec = tmp_path / "browse.yaml"
    spec.write_text("key: browse\nholdout: 0\ntrigger:\n  type: event\n  event: view_product\n  absent:\n"
                    "    any_of: [{event: order}, {event: pay}]\n    within: 30m\n"
                    "steps:\n  - {id: push, type: action, channel: push, template: t}\n", encoding="utf-8")
    code = main(["journey", "simulate", str(spec), "--from", "2026-03-02", "--to", "2026-03-03", "--json", "--users"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    out = json.loads(captured.out)
    want = expected(views, cancels, pd.Timestamp("2026-03-01 16:00"), pd.Timestamp("2026-03-03 16:00"))
    got = sorted((u["user_id"], u["entered_at"]) for u in out["users"])
    assert len(want) > 100 and got == want
    assert out["entered"] == len(want) and set(out) == {"journey", "entered", "steps", "actions", "suppressed", "users"}
    assert set(out["suppressed"]) == {"cap", "quiet_hours", "unsubscribed", "holdout", "entry_limit"}
    assert out["steps"] == [{"id": "push", "users": len(want)}]
    assert out["actions"]["push"] + sum(out["suppressed"][k] for k in ("cap", "quiet_hours", "unsubscribed")) == len(want)
