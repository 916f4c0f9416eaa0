"""The three demo journeys (abandoned browse, birthday coupon, 30-day care) simulate on a small demo."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from jingyun.automation import guards
from jingyun.automation.journey import load_file
from jingyun.automation.simulate import SimulationResult, simulate
from jingyun.config import Settings, load_settings
from jingyun.warehouse.backends import open_backend
from jingyun.warehouse.personal import BIRTH_DATE_SQL

JOURNEYS = Path(__file__).parents[2] / "src" / "jingyun" / "demo" / "journeys"
FROM, TO = dt.date(2026, 9, 1), dt.date(2026, 9, 30)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    from jingyun.demo import DemoParams, build

    settings = load_settings(tmp_path_factory.mktemp("journey_demo"))
    build(settings, DemoParams(users=1500, days=150, seed=11))
    return settings


@pytest.fixture(scope="module")
def results(demo: Settings) -> Iterator[dict[str, SimulationResult]]:
    journeys = [load_file(p) for p in sorted(JOURNEYS.glob("*.yaml"))]
    with open_backend(demo) as backend:
        found = simulate(backend, journeys, FROM, TO, timezone=demo.timezone, with_users=True)
    yield {r.journey: r for r in found}


def test_three_demo_journeys(results: dict[str, SimulationResult]) -> None:
    assert set(results) == {"abandoned-browse", "birthday-coupon", "care-30d"}
    for r in results.values():
        out = r.to_dict(with_users=True)
        assert out["entered"] > 0, r.journey
        assert out["entered"] == len(out["users"])
        first = out["steps"][0]["users"]
        assert first == out["entered"] - out["suppressed"]["holdout"]
        assert all(u["entered_at"].endswith("+08:00") for u in out["users"])
        held = sum(1 for u in out["users"] if not u["path"])
        assert held == out["suppressed"]["holdout"]
    care = results["care-30d"].to_dict()
    steps = {s["id"]: s["users"] for s in care["steps"]}
    # the split sends about half of the treated through the coupon; everyone reaches the care message
    assert steps["care"] == steps["split"] and 0.3 < steps["coupon"] / steps["split"] < 0.7


def test_birthdays_agree_with_the_users_table(demo: Settings, results: dict[str, SimulationResult]) -> None:
    with open_backend(demo) as backend:
        users = backend.run(f"SELECT person_id, {BIRTH_DATE_SQL} AS b, member_level FROM users "
                            "WHERE NOT coalesce(is_test, FALSE) AND person_id IS NOT NULL").to_pandas()
    users = users[users["b"].notna()].drop_duplicates("person_id")  # a person may have several users rows
    b = pd.to_datetime(users["b"])
    born_in_sept = users[(b.dt.month == 9)]
    r = results["birthday-coupon"]
    assert sorted(u.user_id for u in r.users) == sorted(born_in_sept["person_id"])
    assert {u.entered_at.day for u in r.users} == set(b[b.dt.month == 9].dt.day)
    assert all(u.entered_at.hour == 10 for u in r.users)
    treated = born_in_sept[[not guards.in_holdout("birthday-coupon", p, 0.10) for p in born_in_sept["person_id"]]]
    high = treated["member_level"].isin(["金卡会员", "钻石会员"]).sum()
    steps = {s.id: s.users for s in r.steps}
    assert steps["high_value"] == len(treated) and steps["coupon"] == high == steps["email"]
