"""Console catalogs and locale-aware formatting (界面文案与本地化格式).

Every visible label in a template goes through ``t(key)``; the two catalogs
(``i18n/zh-CN.json``, ``i18n/en.json``) must hold the same keys (a test checks
every key a template uses is in both). Chinese is the default locale.

Large numbers: Chinese readers count in 万 (10^4) and 亿 (10^8), so
12,345,678 is written ``1234.57万`` in zh-CN and ``12.35M`` in English cards;
tables keep full digits with separators in both.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from functools import cache
from pathlib import Path
from typing import Literal

Locale = Literal["zh-CN", "en"]
LOCALES: tuple[Locale, ...] = ("zh-CN", "en")
DEFAULT_LOCALE: Locale = "zh-CN"
_DIR = Path(__file__).parent / "i18n"


@cache
def catalog(locale: Locale) -> dict[str, str]:
    """The main catalog plus each capability's own (``i18n/<capability>.<locale>.json``)."""
    out = dict(json.loads((_DIR / f"{locale}.json").read_text(encoding="utf-8")))
    for extra in sorted(_DIR.glob(f"*.{locale}.json")):
        out.update(json.loads(extra.read_text(encoding="utf-8")))
    return out


def parse_locale(value: str | None) -> Locale:
    if value and value.lower().startswith("en"):
        return "en"
    return DEFAULT_LOCALE


def translate(locale: Locale, key: str, /, **values: object) -> str:
    """The label for ``key``; a missing key shows the key itself (the catalog test catches it first)."""
    text = catalog(locale).get(key, key)
    return text.format(**values) if values else text


def _trim(x: float, digits: int) -> str:
    return f"{x:,.{digits}f}"


def compact(value: float | None, locale: Locale, digits: int = 2) -> str:
    """A short number for cards: 万/亿 in Chinese, K/M/B in English."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    a = abs(value)
    if locale == "zh-CN":
        if a >= 1e8:
            return f"{value / 1e8:.{digits}f}亿"
        if a >= 1e4:
            return f"{value / 1e4:.{digits}f}万"
    else:
        for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
            if a >= size * 10 or (size >= 1e6 and a >= size):
                return f"{value / size:.{digits}f}{suffix}"
    if float(value).is_integer():
        return f"{int(value):,}"
    return _trim(value, digits)


def number(value: float | None, digits: int = 2) -> str:
    """A full number with thousands separators (tables, CSV previews)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if float(value).is_integer():
        return f"{int(value):,}"
    return _trim(value, digits)


def percent(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value * 100:.{digits}f}%"


def signed_percent(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value * 100:+.{digits}f}%"


RATIO_UNITS = frozenset({"ratio", "percent", "rate"})
MONEY_UNITS = frozenset({"cny", "yuan", "money", "CNY", "CNY."})


def by_unit(value: float | None, unit: str, locale: Locale, *, short: bool = True) -> str:
    """A metric value as its unit reads — the one formatter every page uses: ratios as percentages,
    money with ¥ and thousands separators, counts with separators (the console's CSS
    keeps a number on one line, so 万 never wraps alone); ``short`` (cards, charts) writes
    large numbers as 万/亿 (K/M/B in English), tables keep full digits (``short=False``)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if unit in RATIO_UNITS:
        return percent(value)
    text = compact(value, locale) if short else number(value, 2)
    return "¥" + text if unit in MONEY_UNITS else text


def good_change(change: float | None, direction: str) -> bool | None:
    """Whether a change is good news for a metric whose ``direction`` (the dictionary's ``higher`` or
    ``lower``) says which way is better: a falling refund rate is good. None: no change to judge."""
    if change is None or (isinstance(change, float) and math.isnan(change)) or change == 0:
        return None
    return (change > 0) == (direction != "lower")


def date(value: dt.date | dt.datetime | str | None, locale: Locale) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value[:10])
        except ValueError:
            return str(value)
    if locale == "zh-CN":
        return f"{value.year}年{value.month}月{value.day}日"
    return value.strftime("%d %b %Y")
