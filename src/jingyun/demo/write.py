"""Write the demo sources in the formats real sources use.

Arrow tables are registered in DuckDB, which formats ids, timestamps and JSON
properties vectorised and writes NDJSON/CSV with ``COPY``; Parquet is written
by pyarrow. Every ``COPY`` orders its rows explicitly, so the same seed gives
byte-identical files.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from jingyun.demo import catalog, faults
from jingyun.demo.events import KEYWORDS, SERVICE_TOPICS
from jingyun.demo.experiment import VARIATIONS
from jingyun.demo.feedback import SOURCES
from jingyun.demo.generate import DemoData
from jingyun.demo.params import CHANNELS, PLATFORMS
from jingyun.demo.purchases import PAYMENT_METHODS, STATUSES
from jingyun.demo.sessions import EVENTS
from jingyun.demo.users import CHANNEL_IDS, format_phone
from jingyun.warehouse.sqltext import quote

LOCAL = "INTERVAL 8 HOUR"  # Asia/Shanghai has no daylight saving time


@dataclass(frozen=True)
class SourceFile:
    table: str
    path: Path
    mapping: Path | None = None


@dataclass
class Written:
    files: list[SourceFile] = field(default_factory=list)
    event_faults: faults.EventFaults = field(default_factory=faults.EventFaults)
    table_faults: faults.TableFaults = field(default_factory=faults.TableFaults)
    rows: dict[str, int] = field(default_factory=dict)  # rows written per file (lines incl. malformed)


def _uuid(expr: str) -> str:
    h = f"md5({expr})"
    return (
        f"substr({h},1,8)||'-'||substr({h},9,4)||'-'||substr({h},13,4)||'-'||substr({h},17,4)||'-'||substr({h},21,12)"
    )


def _local(ms: str) -> str:
    return f"(make_timestamp(({ms})::BIGINT * 1000) + {LOCAL})"


def _iso(ms: str) -> str:
    return f"strftime({_local(ms)}, '%Y-%m-%dT%H:%M:%S.%g+08:00')"


def _naive(ms: str) -> str:
    return f"strftime({_local(ms)}, '%Y-%m-%d %H:%M:%S')"


def _sql_list(values: tuple[str, ...] | list[str]) -> str:
    return "[" + ", ".join(quote(v) for v in values) + "]"


class Writer:
    def __init__(self, data: DemoData, out: Path):
        self.d = data
        self.out = out
        self.seed = data.params.seed
        self.con = duckdb.connect(":memory:")
        self.con.execute("SET TimeZone = 'UTC'")
        self.result = Written()
        self.rng = np.random.default_rng([data.params.seed, 99])
        self._register_lookups()

    def _register_lookups(self) -> None:
        d = self.d
        u = d.users
        self.con.register("users_t", pa.table({
            "idx": np.arange(u.n), "user_id": pa.array(list(u.user_id), pa.string()),
        }))
        p = d.products
        self.con.register("products_t", pa.table({
            "idx": np.arange(p.n), "pid": p.product_id, "category": p.category, "price": p.price,
        }))
        det = d.detail
        o = det.orders
        self.con.register("orders_t", pa.table({
            "idx": np.arange(len(o.user)), "user": o.user, "ts": o.ts_ms, "pay_ms": det.pay_ms,
            "amount": det.amount, "discount": det.discount, "pct": det.coupon_pct, "status": det.status,
            "method": det.method, "platform": o.platform, "store": det.store,
        }))

    def path(self, *parts: str) -> Path:
        p = self.out.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def copy(self, sql: str, path: Path, fmt: str) -> None:
        opts = "FORMAT json" if fmt == "json" else "FORMAT csv, HEADER true"
        self.con.execute(f"COPY ({sql}) TO '{path}' ({opts})")

    # -- order ids used by events and orders -----------------------------------
    def order_id(self, alias: str) -> str:
        return f"'SO' || strftime({_local(alias + '.ts')}, '%Y%m%d') || lpad(CAST({alias}.idx AS VARCHAR), 8, '0')"

    # -- events ----------------------------------------------------------------
    def events(self) -> None:
        d = self.d
        e = d.events
        n = len(e)
        mid = d.cal.start_ms + (d.cal.end_ms - d.cal.start_ms) // 2
        file = np.select(
            [e.platform == 0, e.platform == 1, e.platform == 2],
            [np.where(e.ts < mid, faults.APP1, faults.APP2), faults.WEB, faults.MINI],
            faults.POS_FILE,
        ).astype(np.int8)
        cols = {
            "rn": np.arange(n, dtype=float), "file": file, "eid": np.arange(n), "user": e.user,
            "logged": e.logged_in, "event": e.event, "ts": e.ts, "platform": e.platform, "session": e.session,
            "product": e.product, "order": e.order, "aux": e.aux,
            "placeholder": np.zeros(n, np.int8), "tsbad": np.zeros(n, np.int8),
            "fault": np.where(e.logged_in, 0, 9).astype(np.int8),
        }
        cols, ev_faults = faults.plant_event_faults(cols, self.rng)
        self.result.event_faults = ev_faults
        self.con.register("ev", pa.table(cols))
        seed = self.seed
        order_id = self.order_id("o")
        props = f"""CASE ev.event
            WHEN {EVENTS.index('view_product')} THEN json_object('product_id', p.pid, 'category', p.category, 'price', p.price)
            WHEN {EVENTS.index('add_to_cart')} THEN json_object('product_id', p.pid, 'quantity', 1, 'price', p.price)
            WHEN {EVENTS.index('checkout')} THEN CASE WHEN ev."order" >= 0
                THEN json_object('order_id', {order_id}, 'amount', o.amount) ELSE json_object('product_id', p.pid) END
            WHEN {EVENTS.index('pay')} THEN json_object('order_id', {order_id}, 'amount', o.amount,
                'method', {_sql_list(list(PAYMENT_METHODS))}[o.method + 1])
            WHEN {EVENTS.index('search')} THEN json_object('keyword', {_sql_list(KEYWORDS)}[ev.session % {len(KEYWORDS)} + 1])
            WHEN {EVENTS.index('share')} THEN json_object('product_id', p.pid, 'to', 'wechat')
            WHEN {EVENTS.index('contact_service')} THEN json_object('topic', {_sql_list(SERVICE_TOPICS)}[ev.session % {len(SERVICE_TOPICS)} + 1])
            WHEN {EVENTS.index('coupon_claim')} THEN json_object('coupon_id',
                'CPN-' || strftime({_local('ev.ts')}, '%Y%m') || '-' || CAST(5 * (1 + ev.session % 6) AS VARCHAR))
            WHEN {EVENTS.index('exp_exposure')} THEN json_object('experiment', '{d.truths.ab.key}',
                'variation', {_sql_list(VARIATIONS)}[ev.aux + 1])
            WHEN {EVENTS.index('app_start')} THEN json_object('app_version', '5.' || CAST(ev.user % 4 + 1 AS VARCHAR) || '.0')
            ELSE json_object() END"""
        user_id = (
            "CASE ev.placeholder WHEN 1 THEN 'null' WHEN 2 THEN 'undefined' WHEN 3 THEN 'guest' "
            "ELSE CASE WHEN ev.logged THEN u.user_id END END"
        )
        anon = (
            f"CASE WHEN ev.placeholder > 0 OR ev.platform = 3 THEN NULL "
            f"ELSE 'a' || substr(md5('{seed}:a:' || CAST(ev.user AS VARCHAR)), 1, 16) END"
        )
        base = f"""
            CASE WHEN ev.eid < 0 THEN NULL ELSE {_uuid(f"'{seed}:e:' || CAST(ev.eid AS VARCHAR)")} END AS event_id,
            {user_id} AS user_id, {{anon}}
            {_sql_list(EVENTS)}[ev.event + 1] AS event,
            {{ts}} AS ts,
            {_sql_list([*list(PLATFORMS), 'tv'])}[ev.platform + 1] AS platform,
            's' || substr(md5('{seed}:s:' || CAST(ev.session AS VARCHAR)), 1, 16) AS session_id"""
        joins = """FROM ev LEFT JOIN users_t u ON u.idx = ev.user LEFT JOIN products_t p ON p.idx = ev.product
            LEFT JOIN orders_t o ON o.idx = ev."order" """
        iso_ts = (
            "CASE ev.tsbad WHEN 1 THEN ['2026-02-30 25:61', 'not-a-time', '昨天下午'][ev.eid % 3 + 1] "
            "WHEN 2 THEN '1900-01-01T08:00:00.000+08:00' WHEN 3 THEN '2099-12-31T10:00:00.000+08:00' "
            f"ELSE {_iso('ev.ts')} END"
        )
        for i, name in enumerate(faults.EVENT_FILES):
            path = self.path("events", name)
            if i == faults.POS_FILE:
                sql = (
                    # CSV carries text only: the amount (a number in the tracking plan) stays on the order.
                    f"SELECT {base.format(anon='', ts=_naive('ev.ts'))}, {self.order_id('o')} AS order_id, "
                    f"'S' || lpad(CAST(o.store AS VARCHAR), 3, '0') AS store_id "
                    f"{joins} WHERE ev.file = {i} ORDER BY ev.rn"
                )
                self.copy(sql, path, "csv")
            else:
                ts = iso_ts if i in (faults.APP1, faults.APP2) else "ev.ts"
                sql = (
                    f"SELECT {base.format(anon=anon + ' AS anonymous_id,', ts=ts)}, {props} AS properties "
                    f"{joins} WHERE ev.file = {i} ORDER BY ev.rn"
                )
                self.copy(sql, path, "json")
                bad = ev_faults.malformed.get(i, [])
                if bad:
                    _insert_lines(path, bad, self.rng)
            self.result.files.append(SourceFile("events", path))
            self.result.rows[str(path)] = int((cols["file"] == i).sum()) + len(ev_faults.malformed.get(i, []))

    # -- orders, items, payments ------------------------------------------------
    def orders(self) -> None:
        d = self.d
        det = d.detail
        m = len(det.orders.user)
        tf = self.result.table_faults
        # Negative amounts: refund rows exported as orders by a misconfigured job.
        neg = np.sort(self.rng.choice(m, size=5, replace=False))
        self.con.register("neg_t", pa.table({"idx": neg, "new_idx": np.arange(m, m + len(neg))}))
        cols = f"""{{oid}} AS order_id, u.user_id, {_naive('o.ts')} AS ts, {{amount}} AS amount,
            CAST(o.discount AS DECIMAL(18,2)) AS discount,
            CASE WHEN o.pct > 0 THEN 'CPN-' || strftime({_local('o.ts')}, '%Y%m') || '-' || CAST(o.pct AS VARCHAR) END AS coupon_id,
            {_sql_list(PLATFORMS)}[o.platform + 1] AS channel,
            CASE WHEN o.store > 0 THEN 'S' || lpad(CAST(o.store AS VARCHAR), 3, '0') END AS store_id,
            {_sql_list(STATUSES)}[o.status + 1] AS status,
            {_sql_list(list(PAYMENT_METHODS))}[o.method + 1] AS payment_method"""
        good = cols.format(oid=self.order_id("o"), amount="CAST(o.amount AS DECIMAL(18,2))")
        bad = cols.format(
            oid="'SO' || strftime(" + _local("o.ts") + ", '%Y%m%d') || lpad(CAST(n.new_idx AS VARCHAR), 8, '0')",
            amount="CAST(-o.amount AS DECIMAL(18,2))",
        )
        sql = f"""SELECT * FROM (
            SELECT o.idx AS k, {good} FROM orders_t o JOIN users_t u ON u.idx = o.user
            UNION ALL
            SELECT n.new_idx AS k, {bad} FROM orders_t o JOIN neg_t n ON n.idx = o.idx JOIN users_t u ON u.idx = o.user
        ) ORDER BY k"""
        path = self.path("orders", "orders.csv")
        self.con.execute(f"COPY (SELECT * EXCLUDE (k) FROM ({sql})) TO '{path}' (FORMAT csv, HEADER true)")
        tf.negative_amount_orders = [
            r[0] for r in self.con.execute(
                f"SELECT order_id FROM ({sql}) WHERE amount < 0 ORDER BY order_id").fetchall()
        ]
        self.result.files.append(SourceFile("orders", path))
        self.result.rows[str(path)] = m + len(neg)

        self.con.register("lines_t", pa.table({
            "o": det.line_order, "line_no": det.line_no, "product": det.line_product, "qty": det.line_qty,
            "unit": det.line_unit, "amount": det.line_amount,
        }))
        path = self.path("orders", "order_items.csv")
        self.copy(
            f"""SELECT {self.order_id('o')} AS order_id, l.line_no, p.pid AS product_id, l.qty AS quantity,
                CAST(l.unit AS DECIMAL(18,2)) AS unit_price, CAST(l.amount AS DECIMAL(18,2)) AS amount
                FROM lines_t l JOIN orders_t o ON o.idx = l.o JOIN products_t p ON p.idx = l.product
                ORDER BY l.o, l.line_no""",
            path, "csv",
        )
        self.result.files.append(SourceFile("order_items", path))
        self.result.rows[str(path)] = len(det.line_order)

        # Payments: three whose paid amount differs from the order, one with no order.
        mismatch = np.sort(self.rng.choice(m, size=3, replace=False))
        delta = np.zeros(m)
        delta[mismatch] = [10.0, -5.5, 0.01]
        self.con.register("delta_t", pa.table({"idx": np.arange(m), "delta": delta}))
        pay_cols = f"""'PAY' || lpad(CAST(o.idx AS VARCHAR), 10, '0') AS payment_id, {self.order_id('o')} AS order_id,
            {_iso('o.pay_ms')} AS ts, CAST(o.amount + dl.delta AS DECIMAL(18,2)) AS paid_amount,
            {_sql_list(list(PAYMENT_METHODS))}[o.method + 1] AS method"""
        orphan_ms = int(d.cal.end_ms - 86_400_000)
        orphan = (
            f"SELECT 'PAY' || lpad('{m}', 10, '0') AS payment_id, 'SO-UNKNOWN-{d.params.seed}' AS order_id, "
            f"{_iso(str(orphan_ms))} AS ts, CAST(88.00 AS DECIMAL(18,2)) AS paid_amount, 'wechat' AS method"
        )
        path = self.path("orders", "payments.csv")
        self.copy(
            f"""SELECT * FROM (SELECT {pay_cols} FROM orders_t o JOIN delta_t dl ON dl.idx = o.idx
                UNION ALL {orphan}) ORDER BY payment_id""",
            path, "csv",
        )
        ids = self.con.execute(
            f"SELECT {self.order_id('o')} FROM orders_t o WHERE o.idx IN ({', '.join(str(int(i)) for i in mismatch)}) ORDER BY o.idx"
        ).fetchall()
        tf.mismatched_payments = [r[0] for r in ids]
        tf.orphan_payments = [f"PAY{m:010d}"]
        self.result.files.append(SourceFile("payments", path))
        self.result.rows[str(path)] = m + 1

    # -- users: a CRM export with Chinese headers and a mapping -------------------
    def users(self) -> None:
        d = self.d
        u = d.users
        tf = self.result.table_faults
        # The same person registered twice (a new account with the same phone).
        dup_src = np.sort(self.rng.choice(np.flatnonzero(~u.is_test), size=min(10, u.n // 100), replace=False))
        new_ids = [f"u9{i + 1:06d}" for i in range(len(dup_src))]
        tf.duplicate_phone_users = [(new, str(u.user_id[s])) for new, s in zip(new_ids, dup_src, strict=True)]
        idx = np.concatenate([np.arange(u.n), dup_src])
        uid = list(u.user_id) + new_ids
        phone = list(u.phone) + [format_phone(u.phone_digits[s], (k + 1) % 5) for k, s in enumerate(dup_src)]
        reg = np.concatenate([u.reg_ms, u.reg_ms[dup_src] + 86_400_000 * 30])
        reg = np.minimum(reg, d.cal.end_ms - 1)
        gender_zh = np.array(["男", "女", "未知"], dtype=object)[u.gender[idx]]
        points = (d.churn.repeat_count[idx] * 120 + idx % 97).astype(np.int64)
        t = pa.table({
            "k": np.arange(len(idx)),
            "会员编号": pa.array(uid, pa.string()),
            "注册时间": reg,
            "来源渠道": pa.array([CHANNELS[CHANNEL_IDS[c]] for c in u.channel[idx]], pa.string()),
            "姓名": pa.array([u.name[i] for i in idx], pa.string()),
            "手机号": pa.array(phone, pa.string()),
            "邮箱": pa.array([u.email[i] for i in idx], pa.string()),
            "性别": pa.array(list(gender_zh), pa.string()),
            "出生日期": pa.array([u.birth_date[i] for i in idx], pa.date32()),
            "省份": pa.array([u.province[i] for i in idx], pa.string()),
            "城市": pa.array([u.city[i] for i in idx], pa.string()),
            "详细地址": pa.array([u.address[i] for i in idx], pa.string()),
            "会员等级": pa.array([u.member_level[i] for i in idx], pa.string()),
            "积分": points,
        })
        self.con.register("crm_t", t)
        path = self.path("crm", "users.csv")
        self.copy(
            """SELECT "会员编号", strftime(make_timestamp("注册时间" * 1000) + INTERVAL 8 HOUR, '%Y/%m/%d %H:%M:%S') AS "注册时间",
                "来源渠道", "姓名", "手机号", "邮箱", "性别", strftime("出生日期", '%Y/%m/%d') AS "出生日期",
                "省份", "城市", "详细地址", "会员等级", "积分" FROM crm_t ORDER BY k""",
            path, "csv",
        )
        mapping = {
            "columns": {
                "会员编号": "user_id",
                "注册时间": {"to": "registered_at", "format": "%Y/%m/%d %H:%M:%S", "timezone": "Asia/Shanghai"},
                "来源渠道": {"to": "channel", "values": {zh: key for key, zh in CHANNELS.items()}},
                "姓名": "name", "手机号": "phone", "邮箱": "email", "性别": "gender", "出生日期": "birth_date",
                "省份": "province", "城市": "city", "详细地址": "address", "会员等级": "member_level",
            },
        }
        mpath = self.path("crm", "mapping.yaml")
        mpath.write_text(
            "# CRM export (Chinese headers) → canonical users columns. 积分 lands in attributes.\n"
            + yaml.safe_dump(mapping, allow_unicode=True, sort_keys=False),
            encoding="utf-8",
        )
        self.result.files.append(SourceFile("users", path, mpath))
        self.result.rows[str(path)] = len(idx)

    # -- Parquet sources ---------------------------------------------------------
    def parquet(self) -> None:
        d = self.d
        p = d.products
        first = d.cal.first_date
        dates = lambda days: pa.array([first + dt.timedelta(days=int(x)) for x in days], pa.date32())  # noqa: E731
        self._pq("catalog", "products.parquet", "products", pa.table({
            "product_id": p.product_id, "name": p.name, "category": p.category, "brand": p.brand,
            "price": np.round(p.price, 2), "cost": p.cost, "launched_at": dates(p.launched_day),
            "attributes": [json.dumps({"premium": bool(x)}) for x in p.premium],
        }))
        inv = d.inventory
        pid = np.array(p.product_id, dtype=object)
        self._pq("catalog", "inventory.parquet", "inventory", pa.table({
            "snapshot_date": _dates(first, inv.day), "product_id": pa.array(pid[inv.product], pa.string()),
            "store_id": pa.array(np.array(catalog.WAREHOUSES, dtype=object)[inv.location], pa.string()),
            "quantity": inv.quantity,
        }))
        cp = d.competitors
        self._pq("catalog", "competitor_prices.parquet", "competitor_prices", pa.table({
            "date": _dates(first, cp.day),
            "competitor": pa.array(np.array(catalog.COMPETITORS, dtype=object)[cp.competitor], pa.string()),
            "product_id": pa.array(pid[cp.product], pa.string()), "price": cp.price,
        }))
        mk = d.marketing
        self._pq("marketing", "marketing_spend.parquet", "marketing_spend", pa.table({
            "date": _dates(first, mk.spend_day), "channel": pa.array(mk.spend_channel, pa.string()),
            "campaign_id": pa.array(mk.spend_campaign, pa.string()), "spend": mk.spend,
            "impressions": mk.impressions, "clicks": mk.clicks,
        }))
        order = np.lexsort((mk.touch_user, mk.touch_ms))
        self._pq("marketing", "touches.parquet", "touches", pa.table({
            "user_id": pa.array(d.users.user_id[mk.touch_user[order]], pa.string()),
            "ts": pa.array(mk.touch_ms[order], pa.timestamp("ms", tz="UTC")),
            "channel": pa.array(mk.touch_channel[order], pa.string()),
            "campaign_id": pa.array(mk.touch_campaign[order], pa.string()),
        }))

    def _pq(self, folder: str, name: str, table: str, t: pa.Table) -> None:
        path = self.path(folder, name)
        pq.write_table(t, path, compression="zstd")
        self.result.files.append(SourceFile(table, path))
        self.result.rows[str(path)] = t.num_rows

    def feedback(self) -> None:
        fb = self.d.feedback
        order = np.argsort(fb.ts_ms, kind="stable")
        self.con.register("fb_t", pa.table({
            "k": np.arange(len(order)),
            "user_id": pa.array(self.d.users.user_id[fb.user[order]], pa.string()),
            "ts": fb.ts_ms[order],
            "source": pa.array(np.array(SOURCES, dtype=object)[fb.source[order]], pa.string()),
            "text": pa.array([fb.text[i] for i in order], pa.string()),
            "score": fb.score[order],
            "score_type": pa.array(fb.score_type[order], pa.string()),
        }))
        path = self.path("feedback", "feedback.csv")
        self.copy(
            f"""SELECT 'FB' || lpad(CAST(k + 1 AS VARCHAR), 8, '0') AS feedback_id, user_id, {_iso('ts')} AS ts,
                source, text, score, score_type FROM fb_t ORDER BY k""",
            path, "csv",
        )
        self.result.files.append(SourceFile("feedback", path))
        self.result.rows[str(path)] = len(order)

    def close(self) -> None:
        self.con.close()


def _dates(first: dt.date, days: np.ndarray) -> pa.Array:
    epoch = (first - dt.date(1970, 1, 1)).days
    return pa.array((np.asarray(days) + epoch).astype(np.int32), pa.date32())


def _insert_lines(path: Path, lines: list[str], rng: np.random.Generator) -> None:
    """Put unreadable lines at fixed, seeded positions inside an NDJSON file."""
    text = path.read_bytes().split(b"\n")
    if text and text[-1] == b"":
        text.pop()
    at = sorted(rng.integers(0, len(text) + 1, size=len(lines)).tolist(), reverse=True)
    for pos, line in zip(at, lines, strict=True):
        text.insert(pos, line.encode())
    path.write_bytes(b"\n".join(text) + b"\n")


def write_sources(data: DemoData, out: Path) -> Written:
    """Write every source under ``out``; files are listed in ingestion order."""
    w = Writer(data, out)
    try:
        w.parquet()  # products first: the catalog the others refer to
        w.users()
        w.events()
        w.orders()
        w.feedback()
    finally:
        w.close()
    order = ["products", "users", "events", "orders", "order_items", "payments",
             "inventory", "competitor_prices", "marketing_spend", "touches", "feedback"]
    w.result.files.sort(key=lambda f: order.index(f.table))
    return w.result
