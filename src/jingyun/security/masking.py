"""De-identification (去标识化, GB/T 35273 / PIPL) by role, driven by the data
dictionary's column classification.

Rules for a ``sensitive`` column: names are removed; a birth date becomes an
age band of five years (``25-30``: 25 ≤ age < 30); an address becomes its
province; phone, email, ID numbers and any other sensitive value become a
salted SHA-256 pseudonym (``sha256:<hex>``, stable for one salt so joins
still work). JSON attribute columns are walked too, because extra source
columns land there: keys that name personal data are treated the same way.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from jingyun.schema.tables import Table

_PROVINCE = re.compile(r"^\s*(.{2,8}?(?:省|自治区|特别行政区)|北京|上海|天津|重庆)")
_SENSITIVE_KEYS = {
    "name": "remove", "real_name": "remove", "full_name": "remove", "姓名": "remove",
    "birth_date": "band", "birthday": "band", "dob": "band",
    "address": "province", "addr": "province", "地址": "province",
    "phone": "hash", "mobile": "hash", "tel": "hash", "email": "hash", "id_card": "hash",
    "id_number": "hash", "idcard": "hash", "身份证": "hash", "手机号": "hash", "邮箱": "hash",
}


def pseudonym(value: Any, salt: bytes) -> str | None:
    if value is None or value == "":
        return None
    text = str(value).strip().lower()
    return "sha256:" + hashlib.sha256(salt + text.encode()).hexdigest()


def age_band(birth: Any, today: dt.date | None = None, width: int = 5) -> str | None:
    if birth is None or birth == "":
        return None
    if isinstance(birth, dt.datetime):
        birth = birth.date()
    if not isinstance(birth, dt.date):
        try:
            birth = dt.date.fromisoformat(str(birth)[:10])
        except ValueError:
            return None
    today = today or dt.date.today()
    age = today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))
    if age < 0:
        return None
    low = age // width * width
    return f"{low}-{low + width}"


def province_of(address: Any, fallback: Any = None) -> str | None:
    if fallback:
        return str(fallback)
    if not address:
        return None
    match = _PROVINCE.match(str(address))
    return match.group(1) if match else None


def _rule_for(name: str, kind: str) -> str:
    lowered = name.lower()
    if lowered in _SENSITIVE_KEYS:
        return _SENSITIVE_KEYS[lowered]
    if kind == "date":
        return "band"
    return "hash"


def _mask_json(value: Any, salt: bytes, today: dt.date | None) -> Any:
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return value
        if isinstance(parsed, dict):
            return json.dumps(_mask_mapping(parsed, salt, today), ensure_ascii=False)
        return value
    if isinstance(value, dict):
        return _mask_mapping(value, salt, today)
    return value


def _mask_mapping(data: Mapping[str, Any], salt: bytes, today: dt.date | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, val in data.items():
        rule = _SENSITIVE_KEYS.get(str(key).lower())
        if rule == "remove":
            continue
        if rule == "band":
            out["age_band"] = age_band(val, today)
        elif rule == "province":
            out[key] = province_of(val)
        elif rule == "hash":
            out[key] = pseudonym(val, salt)
        elif isinstance(val, dict):
            out[key] = _mask_mapping(val, salt, today)
        else:
            out[key] = val
    return out


def deidentify(table: Table, row: Mapping[str, Any], salt: bytes, today: dt.date | None = None) -> dict[str, Any]:
    """One row of ``table`` with every sensitive column de-identified."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        try:
            col = table.column(key)
        except Exception:  # a computed column: keep it only if it names nothing personal
            rule = _SENSITIVE_KEYS.get(key.lower())
            if rule is None:
                out[key] = value
            continue
        if col.kind == "json":
            out[key] = _mask_json(value, salt, today)
            continue
        if col.classification != "sensitive":
            out[key] = value
            continue
        rule = _rule_for(col.name, col.kind)
        if rule == "remove":
            continue
        if rule == "band":
            out["age_band"] = age_band(value, today)
        elif rule == "province":
            out[key] = province_of(value, row.get("province"))
        else:
            out[key] = pseudonym(value, salt)
    return out


def sensitive_columns(table: Table) -> list[str]:
    return [c.name for c in table.columns if c.classification == "sensitive"]
