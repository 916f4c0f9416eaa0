"""The de-identification gate (去标识化, GB/T 35273 / PIPL): the one place that pseudonymises.

Library functions return raw data; every edge (API, console, CLI, exports, reports, messages)
passes what a masked role receives through a :class:`Masker`. Sensitivity comes from
classification, never from a list of routes:

- the data dictionary's ``sensitive`` columns (:mod:`jingyun.schema.tables`);
- personal-looking keys at any depth of JSON — objects and lists alike — in English, Chinese and
  pinyin (:func:`classify_key`: ``phone``, ``联系电话``, ``shoujihao``…);
- free text, scanned for mainland mobile numbers, ID-card numbers and email addresses
  (:func:`mask_text`), wherever a string reaches a masked role (notes, feedback, JSON values).

The rules: names are removed; a birth date becomes its age band (``25-30``: 25 ≤ age ≤ 30, the one
scheme of :mod:`jingyun.security.age_bands`); an address becomes its province; phone, email, ID
numbers and any other personal value become a keyed pseudonym ``sha256:<hex>`` of ``salt + normalised value`` (:func:`pseudonym`). There is one
salt per workspace (``ServiceSettings.mask_salt``) and one normalisation, so the same phone gets the
same pseudonym from the API, the console, the CLI and every export, and joins on pseudonyms work.

Breakdowns, filters and rules on a sensitive field are refused for roles without raw access
(:func:`require_field_access`: 403 naming the field).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from jingyun.errors import JingyunError
from jingyun.schema.tables import TABLES, Table
from jingyun.security.age_bands import age_band  # the one scheme; re-exported for callers of masking

Rule = Literal["remove", "band", "province", "hash"]
MASK_PREFIX = "sha256:"

_PROVINCE = re.compile(r"^\s*(.{2,8}?(?:省|自治区|特别行政区)|北京|上海|天津|重庆)")

# Whole keys (lower-cased, separators removed: "Phone_Number" -> "phonenumber").
_EXACT: dict[str, Rule] = {}
for _rule, _keys in {
    "remove": ("name", "realname", "fullname", "firstname", "lastname", "surname", "givenname", "familyname",
               "contactname", "contact", "receiver", "receivername", "recipient", "recipientname", "consignee",
               "xingming", "zhenshixingming", "mingzi", "shoujianren", "shouhuoren", "lianxiren"),
    "band": ("birthdate", "birthday", "dob", "dateofbirth", "birth", "shengri", "chushengriqi"),
    "province": ("address", "addr", "streetaddress", "shippingaddress", "deliveryaddress", "homeaddress",
                 "receiveraddress", "billingaddress", "dizhi", "shouhuodizhi", "xiangxidizhi", "jiatingzhuzhi",
                 "zhuzhi"),
    "hash": ("phone", "phonenumber", "phoneno", "mobile", "mobilephone", "mobileno", "mobilenumber", "cellphone",
             "cell", "tel", "telephone", "telno", "email", "emailaddress", "mail", "idcard", "idnumber", "idno",
             "identitycard", "nationalid", "passport", "passportno", "ssn", "bankcard", "bankcardno", "cardno",
             "openid", "unionid", "wechatid", "wxid", "qq", "shouji", "shoujihao", "shoujihaoma", "dianhua",
             "dianhuahaoma", "lianxidianhua", "lianxifangshi", "youxiang", "dianziyouxiang", "shenfenzheng",
             "shenfenzhenghao", "shenfenzhenghaoma", "yinhangka", "weixinhao"),
}.items():
    for _k in _keys:
        _EXACT[_k] = _rule  # type: ignore[assignment]

# Word parts of English keys (split at separators and camelCase): "receiver_phone", "homeAddress".
_TOKENS: dict[str, Rule] = {
    "phone": "hash", "mobile": "hash", "telephone": "hash", "email": "hash", "idcard": "hash", "passport": "hash",
    "address": "province", "birthday": "band", "birthdate": "band",
}
# A key naming a property of a device or a count, not a person: "phone_model", "email_count", "address_type".
_NOT_PERSONAL_TOKENS = frozenset({"model", "brand", "os", "type", "count", "verified", "opt", "optin", "domain",
                                  "carrier", "country", "region", "format", "valid", "status", "level", "source"})

# Chinese fragments anywhere in a key: "联系电话", "收货地址", "真实姓名", "身份证号".
_ZH: tuple[tuple[str, Rule], ...] = (
    ("身份证", "hash"), ("证件号", "hash"), ("护照", "hash"), ("银行卡", "hash"), ("手机号", "hash"), ("电话", "hash"),
    ("手机", "hash"), ("联系方式", "hash"), ("邮箱", "hash"), ("电子邮件", "hash"), ("微信号", "hash"), ("地址", "province"),
    ("住址", "province"), ("生日", "band"), ("出生", "band"), ("姓名", "remove"), ("名字", "remove"),
    ("收货人", "remove"), ("收件人", "remove"), ("联系人", "remove"),
)
_ZH_NOT_PERSONAL = ("品牌", "型号", "数量", "次数", "类型", "系统")

# Free text: a mainland mobile number (optionally +86), an 18-digit ID card, an email address.
_TEXT_PATTERNS = re.compile(
    r"(?P<email>[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,})"
    r"|(?P<id>(?<![0-9A-Za-z])[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[0-9Xx](?![0-9A-Za-z]))"
    r"|(?P<phone>(?<![0-9A-Za-z])(?:(?:\+|00)?86[- ]?)?1[3-9]\d(?:[- ]?\d{4}){2}(?![0-9A-Za-z]))"
)
_PSEUDONYM = re.compile(r"sha256:[0-9a-f]{64}")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SPLIT = re.compile(r"[\s_\-.:/]+")


def _normal(key: str) -> str:
    return _SPLIT.sub("", key).lower()


def classify_key(key: Any) -> Rule | None:
    """The masking rule a key (a JSON key, a column alias) calls for, or None when it names nothing personal."""
    text = str(key).strip()
    if not text:
        return None
    exact = _EXACT.get(_normal(text))
    if exact is not None:
        return exact
    if any("\u4e00" <= ch <= "\u9fff" for ch in text):
        if any(word in text for word in _ZH_NOT_PERSONAL):
            return None
        for word, rule in _ZH:
            if word in text:
                return rule
        return None
    tokens = [t.lower() for t in _SPLIT.split(_CAMEL.sub(" ", text)) if t]
    if any(t in _NOT_PERSONAL_TOKENS for t in tokens):
        return None
    for t in tokens:
        if t in _TOKENS:
            return _TOKENS[t]
    if len(tokens) > 1:  # "real_name", "contact_name": a name, unless it names a thing ("product_name")
        if tokens[-1] == "name" and tokens[0] in {"real", "full", "first", "last", "contact", "receiver", "customer",
                                                  "recipient", "user", "member", "legal", "nick", "true"}:
            return "remove"
        joined = "".join(tokens)
        return _EXACT.get(joined)
    return None


def normalise(value: Any) -> str:
    """The one normalisation before hashing: trimmed, lower-cased, a mainland mobile without +86 / spaces."""
    text = str(value).strip().lower()
    digits = re.sub(r"[\s\-()]", "", text)
    if re.fullmatch(r"(?:\+|00)?(?:86)?1[3-9]\d{9}", digits):
        return "+86" + digits[-11:]
    return text


def pseudonym(value: Any, salt: bytes) -> str | None:
    """``sha256:<hex>`` of salt + the normalised value: stable for one salt, so joins on it work."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and _PSEUDONYM.fullmatch(value):  # already through the gate: masking is idempotent
        return value
    return MASK_PREFIX + hashlib.sha256(salt + normalise(value).encode()).hexdigest()


