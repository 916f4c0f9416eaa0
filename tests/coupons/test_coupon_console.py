"""The console coupons page: the template list and one template's report, in Chinese and English."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from fastapi.testclient import TestClient

from jingyun import coupons
from jingyun.api import create_app
from jingyun.api.app import app_state
from jingyun.config import load_settings
from jingyun.security import auth
from jingyun.web import mount

PASSWORD = "coupon-console-password"


def test_coupons_page_lists_and_reports_in_both_languages(tmp_path: Path) -> None:
    settings = load_settings(tmp_path)
    app = create_app(settings)
    mount(app, settings)
    state = app_state(app)
    auth.create_person(state.store, username="ana", password=PASSWORD, role="analyst", departments=[],
                       service=state.service)
    later = dt.date.today() + dt.timedelta(days=10)
    coupons.create_template(state.store, settings, {"key": "web-200-30", "kind": "threshold", "threshold": "200",
                                                    "amount_off": "30", "valid_until": later.isoformat(), "stock": 9})
    coupons.issue(state.store, settings, "web-200-30", "u1")
    with TestClient(app) as c:
        assert c.get("/console/coupons", follow_redirects=False).status_code == 303  # not signed in
        r = c.post("/console/login", data={"username": "ana", "password": PASSWORD}, follow_redirects=False)
        assert r.status_code == 303
        zh = c.get("/console/coupons?lang=zh-CN")
        assert zh.status_code == 200 and "满200.00减30.00" in zh.text and "优惠券模板" in zh.text
        assert 'data-coupon="web-200-30"' in zh.text and "<td>8</td>" in zh.text  # stock left
        assert "<td>满减券</td>" in zh.text and "进行中" in zh.text  # kind and status labelled
        en = c.get("/console/coupons?lang=en&template=web-200-30")
        assert en.status_code == 200 and "¥30.00 off orders of ¥200.00+" in en.text
        assert "Report: web-200-30" in en.text and "Below the spending threshold" in en.text
        assert c.get("/console/coupons?template=nope").status_code == 404


def test_every_kind_status_and_reason_has_an_explicit_label() -> None:
    """The page names each value's catalog key in full (no t('coupons.kind_' + …) families), so the
    console's catalog test checks every one of them in both languages."""
    from jingyun.coupons.model import KINDS, STATUSES
    from jingyun.coupons.redemption import REASONS
    from jingyun.web import i18n

    page = (Path(coupons.__file__).parents[1] / "web" / "templates" / "coupons.html").read_text(encoding="utf-8")
    zh, en = i18n.catalog("zh-CN"), i18n.catalog("en")
    for family, values in (("kind", KINDS), ("status", STATUSES), ("reason", REASONS)):
        for value in values:
            key = f"coupons.{family}_{value}"
            assert f"'{value}': t('{key}')" in page, key
            assert zh[key] and en[key] and zh[key] != en[key], key
