"""Generate the whole demo business in memory (columnar numpy), stage by stage."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from jingyun.demo.catalog import (
    CompetitorPrices,
    Inventory,
    Products,
    generate_competitor_prices,
    generate_inventory,
    generate_products,
)
from jingyun.demo.dip import Dip, plant_dip
from jingyun.demo.events import generate_events
from jingyun.demo.experiment import Exposure, plant_experiment
from jingyun.demo.feedback import Feedback, generate_feedback
from jingyun.demo.marketing import Marketing, generate_marketing
from jingyun.demo.params import DemoParams, Truths
from jingyun.demo.purchases import Churn, OrderDetail, concat_orders, detail_orders, generate_purchases, new_orders
from jingyun.demo.sessions import EventRows
from jingyun.demo.timeline import DAY_S, Calendar
from jingyun.demo.users import Users, driver_months, generate_users

DIP_STREAM = 1031  # the lull's own random stream: the stages' draws stay as they were
STAGES = ("users", "purchases", "experiment", "orders", "events", "marketing", "catalog", "feedback")


@dataclass
class DemoData:
    params: DemoParams
    truths: Truths
    cal: Calendar
    users: Users
    churn: Churn
    detail: OrderDetail
    exposure: Exposure
    events: EventRows
    marketing: Marketing
    products: Products
    inventory: Inventory
    competitors: CompetitorPrices
    feedback: Feedback
    dip: Dip


def stage_rng(seed: int, stage: str) -> np.random.Generator:
    """One independent stream per stage: changing one stage leaves the others' draws alone."""
    return np.random.default_rng([seed, STAGES.index(stage)])


def generate(
    params: DemoParams, truths: Truths | None = None, on_stage: Callable[[str], None] | None = None
) -> DemoData:
    truths = truths or Truths()
    params.validate()
    cal = Calendar.build(params)

    def done(stage: str) -> None:
        if on_stage:
            on_stage(stage)

    products = generate_products(cal, stage_rng(params.seed, "catalog"))
    users = generate_users(params, truths, cal, stage_rng(params.seed, "users"))
    done("users")
    orders, churn = generate_purchases(users, truths, cal, stage_rng(params.seed, "purchases"))
    done("purchases")
    rng = stage_rng(params.seed, "experiment")
    prev_month = (driver_months(params)[0] - cal.first_date).days
    exposure, ind_user, ind_ms = plant_experiment(users, orders, churn, truths, cal, prev_month, rng)
    induced = new_orders(users, ind_user, ind_ms, np.full(len(ind_user), 2, np.int8), truths.bgnbd.p, rng)
    # Induced orders are online: the experiment runs on the checkout page.
    induced.platform = np.where(induced.platform == 3, users.main_platform[ind_user] % 3, induced.platform)
    orders = concat_orders(orders, induced)
    orders, dip = plant_dip(orders, churn, users, params, truths, cal,
                            np.random.default_rng([params.seed, DIP_STREAM]))
    done("experiment")
    detail = detail_orders(orders, users, products, cal, truths, stage_rng(params.seed, "orders"))
    done("orders")
    alive_until = np.where(
        churn.drop_ms >= 0, np.minimum(churn.drop_ms + 14 * DAY_S * 1000, cal.end_ms), cal.end_ms
    )
    events = generate_events(
        users, detail, alive_until, (exposure.user, exposure.ts_ms, exposure.variation),
        truths, cal, stage_rng(params.seed, "events"), products.n, products.premium,
    )
    done("events")
    marketing = generate_marketing(users, churn, cal, stage_rng(params.seed, "marketing"))
    done("marketing")
    rng = stage_rng(params.seed, "catalog")
    inventory = generate_inventory(products, cal, rng)
    competitors = generate_competitor_prices(products, cal, rng)
    done("catalog")
    feedback = generate_feedback(users, alive_until, cal, stage_rng(params.seed, "feedback"))
    done("feedback")
    return DemoData(
        params, truths, cal, users, churn, detail, exposure, events, marketing,
        products, inventory, competitors, feedback, dip,
    )
