"""RFM scores at quantile boundaries and ties; lifecycle edges."""

from __future__ import annotations

import pytest
from segments_support import AS_OF, days_ago, put

from jingyun.errors import JingyunError
from jingyun.segments.lifecycle import LifecycleParams, compute_lifecycle, lifecycle_query, preset
from jingyun.segments.rfm import RfmParams, compute_rfm, group_of
from jingyun.warehouse import Warehouse


def _orders(wh: Warehouse, spec: dict[str, list[tuple[float, float]]]) -> None:
    rows = []
    for user, orders in spec.items():
        for i, (days, amount) in enumerate(orders):
            rows.append({"order_id": f"{user}-{i}", "user_id": user, "ts": days_ago(days), "amount": amount,
                         "status": "completed"})
    put(wh, "orders", rows)
    put(wh, "users", [{"user_id": u, "registered_at": days_ago(400)} for u in spec])


def _scores(wh: Warehouse, params: RfmParams) -> dict[str, tuple[int, int, int]]:
    res = compute_rfm(wh, params, with_persons=True)
    return {str(p["person_id"]): (int(p["r"]), int(p["f"]), int(p["m"])) for p in res.persons}  # type: ignore[call-overload]


def test_quantile_boundaries_ten_distinct(hwh: Warehouse) -> None:
    # u1..u10: recency 10*k days (u1 most recent), k orders, amounts 100*k each
    _orders(hwh, {f"u{k:02d}": [(10 * k + j * 0.01, 100.0) for j in range(k)] for k in range(1, 11)})
    s = _scores(hwh, RfmParams(as_of=AS_OF))
    # 5 bins over 10 people: two per score; best two get 5
    assert [s[f"u{k:02d}"][0] for k in range(1, 11)] == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]
    assert [s[f"u{k:02d}"][1] for k in range(1, 11)] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert [s[f"u{k:02d}"][2] for k in range(1, 11)] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    # 3 bins: score = 1 + floor(3 * worse / 10)
    s3 = _scores(hwh, RfmParams(as_of=AS_OF, bins=3))
    assert [s3[f"u{k:02d}"][1] for k in range(1, 11)] == [1 + (3 * (k - 1)) // 10 for k in range(1, 11)]


def test_ties_share_the_lowest_rank_score(hwh: Warehouse) -> None:
    # frequencies 1,1,1,1,2,2,3,4,5,5: the four 1s share score 1, the two 5s share 1 + floor(5*8/10) = 5
    freqs = [1, 1, 1, 1, 2, 2, 3, 4, 5, 5]
    _orders(hwh, {f"u{i}": [(5 + i + j * 0.01, 10.0) for j in range(f)] for i, f in enumerate(freqs)})
    s = _scores(hwh, RfmParams(as_of=AS_OF))
    got = [s[f"u{i}"][1] for i in range(10)]
    worse = [sum(1 for g in freqs if g < f) for f in freqs]
    assert got == [1 + (5 * w) // 10 for w in worse] == [1, 1, 1, 1, 3, 3, 4, 4, 5, 5]
    # all equal: everyone shares score 1 (no arbitrary split by row order)
    hwh.con.execute("DELETE FROM orders")
    _orders(hwh, {f"v{i}": [(3, 10.0)] for i in range(6)})
    assert {v[0] for k, v in _scores(hwh, RfmParams(as_of=AS_OF)).items() if k.startswith("v")} == {1}


def test_threshold_scoring_and_groups(hwh: Warehouse) -> None:
    _orders(hwh, {"a": [(30, 100.0), (31, 150.0)], "b": [(31, 5000.0)], "c": [(181, 10.0)] * 8})
    s = _scores(hwh, RfmParams(scoring="threshold", as_of=AS_OF))
    # recency cuts 30/60/90/180 (<= is better); frequency cuts 2/3/5/8; amount cuts 200/500/1000/3000
    assert s["a"] == (5, 2, 2)  # exactly 30 days since the last order
    assert s["b"] == (4, 1, 5)
    assert s["c"] == (1, 5, 1)
    res = compute_rfm(hwh, RfmParams(scoring="threshold", as_of=AS_OF, split=3))
    by = {g.key: g for g in res.groups}
    assert (by["potential"].size, by["needs_attention"].size, by["new_or_promising"].size) == (1, 1, 1)
    assert by["potential"].zh == "重要发展客户"
    assert abs(sum(g.value_share for g in res.groups) - 1) < 1e-6
    assert group_of(5, 5, 5, {"r": 3, "f": 3, "m": 3}) == "champions"
    assert group_of(1, 1, 5, {"r": 3, "f": 3, "m": 3}) == "at_risk"


def test_rfm_rejects_bad_params() -> None:
    with pytest.raises(JingyunError) as err:
        RfmParams(recency_thresholds=(60, 30)).validate()
    assert err.value.field == "recency_thresholds"


def _stages(wh: Warehouse, params: LifecycleParams) -> dict[str, str]:
    return {str(p): str(s) for p, s in wh.rows(f"SELECT person_id, stage FROM ({lifecycle_query(params, AS_OF)}) x")}


def test_lifecycle_edges(hwh: Warehouse) -> None:
    users = {"d30": 30, "d31": 31, "d90": 90, "d91": 91, "d200": 200}
    put(hwh, "users", [{"user_id": u, "registered_at": days_ago(d)} for u, d in users.items()]
        + [{"user_id": u, "registered_at": days_ago(300)} for u in ("idle59", "idle60", "idle179", "idle180")])
    # the registered ones are active yesterday
    put(hwh, "events", [{"event_id": u, "user_id": u, "event": "view_home", "ts": days_ago(1)} for u in users]
        + [{"event_id": u, "user_id": u, "event": "view_home", "ts": days_ago(int(u[4:]))}
           for u in ("idle59", "idle60", "idle179", "idle180")])
    st = _stages(hwh, LifecycleParams(high_value_share=0.2))
    assert st == {"d30": "new", "d31": "growing", "d90": "growing", "d91": "mature", "d200": "mature",
                  "idle59": "mature", "idle60": "churn_risk", "idle179": "churn_risk", "idle180": "churned"}


def test_high_value_top_share_with_ties(hwh: Warehouse) -> None:
    put(hwh, "users", [{"user_id": f"c{i}", "registered_at": days_ago(300)} for i in range(10)])
    amounts = [1000, 900, 900, 100, 100, 100, 100, 100, 100, 100]
    put(hwh, "orders", [{"order_id": f"o{i}", "user_id": f"c{i}", "ts": days_ago(2), "amount": a,
                         "status": "paid"} for i, a in enumerate(amounts)])
    # top 20% of 10 = 2 people; c1 and c2 tie at 900 with one better: both are in
    st = _stages(hwh, LifecycleParams())
    assert sorted(p for p, s in st.items() if s == "high_value") == ["c0", "c1", "c2"]
    res = compute_lifecycle(hwh, LifecycleParams(as_of=AS_OF))
    assert {s.stage: s.users for s in res.stages}["high_value"] == 3
    # the SaaS preset calls 14 idle days churn risk
    saas = preset("saas")
    assert (saas.churn_risk_days, saas.new_max_days) == (14, 14)
    with pytest.raises(JingyunError):
        preset("bank")
