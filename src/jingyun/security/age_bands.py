"""The one age-band scheme (年龄段): masking, the ``age_band`` tag and the console all use it.

A band is named by the ages it holds, both ends included: ``18-24`` holds 18 ≤ age ≤ 24; the first
band is ``0-17`` (minors) and the last ``51+``. The edges (18, 25, 31, 41, 51) are the ones the
operations playbooks and the ad platforms' audience tools segment by, and they are at least five
years wide, so a band is also coarse enough to de-identify a birth date (PIPL / GB/T 35273).

Age is the exact age in whole years on a reference day: it goes up on the birthday (one born on
29 February turns a year older on 1 March in common years). Masking passes the reference date of
the data it shows (or today); the tag passes its as-of day — the same birth date and the same day
always give the same band, in Python (:func:`age_band`) and in SQL (:func:`band_sql`).

Before this scheme the tag stored ``18_24``-style labels with the same edges and masking printed
five-year half-open bands (``20-25``); :data:`LEGACY` maps the tag's old labels onto the new ones
exactly, so stored tag values, saved rules and old snapshots stay readable (:func:`normalise`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

EDGES: tuple[int, ...] = (18, 25, 31, 41, 51)
"""Lower ages of every band but the first (which starts at 0)."""


def _labels() -> tuple[str, ...]:
    lows = (0, *EDGES)
    out = [f"{lo}-{hi - 1}" for lo, hi in zip(lows, EDGES, strict=False)]
    return (*out, f"{EDGES[-1]}+")


BANDS: tuple[str, ...] = _labels()
"""``('0-17', '18-24', '25-30', '31-40', '41-50', '51+')``, youngest first."""

LEGACY: dict[str, str] = dict(zip(("under_18", "18_24", "25_30", "31_40", "41_50", "51_plus"), BANDS, strict=True))
"""The ``age_band`` tag's labels before the one scheme, each mapped to the band with the same ages."""


def age_on(birth: Any, today: dt.date) -> int | None:
    """Exact age in whole years on ``today``; None for a missing or unreadable date or one after ``today``."""
    if birth is None or birth == "":
        return None
    if isinstance(birth, dt.datetime):
        birth = birth.date()
    if not isinstance(birth, dt.date):
        try:
            birth = dt.date.fromisoformat(str(birth)[:10])
        except ValueError:
            return None
    age = today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))
    return age if age >= 0 else None


def band_of_age(age: int | None) -> str | None:
    if age is None or age < 0:
        return None
    for label, edge in zip(BANDS, EDGES, strict=False):
        if age < edge:
            return label
    return BANDS[-1]


def age_band(birth: Any, today: dt.date | None = None) -> str | None:
    """The band of a birth date on ``today`` (default: today's date)."""
    return band_of_age(age_on(birth, today or dt.date.today()))


def normalise(value: Any) -> Any:
    """A band label in the current scheme: legacy tag labels mapped, anything else unchanged."""
    if isinstance(value, str):
        return LEGACY.get(value, value)
    if isinstance(value, list | tuple):
        return type(value)(normalise(v) for v in value)
    return value


def age_sql(birth: str, today: dt.date) -> str:
    """Portable SQL for the exact age of the date expression ``birth`` on ``today`` (as :func:`age_on`)."""
    md = today.month * 100 + today.day
    return (f"({today.year} - EXTRACT(YEAR FROM {birth}) - CASE WHEN EXTRACT(MONTH FROM {birth}) * 100 + "
            f"EXTRACT(DAY FROM {birth}) > {md} THEN 1 ELSE 0 END)")


def band_sql(age: str) -> str:
    """Portable SQL naming the band of the integer expression ``age`` (NULL below 0, as :func:`band_of_age`)."""
    whens = " ".join(f"WHEN {age} < {edge} THEN '{label}'" for label, edge in zip(BANDS, EDGES, strict=False))
    return f"CASE WHEN {age} IS NULL OR {age} < 0 THEN NULL {whens} ELSE '{BANDS[-1]}' END"


def legacy_update_sql(table: str = "user_tags", tag: str = "age_band") -> str:
    """Rewrites stored tag values with legacy labels in place (touches nothing once they are migrated)."""
    cases = " ".join(f"WHEN '{old}' THEN '{new}'" for old, new in LEGACY.items())
    olds = ", ".join(f"'{old}'" for old in LEGACY)
    return f"UPDATE {table} SET value = CASE value {cases} END WHERE tag = '{tag}' AND value IN ({olds})"
