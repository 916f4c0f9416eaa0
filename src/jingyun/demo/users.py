"""Users: latent traits, acquisition and the CRM profile fields."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from jingyun.demo.params import CHANNEL_SHARE, CHANNELS, PLATFORMS, DemoParams, Truths
from jingyun.demo.timeline import Calendar, time_of_day

CHANNEL_IDS = tuple(CHANNELS)
SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈")
GIVEN = list("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国梓涵子轩浩宇欣怡一诺雨桐思源俊杰")
PLACES: list[tuple[str, list[str]]] = [
    ("广东省", ["广州市", "深圳市", "佛山市", "东莞市"]),
    ("浙江省", ["杭州市", "宁波市", "温州市"]),
    ("江苏省", ["南京市", "苏州市", "无锡市"]),
    ("上海市", ["上海市"]),
    ("北京市", ["北京市"]),
    ("四川省", ["成都市", "绵阳市"]),
    ("湖北省", ["武汉市", "宜昌市"]),
    ("山东省", ["济南市", "青岛市", "烟台市"]),
    ("福建省", ["福州市", "厦门市"]),
    ("河南省", ["郑州市", "洛阳市"]),
    ("湖南省", ["长沙市"]),
    ("陕西省", ["西安市"]),
    ("重庆市", ["重庆市"]),
    ("天津市", ["天津市"]),
]
PROVINCE_WEIGHTS = np.array([14, 11, 11, 9, 8, 7, 6, 7, 5, 5, 4, 4, 4, 3], dtype=float)
STREETS = ["人民路", "解放路", "中山路", "建设路", "和平路", "文化路", "新华路", "长江路", "滨江大道", "科技园路"]
DISTRICTS = ["东城区", "西城区", "高新区", "南山区", "天河区", "江北区", "鼓楼区", "新区"]
MOBILE_PREFIXES = ["138", "139", "137", "136", "135", "150", "151", "152", "158", "159",
                   "186", "187", "188", "189", "177", "180", "181", "199", "191", "133"]
MAIL_DOMAINS = ["qq.com", "163.com", "126.com", "gmail.com", "outlook.com", "foxmail.com", "sina.com"]
MEMBER_LEVELS = ["普通会员", "银卡会员", "金卡会员", "钻石会员"]


@dataclass
class Users:
    """One row per generated user; arrays are aligned by user index."""

    user_id: np.ndarray  # str
    reg_day: np.ndarray  # calendar day index
    reg_ms: np.ndarray  # UTC epoch ms
    legacy: np.ndarray  # registered before the observed period
    channel: np.ndarray  # index into CHANNEL_IDS
    main_platform: np.ndarray  # index into PLATFORMS
    price_sensitive: np.ndarray
    quality_sensitive: np.ndarray
    service_sensitive: np.ndarray
    customer: np.ndarray  # will make a first purchase
    lam: np.ndarray  # repeat purchase rate per operational day
    p_drop: np.ndarray  # dropout probability after each repeat purchase
    nu: np.ndarray  # Gamma-Gamma rate of order value
    is_test: np.ndarray
    name: list[str]
    phone_digits: list[str]  # 11 digits, formatting happens at write time
    phone: list[str]
    email: list[str | None]
    gender: np.ndarray  # index into male/female/unknown
    birth_date: list[dt.date]
    province: list[str]
    city: list[str]
    address: list[str]
    member_level: list[str]

    @property
    def n(self) -> int:
        return len(self.user_id)


def driver_months(params: DemoParams) -> tuple[dt.date, dt.date, dt.date]:
    """(previous month start, driver month start, driver month end) — the last full month."""
    end = params.end_date
    nxt = end + dt.timedelta(days=1)
    month_end = end if nxt.month != end.month else end.replace(day=1) - dt.timedelta(days=1)
    month_start = month_end.replace(day=1)
    prev_start = (month_start - dt.timedelta(days=1)).replace(day=1)
    return prev_start, month_start, month_end


def format_phone(digits: str, style: int) -> str:
    """The mixed formats real CRM exports contain."""
    if style == 0:
        return digits
    if style == 1:
        return f"+86 {digits[:3]}-{digits[3:7]}-{digits[7:]}"
    if style == 2:
        return f"0086 {digits}"
    if style == 3:
        return f"+86{digits}"
    return f"{digits[:3]} {digits[3:7]} {digits[7:]}"


def generate_users(params: DemoParams, truths: Truths, cal: Calendar, rng: np.random.Generator) -> Users:
    n = params.users
    bg = truths.bgnbd
    legacy = rng.random(n) < truths.legacy_share
    # New users arrive in proportion to demand (promotions bring sign-ups too).
    period_days = np.arange(cal.period_start, cal.n_days)
    w = cal.mult[cal.period_start:] / cal.mult[cal.period_start:].sum()
    reg_day = np.where(
        legacy,
        rng.integers(0, cal.period_start, size=n),
        rng.choice(period_days, size=n, p=w),
    )
    reg_day = np.sort(reg_day)  # user ids follow sign-up order, like a real sequence
    legacy = reg_day < cal.period_start
    reg_ms = cal.ts_ms(reg_day, time_of_day(rng, n))
    shares = np.array([CHANNEL_SHARE[c] for c in CHANNEL_IDS])
    channel = rng.choice(len(CHANNEL_IDS), size=n, p=shares / shares.sum())
    store = CHANNEL_IDS.index("store")
    main_platform = np.where(
        channel == store, PLATFORMS.index("pos"), rng.choice(4, size=n, p=[0.5, 0.14, 0.26, 0.10])
    )
    price_s = rng.random(n) < truths.price_sensitive_rate
    quality_s = rng.random(n) < truths.quality_sensitive_rate
    service_s = rng.random(n) < truths.service_sensitive_rate

    # Who ever buys: the planted driver makes one channel's new users stop converting
    # in the last full month.
    _, m_start, m_end = driver_months(params)
    d0 = (m_start - cal.first_date).days
    d1 = (m_end - cal.first_date).days
    conv = np.full(n, truths.driver.normal_conversion)
    hit = (channel == CHANNEL_IDS.index(truths.driver.channel)) & (reg_day >= d0) & (reg_day <= d1)
    conv[hit] = truths.driver.dropped_conversion
    customer = rng.random(n) < conv

    lam = rng.gamma(bg.r, 1.0 / bg.alpha, size=n)
    p_drop = rng.beta(bg.a, bg.b, size=n)
    nu = rng.gamma(bg.q, 1.0 / bg.gamma, size=n)

    digits = [
        MOBILE_PREFIXES[i] + f"{x:08d}"
        for i, x in zip(rng.integers(0, len(MOBILE_PREFIXES), n), rng.integers(0, 10**8, n), strict=True)
    ]
    styles = rng.choice(5, size=n, p=[0.5, 0.15, 0.1, 0.15, 0.1])
    phone = [format_phone(d, int(s)) for d, s in zip(digits, styles, strict=True)]
    sn = rng.integers(0, len(SURNAMES), n)
    g1 = rng.integers(0, len(GIVEN), n)
    g2 = rng.integers(0, len(GIVEN), n)
    two = rng.random(n) < 0.6
    name = [
        SURNAMES[a] + GIVEN[b] + (GIVEN[c] if t else "")
        for a, b, c, t in zip(sn, g1, g2, two, strict=True)
    ]
    has_mail = rng.random(n) < 0.7
    mail_dom = rng.integers(0, len(MAIL_DOMAINS), n)
    mail_num = rng.integers(100, 99999, n)
    letters = rng.integers(0, 26, size=(n, 6))
    email: list[str | None] = [
        ("".join(chr(97 + c) for c in letters[i]) + str(mail_num[i]) + "@" + MAIL_DOMAINS[mail_dom[i]])
        if has_mail[i] else None
        for i in range(n)
    ]
    gender = rng.choice(3, size=n, p=[0.42, 0.53, 0.05])
    age_days = rng.integers(18 * 365, 65 * 365, n)
    end = params.end_date
    birth = [end - dt.timedelta(days=int(a)) for a in age_days]
    prov = rng.choice(len(PLACES), size=n, p=PROVINCE_WEIGHTS / PROVINCE_WEIGHTS.sum())
    city_pick = rng.random(n)
    province = [PLACES[i][0] for i in prov]
    city = [PLACES[i][1][int(u * len(PLACES[i][1]))] for i, u in zip(prov, city_pick, strict=True)]
    street = rng.integers(0, len(STREETS), n)
    dist = rng.integers(0, len(DISTRICTS), n)
    num = rng.integers(1, 999, n)
    address = [
        f"{p}{c}{DISTRICTS[d]}{STREETS[s]}{k}号"
        for p, c, d, s, k in zip(province, city, dist, street, num, strict=True)
    ]
    level = rng.choice(4, size=n, p=[0.6, 0.22, 0.13, 0.05])
    member_level = [MEMBER_LEVELS[i] for i in level]

    user_id = np.array([f"u{i + 1:07d}" for i in range(n)], dtype=object)
    is_test = np.zeros(n, dtype=bool)
    # A few test accounts: QA ids by prefix, and staff using example.com mail.
    k = min(truths.test_accounts, n // 50)
    picks = rng.choice(n, size=k, replace=False)
    for j, i in enumerate(sorted(picks)):
        is_test[i] = True
        if j % 2 == 0:
            user_id[i] = f"test_{j + 1:03d}"
        else:
            email[i] = f"qa{j + 1}@example.com"
    return Users(
        user_id=user_id, reg_day=reg_day, reg_ms=reg_ms, legacy=legacy, channel=channel,
        main_platform=main_platform, price_sensitive=price_s, quality_sensitive=quality_s,
        service_sensitive=service_s, customer=customer, lam=lam, p_drop=p_drop, nu=nu,
        is_test=is_test, name=name, phone_digits=digits, phone=phone, email=email, gender=gender,
        birth_date=birth, province=province, city=city, address=address, member_level=member_level,
    )