def province_of(address: Any, fallback: Any = None) -> str | None:
    if fallback:
        return str(fallback)
    if not address:
        return None
    match = _PROVINCE.match(str(address))
    return match.group(1) if match else None


def mask_text(text: str, salt: bytes) -> str:
    """Free text with every phone number, ID-card number and email address replaced by its pseudonym."""
    if not text or not any(ch.isdigit() or ch == "@" for ch in text):
        return text
    return _TEXT_PATTERNS.sub(lambda m: pseudonym(m.group(0), salt) or "", text)


def has_personal_text(text: str) -> bool:
    return bool(_TEXT_PATTERNS.search(text))


def _rule_for_column(name: str, kind: str) -> Rule:
    rule = classify_key(name)
    if rule is not None:
        return rule
    return "band" if kind == "date" else "hash"


@dataclass
class Masker:
    """What a masked role receives, for one request: rows, keyed values, JSON and free text.

    ``today`` fixes age bands (the reference date of the data shown, or today).
    """

    salt: bytes
    today: dt.date | None = None
    _tables: dict[str, Table] = field(default_factory=lambda: dict(TABLES))

    # -- values ------------------------------------------------------------------------
    def keyed(self, key: Any, value: Any, out: dict[str, Any]) -> None:
        """Put ``key: value`` into ``out`` as a masked role may see it (removed, banded, reduced or hashed)."""
        rule = classify_key(key)
        if rule is None:
            out[str(key)] = self.any(value)
        elif rule == "remove":
            return
        elif rule == "band":
            out["age_band"] = age_band(value, self.today)
        elif rule == "province":
            out[str(key)] = province_of(value) if isinstance(value, str) else None
        else:
            out[str(key)] = self.hashed(value)

    def hashed(self, value: Any) -> Any:
        if isinstance(value, Mapping | list | tuple):
            return self.any(value)
        return pseudonym(value, self.salt)

    def any(self, value: Any) -> Any:
        """Any value: JSON text is parsed and walked, objects and lists at any depth, strings scanned."""
        if isinstance(value, str):
            stripped = value.lstrip()
            if stripped[:1] in ("{", "["):
                try:
                    parsed = json.loads(value)
                except ValueError:
                    return mask_text(value, self.salt)
                if isinstance(parsed, dict | list):
                    return json.dumps(self.any(parsed), ensure_ascii=False)
            return mask_text(value, self.salt)
        if isinstance(value, Mapping):
            out: dict[str, Any] = {}
            for k, v in value.items():
                self.keyed(k, v, out)
            return out
        if isinstance(value, list | tuple):
            return [self.any(v) for v in value]
        return value

    # -- rows --------------------------------------------------------------------------
    def row(self, table: Table | str, row: Mapping[str, Any]) -> dict[str, Any]:
        """One row of ``table``: sensitive columns by their rule, JSON walked, free text scanned."""
        tbl = self._tables[table] if isinstance(table, str) else table
        out: dict[str, Any] = {}
        for key, value in row.items():
            try:
                col = tbl.column(key)
            except Exception:  # a computed column: classified by its name like a JSON key
                self.keyed(key, value, out)
                continue
            if col.classification == "sensitive":
                rule = _rule_for_column(col.name, col.kind)
                if rule == "remove":
                    continue
                if rule == "band":
                    out["age_band"] = age_band(value, self.today)
                elif rule == "province":
                    out[key] = province_of(value, row.get("province"))
                else:
                    out[key] = pseudonym(value, self.salt)
            elif col.kind in ("json", "text"):
                out[key] = self.any(value)
            else:
                out[key] = value
        return out

    def named(self, names: Sequence[str], rows: Iterable[Sequence[Any]],
              table: Table | str | None = None) -> tuple[list[str], list[list[Any]]]:
        """Query results (column names + rows) as a masked role may see them: columns classified by name
        (or by ``table``'s dictionary where the name is one of its columns), removed columns dropped."""
        tbl = (self._tables[table] if isinstance(table, str) else table) if table is not None else None
        out_rows = [self.row(tbl, dict(zip(names, r, strict=True))) if tbl is not None
                    else self.any(dict(zip(names, r, strict=True))) for r in rows]
        if out_rows:
            headers = list(out_rows[0])
        else:
            probe: dict[str, Any] = {}
            for n in names:
                self.keyed(n, None, probe)
            headers = list(probe)
        return headers, [[r.get(h) for h in headers] for r in out_rows]


