"""The demo's discounted orders are redemptions of coupon templates the registry knows: `jingyun coupon
report` on a built demo agrees with an independent reading of the orders (campaign from month and rate)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from jingyun.cli.main import main
from jingyun.config import load_settings
from jingyun.demo import DemoParams, build
from jingyun.demo.coupons import install_coupons
from jingyun.warehouse import Warehouse

VALID = {"created", "paid", "shipped", "completed"}  # valid_orders, written out: placed and not undone


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("demo_coupons")
    build(load_settings(home), DemoParams(users=600, days=60, seed=5))
    return home


def _orders(home: Path) -> pd.DataFrame:
    with Warehouse.open(load_settings(home), read_only=True) as wh:
        df = wh.con.execute("SELECT order_id, user_id, ts, amount, discount, coupon_id, status, is_test "
                            "FROM orders WHERE coupon_id IS NOT NULL").df()
    local = pd.to_datetime(df["ts"]).dt.tz_localize("UTC").dt.tz_convert("Asia/Shanghai")
    gross = df["amount"].astype(float) + df["discount"].astype(float)
    pct = (df["discount"].astype(float) / gross * 100).round().astype(int)
    df["campaign"] = "CPN-" + local.dt.strftime("%Y%m") + "-" + pct.astype(str)
    df["valid"] = df["status"].fillna("created").isin(VALID) & ~df["is_test"].fillna(False).astype(bool)
    return df


def test_coupon_report_on_the_demo_shows_real_redemptions(demo_home: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    df = _orders(demo_home)
    assert len(df) > 100 and not df["coupon_id"].str.startswith("CPN-").any()  # every use now names its code
    assert df["coupon_id"].is_unique
    monkeypatch.setenv("JINGYUN_HOME", str(demo_home))
    assert main(["coupon", "report", "--json"]) == 0
    got = {t["template"]: t for t in json.loads(capsys.readouterr().out)["templates"]}
    expected = df.groupby("campaign").agg(issued=("order_id", "size"), redeemed=("valid", "sum"))
    assert sorted(got) == sorted(expected.index)
    for key, row in expected.iterrows():
        t = got[key]
        assert (t["issued"], t["redeemed"]) == (row["issued"], row["redeemed"]), key
        assert t["rejected"]["order_not_valid"] == row["issued"] - row["redeemed"]
        assert sum(t["rejected"].values()) == t["issued"] - t["redeemed"]  # no other reason: codes fit their orders
        stored = Decimal(str(df[(df["campaign"] == key) & df["valid"]]["discount"].astype(float).sum()))
        assert abs(Decimal(t["discount_cost"]) - stored) <= Decimal("0.01") * row["redeemed"] + Decimal("0.005")
    assert sum(t["redeemed"] for t in got.values()) > 0


def test_installing_again_changes_nothing(demo_home: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("JINGYUN_HOME", str(demo_home))
    assert main(["coupon", "report", "--json"]) == 0
    before = capsys.readouterr().out
    codes = _orders(demo_home).set_index("order_id")["coupon_id"]
    again = install_coupons(load_settings(demo_home))  # the orders name codes now, not campaigns
    assert (again.templates, again.codes) == (0, 0)
    assert _orders(demo_home).set_index("order_id")["coupon_id"].equals(codes)
    assert main(["coupon", "report", "--json"]) == 0
    assert capsys.readouterr().out == before
