"""Mainland mobile numbers: one normal form, and the carrier from the prefix.

The normal form is the one ingestion stores (``+86`` and eleven digits); the SQL in
:mod:`jingyun.ingest.validate` makes the same choice over whole chunks, and the tests
check the two agree. ``+86``/``0086``/``86`` prefixes, spaces, dashes, dots and brackets
are dropped; what is left must be an eleven-digit mobile number starting 13–19.

The carrier follows the number segments the MIIT assigned (号段). A number ported to
another carrier (携号转网) keeps its segment, so the carrier is where the number was
issued: good enough for channel and cost planning, not for routing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Carrier = Literal["china_mobile", "china_unicom", "china_telecom", "china_broadnet"]

# three-digit segments, and the four-digit ones inside shared segments
_SEGMENTS: dict[str, Carrier] = {}
for _carrier, _prefixes in {
    "china_mobile": "134 135 136 137 138 139 147 148 150 151 152 157 158 159 172 178 182 183 184 187 188 195 197 198",
    "china_unicom": "130 131 132 145 146 155 156 166 167 171 175 176 185 186 196",
    "china_telecom": "133 149 153 173 177 180 181 189 190 191 193 199",
    "china_broadnet": "192",
}.items():
    for _p in _prefixes.split():
        _SEGMENTS[_p] = _carrier  # type: ignore[assignment]
_SEGMENTS_4: dict[str, Carrier] = {
    "1349": "china_telecom",  # satellite
    "1700": "china_telecom", "1701": "china_telecom", "1702": "china_telecom",  # virtual operators on each network
    "1703": "china_mobile", "1705": "china_mobile", "1706": "china_mobile",
    "1704": "china_unicom", "1707": "china_unicom", "1708": "china_unicom", "1709": "china_unicom",
    "1740": "china_telecom",
}
CARRIER_NAMES: dict[Carrier, tuple[str, str]] = {
    "china_mobile": ("中国移动", "China Mobile"),
    "china_unicom": ("中国联通", "China Unicom"),
    "china_telecom": ("中国电信", "China Telecom"),
    "china_broadnet": ("中国广电", "China Broadnet"),
}
_MOBILE = re.compile(r"1[3-9]\d{9}")
_DROP = re.compile(r"[\s\-–—.()（）]")


@dataclass(frozen=True)
class Phone:
    e164: str  # +8613800138000
    national: str  # 13800138000
    carrier: Carrier | None


def national_digits(text: str | None) -> str | None:
    """The eleven-digit mobile number in ``text``, or None when it holds none."""
    if text is None:
        return None
    s = _DROP.sub("", str(text).strip())
    if s.startswith("+86"):
        s = s[3:]
    elif s.startswith("0086"):
        s = s[4:]
    elif s.startswith("86") and len(s) == 13:
        s = s[2:]
    return s if _MOBILE.fullmatch(s) else None


def carrier(number: str | None) -> Carrier | None:
    """The carrier a mobile number was issued by (any accepted spelling of the number)."""
    digits = national_digits(number)
    if digits is None:
        return None
    return _SEGMENTS_4.get(digits[:4]) or _SEGMENTS.get(digits[:3])


def normalise_phone(text: str | None) -> Phone | None:
    digits = national_digits(text)
    if digits is None:
        return None
    return Phone("+86" + digits, digits, carrier(digits))


def carrier_sql(phone: str) -> str:
    """SQL for the carrier of a stored phone (``+86…``) column: for breakdowns in the warehouse."""
    four = " ".join(f"WHEN '{p}' THEN '{c}'" for p, c in _SEGMENTS_4.items())
    three = " ".join(f"WHEN '{p}' THEN '{c}'" for p, c in _SEGMENTS.items())
    return (f"CASE WHEN starts_with({phone}, '+86') AND length({phone}) = 14 THEN "
            f"coalesce(CASE substr({phone}, 4, 4) {four} END, CASE substr({phone}, 4, 3) {three} END) END")
