"""Encryption at rest of users' personal columns: what it costs ingestion and profile reads.

Each round loads the same files into two fresh workspaces, one with
``JINGYUN_ENCRYPT_PERSONAL=0`` (clear columns, pseudonyms only) and one with it on
(AES-256-GCM per value under the workspace's data key), in alternating order:
U users (CSV with name, phone, email, birth date, address and an ID card that
lands in attributes; 1% share an earlier user's phone), then E events (Parquet)
of those users. Events carry no sealed column, so the events/s row shows what
sealing users costs the event load (nothing but noise is expected); the users/s
row is the cost itself, and "users + events" is the whole load of both files.
Profile reads: P random users' identity rows (name, phone, email, gender, birth
date, province, city, address, member level, attributes) as a raw role reads
them — the query alone in clear, the query plus ``personal.reveal`` when sealed.
Goal (issue 15): ingestion drops at most 15 %. Medians over BENCH_ROUNDS
(default 3) rounds; each child is a fresh process.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

USERS_SQL = """
SELECT 'u' || i AS user_id,
       ['王', '李', '张', '刘', '陈'][1 + i % 5] || ['伟', '芳', '娜', '敏', '静', '磊'][1 + i % 6] || i AS name,
       '1' || (3800000000 + CASE WHEN i % 100 = 7 THEN i - 1 ELSE i END) AS phone,
       'user' || i || '@example.org' AS email,
       strftime(DATE '1960-01-01' + (i * 37 % 16000)::INTEGER, '%Y-%m-%d') AS birth_date,
       ['浙江省杭州市', '广东省深圳市', '上海市', '四川省成都市'][1 + i % 4] || '某某路' || i || '号' AS address,
       strftime(TIMESTAMP '2025-01-01' + to_seconds(i * 61), '%Y-%m-%d %H:%M:%S') AS registered_at,
       ['male', 'female'][1 + i % 2] AS gender,
       ['浙江省', '广东省', '上海市', '四川省'][1 + i % 4] AS province,
       ['regular', 'silver', 'gold'][1 + i % 3] AS member_level,
       '3301061990' || lpad((i % 10000)::VARCHAR, 4, '0') || lpad((i % 9999)::VARCHAR, 4, '0') AS id_card
