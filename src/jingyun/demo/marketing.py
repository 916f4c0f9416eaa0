"""Marketing: daily spend per channel and campaign, and touches consistent with acquisition."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jingyun.demo.params import CHANNEL_CAC, CHANNELS
from jingyun.demo.purchases import Churn
from jingyun.demo.timeline import DAY_S, Calendar
from jingyun.demo.users import CHANNEL_IDS, Users

DAY_MS = DAY_S * 1000
PAID = tuple(c for c in CHANNELS if CHANNEL_CAC[c] > 0 and c != "store")
# Cost per mille and click-through rate per paid channel.
CPM = {"feed_ads": 28.0, "search": 45.0, "short_video": 22.0, "kol": 60.0, "referral": 5.0}
CTR = {"feed_ads": 0.012, "search": 0.04, "short_video": 0.018, "kol": 0.025, "referral": 0.08}
SMS_COST = 0.05


def campaign_of(cal: Calendar, channel: str, day: np.ndarray) -> np.ndarray:
    """Promotion campaigns run in the 618 and 双11 windows; otherwise the always-on one."""
    names = np.array([f"{channel}_always_on", f"{channel}_618", f"{channel}_1111"], dtype=object)
    month = np.array([cal.date(d).month for d in range(cal.n_days)])
    dom = np.array([cal.date(d).day for d in range(cal.n_days)])
    kind = np.where((month[day] == 6) & (dom[day] <= 18), 1, np.where((month[day] == 11) & (dom[day] <= 11), 2, 0))
    return names[kind]


@dataclass
class Marketing:
    spend_day: np.ndarray
    spend_channel: np.ndarray  # str
    spend_campaign: np.ndarray  # str
    spend: np.ndarray
    impressions: np.ndarray
    clicks: np.ndarray
    touch_user: np.ndarray
    touch_ms: np.ndarray
    touch_channel: np.ndarray  # str
    touch_campaign: np.ndarray  # str


def generate_marketing(users: Users, churn: Churn, cal: Calendar, rng: np.random.Generator) -> Marketing:
    new = ~users.legacy
    days = np.arange(cal.period_start, cal.n_days)
    sd, sc, scamp, sp, imp, clk = [], [], [], [], [], []
    tu, tm, tc, tcamp = [], [], [], []
    for ch in PAID:
        ci = CHANNEL_IDS.index(ch)
        acquired = np.bincount(users.reg_day[new & (users.channel == ci)], minlength=cal.n_days)[days]
        # Spend buys the acquisitions: CAC × new users, with day-to-day noise and a floor.
        spend = np.round(CHANNEL_CAC[ch] * acquired * rng.lognormal(0, 0.15, len(days)) + 50 * rng.random(len(days)), 2)
        im = (spend / CPM[ch] * 1000).astype(np.int64)
        sd.append(days)
        sc.append(np.full(len(days), ch, dtype=object))
        scamp.append(campaign_of(cal, ch, days))
        sp.append(spend)
        imp.append(im)
        clk.append(rng.binomial(im, CTR[ch]))
        # The ad touch that brought each user, shortly before sign-up.
        who = np.flatnonzero(new & (users.channel == ci))
        t = users.reg_ms[who] - rng.integers(60_000, 2 * DAY_MS, len(who))
        tu.append(who)
        tm.append(t)
        tc.append(np.full(len(who), ch, dtype=object))
        tcamp.append(campaign_of(cal, ch, cal.day_of_ts(np.maximum(t, cal.start_ms))))
    # CRM pushes and SMS to active users ahead of the two promotions.
    for d in range(cal.period_start, cal.n_days):
        date = cal.date(d)
        if (date.month, date.day) not in ((6, 10), (6, 17), (11, 3), (11, 10)):
            continue
        ms = int(cal.midnight_ms[d])
        active = (users.reg_ms < ms) & ((churn.drop_ms < 0) | (churn.drop_ms > ms))
        for ch, share in (("push", 0.35), ("sms", 0.15)):
            who = np.flatnonzero(active & (rng.random(users.n) < share))
            camp = f"crm_{'618' if date.month == 6 else '1111'}_{ch}"
            tu.append(who)
            tm.append(cal.ts_ms(np.full(len(who), d), rng.integers(9 * 3600, 11 * 3600, len(who))))
            tc.append(np.full(len(who), ch, dtype=object))
            tcamp.append(np.full(len(who), camp, dtype=object))
            if ch == "sms":
                sd.append(np.array([d]))
                sc.append(np.array([ch], dtype=object))
                scamp.append(np.array([camp], dtype=object))
                sp.append(np.array([round(SMS_COST * len(who), 2)]))
                imp.append(np.array([len(who)]))
                clk.append(np.array([int(rng.binomial(len(who), 0.02))]))
    return Marketing(
        np.concatenate(sd), np.concatenate(sc), np.concatenate(scamp), np.concatenate(sp),
        np.concatenate(imp), np.concatenate(clk),
        np.concatenate(tu), np.concatenate(tm), np.concatenate(tc), np.concatenate(tcamp),
    )
