"""The files people have: what encoding detection, transcoding, Excel and place names cost.

- events CSV in UTF-8 (N rows): the path every existing CSV takes; with ``--before REF``
  the same file is also loaded by the tree at git ref REF (a worktree), in the same rounds,
  so the two are compared on the same machine under the same load;
- the same file in GB18030 (transcoded as it streams);
- users CSV (N/5 rows) with short province/city forms (normalised to official names);
- an .xlsx sheet of N/20 orders (openpyxl streaming).

Each load is a fresh subprocess into a fresh home; medians over BENCH_ROUNDS (default 3).
Writes bench/results/ingest_files.md.

    python -m bench.bench_ingest_files --rows 500000 --before 2f063db
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHILD = """
import sys, time
from pathlib import Path
from jingyun.config import load_settings
from jingyun.ingest import ingest_file
from jingyun.warehouse import Warehouse
table, path = sys.argv[1], Path(sys.argv[2])
with Warehouse.open(load_settings()) as wh:
    t = time.perf_counter()
    r = ingest_file(wh, table, path)
    print(time.perf_counter() - t, r.received, r.stored, r.quarantined)
"""
PLACES = [("广东", "深圳"), ("广东省", "深圳市"), ("浙江", "杭州"), ("浙江省", "杭州市"), ("上海", "上海"), ("北京市", "北京市"),
          ("粤", "广州"), ("四川省成都市", ""), ("火星", "")]


def make_files(folder: Path, n: int) -> dict[str, Path]:
    import duckdb
    from openpyxl import Workbook

    con = duckdb.connect()
    events = folder / "events.csv"
    con.execute(f"""COPY (SELECT 'e' || i AS event_id, 'u' || (i % 50000) AS user_id,
                   ['view_product', 'add_to_cart', 'pay'][1 + i % 3] AS event,
                   strftime(TIMESTAMP '2026-01-01' + to_seconds(i), '%Y-%m-%d %H:%M:%S') AS ts,
                   ['app', '小程序', 'web'][1 + i % 3] AS platform, '商品' || (i % 997) AS 标题
                   FROM range({n}) t(i)) TO '{events}' (FORMAT csv, HEADER)""")
    gbk = folder / "events_gb18030.csv"
    gbk.write_bytes(events.read_text(encoding="utf-8").encode("gb18030"))
    users = folder / "users.csv"
    with users.open("w", encoding="utf-8") as fh:
        fh.write("user_id,province,city,gender\n")
        for i in range(n // 5):
            p, c = PLACES[i % len(PLACES)]
            fh.write(f"u{i},{p},{c},{'男女'[i % 2]}\n")
    book = Workbook(write_only=True)
    ws = book.create_sheet("订单")
    ws.append(["order_id", "user_id", "ts", "amount", "status"])
    import datetime as dt

    for i in range(n // 20):
        ws.append([f"o{i}", f"u{i % 5000}", dt.datetime(2026, 1, 1) + dt.timedelta(minutes=i), 10 + i % 100 / 4, "paid"])
    xlsx = folder / "orders.xlsx"
    book.save(xlsx)
    return {"events": events, "gbk": gbk, "users": users, "xlsx": xlsx}


def run_child(src: Path, table: str, path: Path, home: Path) -> tuple[float, str]:
    env = dict(os.environ, JINGYUN_HOME=str(home), PYTHONPATH=str(src))
    out = subprocess.run([sys.executable, "-c", CHILD, table, str(path)], env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    return float(out[0]), " / ".join(out[1:])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--before", help="git ref to compare the UTF-8 events load with")
    args = parser.parse_args()
    rounds = int(os.environ.get("BENCH_ROUNDS", "3"))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = make_files(folder, args.rows)
        trees = {"now": ROOT / "src"}
        if args.before:
            wt = folder / "before"
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(wt), args.before], check=True)
            trees[args.before] = wt / "src"
        cases = [(f"events CSV UTF-8 ({name})", src, "events", files["events"]) for name, src in trees.items()]
        cases += [("events CSV GB18030 (now)", trees["now"], "events", files["gbk"]),
                  ("users CSV, short place names (now)", trees["now"], "users", files["users"]),
                  ("orders .xlsx (now)", trees["now"], "orders", files["xlsx"])]
        times: dict[str, list[float]] = {c[0]: [] for c in cases}
        counts: dict[str, str] = {}
        try:
            for r in range(rounds):
                for label, src, table, path in cases:
                    seconds, counts[label] = run_child(src, table, path, folder / f"home_{r}_{len(times[label])}_{hash(label)}")
                    times[label].append(seconds)
        finally:
            if args.before:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(folder / "before")], check=False)
        lines = [f"# ingest: the files people have ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, "
                 f"{rounds} rounds, load {os.getloadavg()[0]:.1f})", "",
                 f"`python -m bench.bench_ingest_files --rows {args.rows}" + (f" --before {args.before}`" if args.before else "`"), "",
                 "| file | median s | rows/s | each round s | received / stored / quarantined |", "|---|---|---|---|---|"]
        for label, values in times.items():
            n = int(counts[label].split(" / ")[0])
            med = statistics.median(values)
            lines.append(f"| {label} | {med:.2f} | {n / med:,.0f} | {', '.join(f'{v:.2f}' for v in values)} | {counts[label]} |")
        text = "\n".join(lines) + "\n"
        (ROOT / "bench" / "results" / "ingest_files.md").write_text(text, encoding="utf-8")
        print(text)


if __name__ == "__main__":
    main()
