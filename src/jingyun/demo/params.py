"""Parameters of the demo business: the flags, and the planted truths.

Everything the generator draws from is here, so the ground truth can record
exactly what was planted and tests can compare analyses against it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

from jingyun.errors import JingyunError

PLATFORMS = ("app", "web", "miniprogram", "pos")
ONLINE_PLATFORMS = ("app", "web", "miniprogram")

# Acquisition channels: short ASCII ids, Chinese names for display.
CHANNELS: dict[str, str] = {
    "feed_ads": "信息流广告",
    "search": "搜索广告",
    "short_video": "短视频",
    "kol": "KOL种草",
    "referral": "老带新",
    "store": "门店",
    "organic": "自然流量",
}
# Share of new users per channel, and cost per acquired user (CNY) for paid ones.
CHANNEL_SHARE: dict[str, float] = {
    "feed_ads": 0.16, "search": 0.13, "short_video": 0.30, "kol": 0.08,
    "referral": 0.10, "store": 0.12, "organic": 0.11,
}
CHANNEL_CAC: dict[str, float] = {
    "feed_ads": 38.0, "search": 45.0, "short_video": 30.0, "kol": 60.0,
    "referral": 15.0, "store": 8.0, "organic": 0.0,
}

FUNNEL_STEPS = ("view_product", "add_to_cart", "checkout", "pay")


@dataclass(frozen=True)
class DemoParams:
    """The command-line flags: size, seed and calendar."""

    users: int = 50_000
    days: int = 365
    seed: int = 7
    end_date: dt.date = dt.date(2026, 10, 31)

    def validate(self) -> DemoParams:
        if self.users < 100:
            raise JingyunError("bad_param", "users must be at least 100", "users")
        if self.users > 5_000_000:
            raise JingyunError("bad_param", "users must be at most 5,000,000", "users")
        if not 30 <= self.days <= 3 * 366:
            raise JingyunError("bad_param", "days must be between 30 and 1098", "days")
        if self.seed < 0:
            raise JingyunError("bad_param", "seed must be >= 0", "seed")
        return self

    @property
    def start_date(self) -> dt.date:
        return self.end_date - dt.timedelta(days=self.days - 1)


@dataclass(frozen=True)
class BgNbdTruth:
    """BG/NBD repeat-purchase process and Gamma-Gamma spend (Fader, Hardie & Lee).

    Repeat purchases follow a Poisson process with rate lambda ~ Gamma(r, alpha)
    (shape r, rate alpha) per operational day while alive; after each repeat
    purchase the customer drops out with probability p ~ Beta(a, b). The first
    purchase is the customer's birth and never causes a dropout. Order value
    z ~ Gamma(p_gg, nu) (shape, rate) with nu ~ Gamma(q, gamma) per customer.
    """

    r: float = 0.6
    alpha: float = 30.0
    a: float = 0.8
    b: float = 4.0
    p: float = 6.0
    q: float = 4.0
    gamma: float = 120.0
    time_unit: str = "day"
    # Operational time: the calendar is stretched by the daily seasonality
    # multiplier (mean 1 over the period), so the process is homogeneous in it.
    time_note: str = "operational days: calendar days weighted by the seasonality multiplier (mean 1.0)"


@dataclass(frozen=True)
class FunnelTruth:
    """Session-level step conversion targets for online platforms."""

    view_to_cart: float = 0.60
    cart_to_checkout: float = 0.70
    checkout_to_pay: float = 0.30
    bottleneck: str = "checkout->pay"
    # The bottleneck got worse recently on one platform.
    worse_platform: str = "miniprogram"
    worse_checkout_to_pay: float = 0.16
    worse_days: int = 30


@dataclass(frozen=True)
class AbTruth:
    key: str = "checkout_copy_v2"
    control_rate: float = 0.25
    relative_lift: float = 0.10
    exposure_share: float = 0.6  # of users alive and online in the window
    window_days: int = 30  # exposures end a week before the month before the driver month
    conversion_days: int = 7

    @property
    def treatment_rate(self) -> float:
        return self.control_rate * (1 + self.relative_lift)


@dataclass(frozen=True)
class DriverTruth:
    """The planted cause of a GMV drop in the last full month."""

    channel: str = "short_video"
    normal_conversion: float = 0.60  # share of new users who ever buy
    dropped_conversion: float = 0.05
    # on top of it, a broad lull (demo/dip.py) takes company GMV this far below the month before:
    # between the demo rule's yellow (10 %) and red (20 %) lines, so gmv-mom fires yellow
    month_drop: float = 0.15


@dataclass(frozen=True)
class Truths:
    bgnbd: BgNbdTruth = field(default_factory=BgNbdTruth)
    funnel: FunnelTruth = field(default_factory=FunnelTruth)
    ab: AbTruth = field(default_factory=AbTruth)
    driver: DriverTruth = field(default_factory=DriverTruth)
    legacy_share: float = 0.35  # users registered before the period (CRM history)
    first_purchase_delay_days: float = 4.0  # mean delay registration → first order
    price_sensitive_rate: float = 0.35
    quality_sensitive_rate: float = 0.25
    service_sensitive_rate: float = 0.20
    return_rate: float = 0.05
    test_accounts: int = 8

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
