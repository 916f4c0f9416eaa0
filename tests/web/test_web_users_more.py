"""Users pages, part 3: segment size trends, the Sankey of stage flows, the nested audience rule."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from jingyun.segments import saved
from jingyun.segments.snapshots import current_groups, take_snapshot, transitions


def _reader(console: Any) -> Any:
    return console.app.state.jingyun.writer.reader()


def test_trend_series_equals_sizes_recomputed_at_each_refresh(console: Any) -> None:
    """Each refresh's size (from the change log) equals the rule's size at that refresh's as-of day,
    computed here by the library estimate, independently of segment_changes."""
    from web_support import REFRESH_DAYS_BACK, SAVED

    from jingyun.web.segment_trends import segment_trends

    wh = _reader(console)
    try:
        last = wh.scalar("SELECT max(ts) FROM orders")
        trends = segment_trends(wh, sorted(SAVED))
        for name, rule in SAVED.items():
            expected = [saved.estimate(wh, rule, as_of=last - dt.timedelta(days=b)).size for b in REFRESH_DAYS_BACK]
            # a refresh that changed nobody logs nothing: compare against the distinct consecutive sizes
            dedup = [s for i, s in enumerate(expected) if i == 0 or s != expected[i - 1]]
            assert trends[name].sizes == dedup, name
            assert len(set(expected)) > 1, f"{name}: the rule should move with the as-of day"
            assert trends[name].sizes[-1] == len(saved.members(wh, name))
    finally:
        wh.close()
    html = console.client("specialist").get("/console/panel/segments").text
    for name in SAVED:
        assert f"/console/users/segment?name={name}" in html
    assert html.count('class="sparkline"') == len(SAVED)
    page = console.client("specialist").get("/console/users/segment?name=recent_buyers")
    assert page.status_code == 200
    panel = console.client("specialist").get("/console/panel/segment_trend?name=recent_buyers").text
    sizes = [int(v) for v in re.findall(r'<td class="int" data-value="(\d+)"', panel)][2::3]
    assert sizes == trends["recent_buyers"].sizes
    csv = console.client("specialist").get("/console/export/segments.csv").content.decode("utf-8-sig")
    assert " → ".join(str(s) for s in trends["recent_buyers"].sizes) in csv


def test_sankey_links_equal_the_transition_matrix(console: Any) -> None:
    c = console.client("analyst")
    wh = _reader(console)
    try:
        tr = transitions(current_groups(wh, "lifecycle", as_of=dt.datetime(2026, 10, 1)),
                         current_groups(wh, "lifecycle", as_of=dt.datetime(2026, 11, 1)))
    finally:
        wh.close()
    html = c.get("/console/panel/lifecycle_flow?from=2026-10-01&to=2026-10-31&lang=en").text
    opt = json.loads(re.search(r'data-option="([^"]*)"', html).group(1).replace("&#34;", '"').replace("&quot;", '"')
                     .replace("&amp;", "&").replace("&#39;", "'"))
    links = opt["series"][0]["links"]
    from jingyun.segments.lifecycle import STAGES

    en = {v[1]: k for k, v in STAGES.items()}
    got = {(en.get(lk["source"].split(" · ")[0], lk["source"].split(" · ")[0]),
            en.get(lk["target"].split(" · ")[0], lk["target"].split(" · ")[0])): lk["value"] for lk in links}
    want = {(a, b): n for a in tr.groups for b in tr.groups if (n := tr.matrix[a][b])}
    assert got == want
    assert sum(got.values()) == tr.moved + tr.stayed
    names = {n["name"] for n in opt["series"][0]["data"]}
    assert {lk["source"] for lk in links} | {lk["target"] for lk in links} == names


def test_sankey_between_two_saved_snapshots(console: Any) -> None:
    from jingyun.segments.snapshots import compare_snapshots

    reader = _reader(console)  # snapshots are files in the workspace: reading the warehouse is enough
    try:
        take_snapshot(reader, "lifecycle", label="2026-09", as_of=dt.datetime(2026, 9, 1), overwrite=True)
        take_snapshot(reader, "lifecycle", label="2026-10", as_of=dt.datetime(2026, 10, 1), overwrite=True)
        tr = compare_snapshots(reader, "lifecycle", "2026-09", "2026-10")
    finally:
        reader.close()
    html = console.client("analyst").get("/console/panel/lifecycle_flow?snap_from=2026-09&snap_to=2026-10").text
    shown = sum(int(v) for v in re.findall(r'<td class="int" data-value="(\d+)"', html))
    assert shown == tr.moved + tr.stayed
    assert "2026-09" in html and "2026-10" in html


def test_nested_rule_estimate_and_error_path(console: Any) -> None:
    """The estimate of a nested rule (NOT group, event with a property filter) equals the library's;
    a bad node's path comes back in data-error-path for the builder to mark."""
    from jingyun.segments.audience import parse

    rule = {"and": [{"attr": "member_level", "op": "eq", "value": "gold"},
                    {"not": {"or": [{"orders": "count", "within_days": 90, "op": "gte", "value": 2},
                                    {"event": "view_product", "within_days": 60,
                                     "where": [{"prop": "category", "op": "eq", "value": "服饰"}],
                                     "count": {"op": "gte", "value": 1}}]}}]}
    parse(rule)
    c = console.client("manager")
    html = c.post("/console/users/estimate", data={"rule": json.dumps(rule)}).text
    wh = _reader(console)
    try:
        want = saved.estimate(wh, rule).size
    finally:
        wh.close()
    assert f'data-value="{want}"' in html
    rule["and"][1]["not"]["or"][0]["value"] = "two"
    bad = c.post("/console/users/estimate", data={"rule": json.dumps(rule)}).text
    assert 'data-error-path="rule.and[1].not.or[0].value"' in bad
    page = c.get("/console/users/audience").text
    from jingyun.segments.audience import ATTRIBUTES, ORDER_METRICS

    for name in [*ATTRIBUTES, *ORDER_METRICS]:  # the editors offer exactly what the library accepts
        assert f'<option value="{name}">' in page
    assert '<option value="recent_buyers">' in page  # saved segments for membership conditions