FROM range({n}) t(i)
"""
EVENTS_SQL = """
SELECT 'e' || k AS event_id, 'u' || (k % {users}) AS user_id,
       ['view_product', 'add_to_cart', 'checkout', 'pay', 'search'][1 + k % 5] AS event,
       TIMESTAMPTZ '2026-01-01 00:00:00+08' + to_seconds(k % 25000000) AS ts,
       ['app', 'web', 'miniprogram', 'pos'][1 + k % 4] AS platform, 's' || (k // 7) AS session_id,
       '{{"product_id":"p' || (k % 5000) || '","price":' || (k % 997) || '.5}}' AS properties
FROM range({n}) t(k)
"""


def _files(folder: Path, users: int, events: int) -> tuple[Path, Path]:
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    u, e = folder / "users.csv", folder / "events.parquet"
    con.execute(f"COPY ({USERS_SQL.format(n=users)}) TO '{u}' (HEADER, DELIMITER ',')")
    con.execute(f"COPY ({EVENTS_SQL.format(n=events, users=users)}) TO '{e}' (FORMAT parquet)")
    return u, e


def child(home: str, users: str, events: str, reads: int) -> dict[str, Any]:
    import random

    from jingyun.config import load_settings
    from jingyun.ingest import ingest_file
    from jingyun.warehouse import Warehouse, personal

    os.environ["JINGYUN_SECRET_KEY"] = "bench-master-secret-0123456789abcdef"
    out: dict[str, Any] = {}
    with Warehouse.open(load_settings(home)) as wh:
        started = time.perf_counter()
        out["users"] = ingest_file(wh, "users", Path(users)).stored
        out["users_s"] = time.perf_counter() - started
        started = time.perf_counter()
        out["events"] = ingest_file(wh, "events", Path(events)).stored
        out["events_s"] = time.perf_counter() - started
        wh.con.execute("CHECKPOINT")
        ids = random.Random(7).sample(range(out["users"]), reads)
        cols = "user_id, name, phone, email, gender, birth_date, province, city, address, member_level, attributes"
        started = time.perf_counter()
        for i in ids:
            cur = wh.con.execute(f"SELECT {cols} FROM users WHERE user_id = ?", [f"u{i}"])
            names = [d[0] for d in cur.description]
            rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
            rows = personal.reveal(wh, rows)
            assert rows and rows[0]["phone"] is not None
        out["reads_s"] = time.perf_counter() - started
    return out


def _child(home: Path, users: Path, events: Path, reads: int, encrypt: bool) -> dict[str, Any]:
    code = (f"import json, bench.bench_personal as b; "
            f"print(json.dumps(b.child({str(home)!r}, {str(users)!r}, {str(events)!r}, {reads})))")
    env = {**os.environ, "JINGYUN_ENCRYPT_PERSONAL": "1" if encrypt else "0"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env,
                          cwd=Path(__file__).resolve().parent.parent)
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def run(quick: bool) -> list[dict[str, Any]]:
    n_users = 20_000 if quick else int(os.environ.get("BENCH_USERS", 200_000))
    n_events = 200_000 if quick else int(os.environ.get("BENCH_EVENTS", 2_000_000))
    reads = 200 if quick else 1_000
    rounds = 1 if quick else max(1, int(os.environ.get("BENCH_ROUNDS", 3)))
    runs: dict[bool, list[dict[str, Any]]] = {False: [], True: []}
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        folder = Path(tmp)
        users, events = _files(folder, n_users, n_events)
        for i in range(rounds):
            for encrypt in ((False, True) if i % 2 == 0 else (True, False)):
                home = folder / f"home_{i}_{int(encrypt)}"
                home.mkdir()
                runs[encrypt].append(_child(home, users, events, reads, encrypt))

    def med(encrypt: bool, key: str) -> float:
        return statistics.median(r[key] for r in runs[encrypt])

    def row(what: str, unit: str, clear: float, sealed: float, per_round: list[str]) -> dict[str, Any]:
        change = (sealed - clear) / clear
        return {"measure": what, "clear": f"{clear:,.0f} {unit}", "encrypted": f"{sealed:,.0f} {unit}",
                "change": f"{change:+.1%}", "rounds (clear / encrypted)": "; ".join(per_round)}

    def rate(encrypt: bool, count: str, seconds: str) -> float:
        return statistics.median(r[count] / r[seconds] for r in runs[encrypt])

    def both(count: str, seconds: str) -> list[str]:
        return [f"{c[count] / c[seconds]:,.0f} / {s[count] / s[seconds]:,.0f}"
                for c, s in zip(runs[False], runs[True], strict=True)]

    total = {e: statistics.median((r["users"] + r["events"]) / (r["users_s"] + r["events_s"]) for r in runs[e])
             for e in (False, True)}
    rows = [
        row(f"users ingested ({n_users:,} CSV rows)", "users/s", rate(False, "users", "users_s"),
            rate(True, "users", "users_s"), both("users", "users_s")),
        row(f"events ingested ({n_events:,} Parquet rows)", "events/s", rate(False, "events", "events_s"),
            rate(True, "events", "events_s"), both("events", "events_s")),
        row("users + events, whole load", "records/s", total[False], total[True],
            [f"{(c['users'] + c['events']) / (c['users_s'] + c['events_s']):,.0f} / "
             f"{(s['users'] + s['events']) / (s['users_s'] + s['events_s']):,.0f}"
             for c, s in zip(runs[False], runs[True], strict=True)]),
    ]
    clear_ms, sealed_ms = (med(e, "reads_s") / reads * 1000 for e in (False, True))
    rows.append({"measure": f"profile identity read ({reads:,} random users, raw role)",
                 "clear": f"{clear_ms:.3f} ms", "encrypted": f"{sealed_ms:.3f} ms",
                 "change": f"{(sealed_ms - clear_ms) / clear_ms:+.1%}",
                 "rounds (clear / encrypted)": "; ".join(f"{c['reads_s'] / reads * 1000:.3f} / {s['reads_s'] / reads * 1000:.3f} ms"
                                                       for c, s in zip(runs[False], runs[True], strict=True))})
    return rows
