"""Issuing codes: unique under concurrency (threads and processes, SQLite and PostgreSQL), stock and
budget never exceeded, idempotent on the key, one person per code."""

from __future__ import annotations

import datetime as dt
import multiprocessing as mp
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from jingyun import coupons
from jingyun.config import Settings, load_settings
from jingyun.coupons import registry
from jingyun.coupons.model import ALPHABET, CODE_LENGTH
from jingyun.errors import JingyunError
from jingyun.store import Store, open_store
from jingyun.store.coupons import CouponCode

NOW = dt.datetime(2026, 10, 1, 6, 0)  # 14:00 in Shanghai


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Settings, Store, str | None]]:
    settings = load_settings(tmp_path)
    url = None
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_url")
        st = open_store(settings, url, migrate=False)
        with st.engine.begin() as con:
            con.execute(text("DROP SCHEMA public CASCADE"))
            con.execute(text("CREATE SCHEMA public"))
        st.migrate()
    else:
        st = open_store(settings)
    yield settings, st, url
    st.close()


def _threshold(key: str, **extra: object) -> dict[str, object]:
    return {"key": key, "kind": "threshold", "threshold": "200", "amount_off": "30", "valid_days": 7, **extra}


def _race(st: Store, settings: Settings, key: str, threads: int, each: int, prefix: str = "u") -> tuple[list[str], list[str]]:
    got: list[str] = []
    refused: list[str] = []
    lock = threading.Lock()

    def work(i: int) -> None:
        for j in range(each):
            try:
                c = coupons.issue(st, settings, key, f"{prefix}{i}-{j}", now=NOW)
                with lock:
                    got.append(c.code)
            except JingyunError as exc:
                with lock:
                    refused.append(exc.code)

    ts = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return got, refused


def _stored(st: Store) -> list[str]:
    with st.session() as ses:
        return list(ses.scalars(select(CouponCode.code)))


def test_threads_never_exceed_stock_and_codes_are_unique(db: tuple[Settings, Store, str | None]) -> None:
    settings, st, _ = db
    coupons.create_template(st, settings, _threshold("stock40", stock=40), now=NOW)
    got, refused = _race(st, settings, "stock40", threads=6, each=10)
    assert len(got) == 40 and len(set(got)) == 40
    assert refused == ["coupon_out_of_stock"] * 20
    assert sorted(_stored(st)) == sorted(got)
    t = coupons.get_template(st, "stock40")
    assert t.issued == 40 and t.remaining_stock == 0
    assert all(len(c) == CODE_LENGTH and set(c) <= set(ALPHABET) for c in got)
    assert not set("".join(got)) & set("0O1I")


def test_threads_never_exceed_budget(db: tuple[Settings, Store, str | None]) -> None:
    settings, st, _ = db
    # 满200减30 with 1,000 yuan: 33 codes reserve 990, a 34th would reserve 1,020
    coupons.create_template(st, settings, _threshold("budget", budget="1000"), now=NOW)
    got, refused = _race(st, settings, "budget", threads=5, each=10)
    assert len(got) == 33 == len(set(got))
    assert refused == ["coupon_over_budget"] * 17
    t = coupons.get_template(st, "budget")
    assert t.reserved == Decimal("990.00") and t.remaining_budget == Decimal("10.00")