def deidentify(table: Table, row: Mapping[str, Any], salt: bytes, today: dt.date | None = None) -> dict[str, Any]:
    """One row of ``table`` with every sensitive column de-identified (see :class:`Masker`)."""
    return Masker(salt, today).row(table, row)


def sensitive_columns(table: Table) -> list[str]:
    return [c.name for c in table.columns if c.classification == "sensitive"]


# -- fields a masked role may not break down, filter or select by ------------------------------
def sensitive_field(ref: str, table: Table | str | None = None) -> bool:
    """Whether a field reference names personal data.

    ``users.phone`` (a ``sensitive`` column of the dictionary), ``properties.contacts[0].phone`` /
    ``attributes.联系电话`` (a personal-looking JSON key at any depth), ``phone`` (a column of
    ``table``, or a personal-looking name when no table is given).
    """
    head, _, rest = ref.partition(".")
    if head in TABLES and rest:
        return sensitive_field(rest, head)
    if head in ("properties", "attributes", "props", "attrs") and rest:
        return any(classify_key(part) for part in re.split(r"[.\[\]]+", rest) if part and not part.isdigit())
    if table is not None:
        tbl = TABLES[table] if isinstance(table, str) else table
        try:
            col = tbl.column(head)
        except Exception:
            col = None
        if col is not None:
            if col.classification == "sensitive":
                return True
            if col.kind == "json" and rest:
                return sensitive_field(f"properties.{rest}")
            return False
    return classify_key(head) is not None


def require_field_access(ref: str, *, sees_raw: bool, field_name: str, table: Table | str | None = None) -> None:
    """Refuse (403, naming the field) a breakdown, filter or rule on personal data for a masked role."""
    if sees_raw or not sensitive_field(ref, table):
        return
    hint = ""
    base = ref.rpartition(".")[2].lower()
    rule = classify_key(base)
    if rule == "band":
        hint = "; break down by the age_band tag instead"
    elif rule == "province":
        hint = "; use users.province instead"
    raise JingyunError("sensitive_field", f"{ref} is personal data, which your role may not break down, filter or "
                       f"select by{hint}", field_name, status=403)


# -- small counts where people are selected ---------------------------------------------
MIN_COUNT = 10


def small_count(n: int, threshold: int = MIN_COUNT) -> int | str:
    """A count of selected people as a masked role sees it: exact from ``threshold`` up, ``"<10"`` below.

    Only where people are picked (audience estimates, segment sizes): aggregate analyses stay exact.
    """
    return n if n >= threshold else f"<{threshold}"


def salt_for(settings: Any) -> bytes:
    """The workspace's masking salt (the service settings' ``mask_salt``), for edges that hold only Settings."""
    from jingyun.security.config import load_service_settings

    return load_service_settings(settings).mask_salt
