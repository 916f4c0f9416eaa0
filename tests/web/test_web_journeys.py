"""The journeys console without a browser: list, editor (errors with their field, preview by simulation, save as a
new version), the graph with live counts, the lift report with its interval, activation through approvals, zh/en."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

from jingyun.api.app import app_state
from jingyun.automation import registry
from jingyun.automation.guards import GuardRules
from jingyun.automation.journey import load_file
from jingyun.automation.simulate import simulate
from jingyun.metrics.definitions import for_settings
from jingyun.store.automation import JourneyEntryRow
from jingyun.warehouse.backends import open_backend

JOURNEYS = Path(__file__).parents[2] / "src" / "jingyun" / "demo" / "journeys"
TEXT = (JOURNEYS / "abandoned_browse.yaml").read_text(encoding="utf-8")


def _count(html: str, name: str) -> int:
    found = re.search(rf'data-count="{name}">(\d+)<', html)
    assert found, name
    return int(found.group(1))


def test_editor_preview_save_graph_report_and_activation(console: Any) -> None:
    state = app_state(console.app)
    spec = console.client("specialist")
    ana = console.client("analyst")
    page = ana.get("/console/journeys")
    assert page.status_code == 200 and 'href="/console/journeys"' in page.text
    assert ana.get("/console/journeys/new").status_code == 403
    assert ana.post("/console/journeys/editor", data={"text": TEXT, "action": "save"}).status_code == 403

    # a mistake is shown with its field, and nothing is saved
    bad = spec.post("/console/journeys/editor", data={"text": TEXT.replace("holdout: 0.10", "holdout: 2"),
                                                      "action": "check"})
    assert bad.status_code == 400 and 'data-field="holdout"' in bad.text
    broken = spec.post("/console/journeys/editor", data={"text": "key: [", "action": "check", "lang": "en"})
    assert broken.status_code == 400 and "not valid YAML" in broken.text
    assert spec.get("/console/journeys/abandoned-browse").status_code == 404
    ok = spec.post("/console/journeys/editor", data={"text": TEXT, "action": "check"})
    assert ok.status_code == 200 and 'data-done="valid"' in ok.text

    # preview: the last 30 days simulated, as the library simulates them
    preview = spec.post("/console/journeys/editor", data={"text": TEXT, "action": "preview"})
    assert preview.status_code == 200, preview.text
    reader = state.writer.reader()
    try:
        backend = open_backend(console.settings, warehouse=reader)
        end = dt.date.fromisoformat(re.search(r'data-to="([\d-]+)"', preview.text).group(1))  # type: ignore[union-attr]
        [res] = simulate(backend, [load_file(JOURNEYS / "abandoned_browse.yaml")], end - dt.timedelta(days=29), end,
                         timezone=console.settings.timezone, rules=GuardRules.from_settings(console.settings),
                         store=state.store, defs=for_settings(console.settings))
    finally:
        reader.close()
    assert _count(preview.text, "preview-entered") == res.entered > 0

    # save: a new version, then the journey's page
    saved = spec.post("/console/journeys/editor", data={"text": TEXT, "action": "save"}, follow_redirects=False)
    assert saved.status_code == 303 and saved.headers["location"] == "/console/journeys/abandoned-browse?done=saved"
    again = spec.post("/console/journeys/editor", data={"text": TEXT, "action": "save", "key": "abandoned-browse"},
                      follow_redirects=False)
    assert again.headers["location"].endswith("done=unchanged")
    other = spec.post("/console/journeys/editor", data={"text": TEXT.replace("key: abandoned-browse", "key: other"),
                                                        "action": "save", "key": "abandoned-browse"})
    assert other.status_code == 400 and 'data-field="key"' in other.text

    # live counts on the graph, from the runtime's entries
    t0 = dt.datetime(2026, 10, 1, 2, 0)
    with state.store.session() as ses:
        ses.add_all([
            JourneyEntryRow(journey_key="abandoned-browse", version=1, user_id="u0000001", entered_at=t0, holdout=False,
                            step="wait_order", state="waiting", path='["coupon", "push", "wait_order"]'),
            JourneyEntryRow(journey_key="abandoned-browse", version=1, user_id="u0000002", entered_at=t0, holdout=False,
                            step="converted", state="done",
                            path='["coupon", "push", "wait_order", "converted"]'),
            JourneyEntryRow(journey_key="abandoned-browse", version=1, user_id="u0000003", entered_at=t0, holdout=True,
                            step=None, state="done", path="[]"),
            JourneyEntryRow(journey_key="abandoned-browse", version=1, user_id="u0000004", entered_at=t0, holdout=False,
                            step="push", state="exited", path='["coupon", "push"]'),
        ])
        ses.commit()
    view = ana.get("/console/journeys/abandoned-browse?lang=en")
    assert view.status_code == 200
    assert (_count(view.text, "entered"), _count(view.text, "holdout"), _count(view.text, "converted"),
            _count(view.text, "exited")) == (4, 1, 1, 1)
    box = view.text.split('data-step="wait_order"')[1].split("</li>")[0]
    assert _count(box, "reached") == 2 and _count(box, "waiting") == 1
    assert 'href="/console/messages?journey=abandoned-browse"' in view.text
    assert "Lift report" in view.text and 'id="activation-form"' not in view.text  # analysts only read

    # with live entries in the range the report reads them (auto) ...
    live = ana.get("/console/journeys/abandoned-browse?from=2026-09-25&to=2026-10-05&lang=en")
    assert "live entries" in live.text and "<td>3</td><td>3</td>" in live.text.split('data-arm="treated"')[1][:200]
    # ... and the demo's planted effect shows on simulated history
    truth = json.loads((console.settings.home / "demo" / "ground_truth.json").read_text(encoding="utf-8"))
    effect = truth["journey_effect"]
    rep = ana.get(f"/console/journeys/abandoned-browse?from={effect['from']}&to={effect['to']}&source=simulated"
                  "&lang=zh-CN")
    assert rep.status_code == 200
    assert "处理组" in rep.text and "历史回放" in rep.text and "95% 置信区间" in rep.text
    row = rep.text.split('data-arm="treated"')[1].split("</tr>")[0]
    assert f"<td>{effect['treated_people']}</td>" in row
    ci = re.search(r'data-lift="conversion">.*?\[([+-][\d.]+), ([+-][\d.]+)\] pp', rep.text, re.S)
    assert ci and float(ci.group(1)) < effect["conversion_lift"] * 100 < float(ci.group(2))

    # activation goes through approvals
    asked = spec.post("/console/journeys/abandoned-browse/activation", follow_redirects=False)
    assert asked.status_code == 303 and "done=requested" in asked.headers["location"]
    rid = int(asked.headers["location"].rsplit("request_id=", 1)[1])
    from jingyun import approvals

    req = approvals.get(state.store, rid)
    assert req.type == "journey" and req.payload["journey"] == "abandoned-browse"
    assert registry.get(state.store, "abandoned-browse").status == "draft"  # until a manager approves
    listed = ana.get("/console/journeys?status=draft")
    assert 'data-journey="abandoned-browse"' in listed.text