def test_collisions_retry_and_the_unique_constraint_holds(db: tuple[Settings, Store, str | None],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A code space of 64 for 40 codes: draws collide often; the database refuses every duplicate and
    the issuer retries, so every stored code is distinct and the counters match the rows."""
    settings, st, _ = db
    import random

    space = [f"AAAAAAAAAA{a}{b}" for a in "23456789" for b in "23456789"]
    monkeypatch.setattr(registry, "code_source", lambda: random.choice(space))
    monkeypatch.setattr(registry, "ATTEMPTS", 200)
    coupons.create_template(st, settings, _threshold("tiny", stock=40), now=NOW)
    got, refused = _race(st, settings, "tiny", threads=4, each=10)
    assert refused == [] and len(got) == 40 == len(set(got))
    with st.session() as ses:
        assert ses.scalar(select(func.count()).select_from(CouponCode)) == 40
    assert coupons.get_template(st, "tiny").issued == 40


def _child(url: str | None, home: str, key: str, worker: int, n: int, out: mp.Queue) -> None:
    settings = load_settings(Path(home))
    st = open_store(settings, url, migrate=False)
    got, refused = [], []
    for j in range(n):
        try:
            got.append(coupons.issue(st, settings, key, f"p{worker}-{j}", now=NOW).code)
        except JingyunError as exc:
            refused.append(exc.code)
    st.close()
    out.put((got, refused))


def test_two_processes_share_the_stock(db: tuple[Settings, Store, str | None]) -> None:
    settings, st, url = db
    coupons.create_template(st, settings, _threshold("procs", stock=50), now=NOW)
    ctx = mp.get_context("spawn")
    out: mp.Queue = ctx.Queue()
    procs = [ctx.Process(target=_child, args=(url, str(settings.home), "procs", w, 40, out)) for w in range(2)]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    got = [c for g, _ in results for c in g]
    refused = [r for _, rs in results for r in rs]
    assert len(got) == 50 == len(set(got))
    assert refused == ["coupon_out_of_stock"] * 30
    assert sorted(_stored(st)) == sorted(got)
    assert all(g for g, _ in results)  # both processes issued some: they really raced


def test_issue_is_idempotent_on_key_and_one_person_per_code(db: tuple[Settings, Store, str | None]) -> None:
    settings, st, _ = db
    coupons.create_template(st, settings, _threshold("idem", stock=10, per_user=2), now=NOW)
    first = coupons.issue(st, settings, "idem", "alice", key="journey:browse:alice", now=NOW)
    again = coupons.issue(st, settings, "idem", "alice", key="journey:browse:alice", now=NOW + dt.timedelta(hours=1))
    assert first.created and not again.created
    assert again.code == first.code and again.issued_at == first.issued_at
    second = coupons.issue(st, settings, "idem", "alice", now=NOW)
    assert second.code != first.code
    with pytest.raises(JingyunError) as err:
        coupons.issue(st, settings, "idem", "alice", now=NOW)
    assert err.value.code == "coupon_limit" and err.value.field == "user_id"
    t = coupons.get_template(st, "idem")
    assert t.issued == 2  # the replayed key and the refused third took no stock
    assert [c.user_id for c in coupons.codes(st, "idem")] == ["alice", "alice"]


def test_a_repeated_key_returns_its_code_after_stock_runs_out_or_the_template_pauses(
        db: tuple[Settings, Store, str | None]) -> None:
    """docs/coupons.md: a repeat with a used key returns the first code — also once the stock is gone
    (the guarded update refuses first) or the template is paused; a new key is still refused."""
    settings, st, _ = db
    coupons.create_template(st, settings, _threshold("last", stock=2), now=NOW)
    first = coupons.issue(st, settings, "last", "alice", key="k-alice", now=NOW)
    coupons.issue(st, settings, "last", "bob", key="k-bob", now=NOW)
    again = coupons.issue(st, settings, "last", "alice", key="k-alice", now=NOW + dt.timedelta(hours=1))
    assert not again.created and again.code == first.code and again.user_id == "alice"
    with pytest.raises(JingyunError) as err:
        coupons.issue(st, settings, "last", "carol", key="k-carol", now=NOW)
    assert err.value.code == "coupon_out_of_stock"
    coupons.set_status(st, "last", "paused")
    assert coupons.issue(st, settings, "last", "bob", key="k-bob", now=NOW).user_id == "bob"
    with pytest.raises(JingyunError) as err:
        coupons.issue(st, settings, "last", "dave", key="k-dave", now=NOW)
    assert err.value.code == "coupon_inactive"
    t = coupons.get_template(st, "last")
    assert t.issued == 2 and len(_stored(st)) == 2  # repeats took no stock and wrote no code


def test_validity_from_issue_ends_at_local_midnight(db: tuple[Settings, Store, str | None]) -> None:
    settings, st, _ = db
    coupons.create_template(st, settings, _threshold("week"), now=NOW)
    c = coupons.issue(st, settings, "week", "bob", now=NOW)
    # issued 2026-10-01 14:00 +08:00, 7 days: valid to the end of 10-08 local = 10-08 16:00 UTC
    assert c.valid_from == NOW and c.valid_until == dt.datetime(2026, 10, 8, 16, 0)
    coupons.create_template(st, settings, {"key": "oct", "kind": "percent", "percent_off": "15", "cap": "50",
                                           "valid_from": "2026-10-01", "valid_until": "2026-10-07"}, now=NOW)
    c2 = coupons.issue(st, settings, "oct", "bob", now=NOW)
    assert (c2.valid_from, c2.valid_until) == (dt.datetime(2026, 9, 30, 16), dt.datetime(2026, 10, 7, 16))
    with pytest.raises(JingyunError) as err:
        coupons.issue(st, settings, "oct", "carol", now=dt.datetime(2026, 10, 7, 16))
    assert err.value.code == "coupon_expired"
    coupons.set_status(st, "week", "paused")
    with pytest.raises(JingyunError) as err:
        coupons.issue(st, settings, "week", "dan", now=NOW)
    assert err.value.code == "coupon_inactive"
