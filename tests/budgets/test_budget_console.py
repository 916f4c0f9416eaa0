"""The console budgets page (burn-down chart and table, the optimiser for managers) and pricing page
(proposals, the price history chart beside the competitors'), in Chinese and English."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient

from jingyun import budgets, pricing
from jingyun.api import create_app
from jingyun.api.app import app_state
from jingyun.budgets import LineSpec
from jingyun.config import load_settings
from jingyun.demo.channel_response import PLANTED, conversion_value
from jingyun.security import auth
from jingyun.warehouse import Warehouse
from jingyun.web import mount

PASSWORD = "budget-console-password"


def test_budget_and_pricing_pages(tmp_path: Path) -> None:
    settings = load_settings(tmp_path)
    wh = Warehouse.open(settings)
    rng = np.random.default_rng(1)
    start = dt.date(2026, 6, 1)
    s = np.round(300 * rng.lognormal(0, 0.35, 60), 2)
    v = conversion_value(PLANTED["search"], s, rng)
    wh.con.executemany("INSERT INTO marketing_spend (date, channel, campaign_id, spend, attributes) "
                       "VALUES (?, 'search', 'se', CAST(? AS DECIMAL(18,2)), ?)",
                       [(start + dt.timedelta(days=i), str(s[i]), json.dumps({"conversion_value": float(v[i])}))
                        for i in range(60)])
    wh.close()
    app = create_app(settings)
    mount(app, settings)
    state = app_state(app)
    for name, role in (("ana", "analyst"), ("max", "manager")):
        auth.create_person(state.store, username=name, password=PASSWORD, role=role, departments=[],
                           service=state.service)
    budgets.plan(state.store, key="jun", total="20000", period_start="2026-06-01", period_end="2026-06-10",
                 lines=[LineSpec.parse("marketing/search=17000")])
    pricing.import_csv(state.store, "competitor,competitor_item,product_id,price,observed_at\n"
                       "rival,R1,P1,100,2026-06-01\nrival,R1,P1,90,2026-06-08\n", tz=settings.timezone)
    with TestClient(app) as c:
        assert c.get("/console/budgets", follow_redirects=False).status_code == 303
        assert c.post("/console/login", data={"username": "ana", "password": PASSWORD},
                      follow_redirects=False).status_code == 303
        zh = c.get("/console/budgets?lang=zh-CN&key=jun")
        assert zh.status_code == 200 and "jun 消耗进度" in zh.text and 'data-budget="jun"' in zh.text
        day1 = f"{s[0]:.2f}"
        assert f"<td>2026-06-01</td><td>¥1700.00</td><td>¥{day1}</td>" in zh.text
        assert "预算分配优化" not in zh.text  # analysts do not run the optimiser
        en = c.get("/console/pricing?lang=en&product=P1")
        assert en.status_code == 200 and "Price history of P1" in en.text and "rival/R1" in en.text
        assert "2026-06-08T00:00:00+08:00" in en.text
        c.post("/console/logout")
        assert c.post("/console/login", data={"username": "max", "password": PASSWORD},
                      follow_redirects=False).status_code == 303
        opt = c.get("/console/budgets?lang=en&total=9000&days=30")
        assert opt.status_code == 200 and "Allocation optimiser" in opt.text and "¥9000.00" in opt.text
