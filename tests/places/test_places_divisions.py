"""GB/T 2260 divisions: short and long forms, abbreviations and combined texts meet one code."""

from __future__ import annotations

import pytest

from jingyun.places import lookup, normalise
from jingyun.places.divisions import divisions, short_name


@pytest.mark.parametrize("text", ["广东", "广东省", "粤", " 广东 省 ", "广东省广州市", "广东省广州市天河区"])
def test_guangdong_in_every_form_is_one_province(text: str) -> None:
    place = normalise(text)
    assert (place.province, place.province_code) == ("广东省", "440000")


@pytest.mark.parametrize(("province", "city"), [(None, "深圳"), (None, "深圳市"), ("广东", "深圳"), ("广东省", "深圳市"),
                                                ("粤", "深圳市"), ("广东深圳", None), ("", " 深圳 ")])
def test_shenzhen_in_every_form_is_one_city(province: str | None, city: str | None) -> None:
    place = normalise(province, city)
    assert (place.province_code, place.city, place.city_code) == ("440000", "深圳市", "440300")


def test_combined_text_is_split_into_levels() -> None:
    place = normalise("广东省广州市天河区")
    assert (place.city, place.city_code, place.district, place.district_code) == ("广州市", "440100", "天河区", "440106")
    assert place.code == "440106"
    bj = normalise("北京", "朝阳区")
    assert (bj.province, bj.city, bj.city_code, bj.district_code) == ("北京市", "北京市", "110100", "110105")
    assert normalise("上海").province == "上海市" and normalise("沪").province_code == "310000"


def test_autonomous_regions_and_prefectures_by_their_short_names() -> None:
    assert normalise("广西").province == "广西壮族自治区"
    assert normalise("内蒙古").province == "内蒙古自治区"
    assert normalise("新疆").province_code == "650000"
    assert normalise("贵州", "黔南").city == "黔南布依族苗族自治州"
    assert normalise("湖北", "仙桃").city_code == "429004"  # governed by the province directly
    assert short_name("黔南布依族苗族自治州") == "黔南" and short_name("沙县") == "沙县"


def test_context_decides_shared_names_and_unknowns_stay_unmatched() -> None:
    assert normalise("辽宁", "朝阳").city_code == "211300"
    assert normalise("北京", "朝阳").district_code == "110105"
    assert normalise("火星") == normalise(None)
    mismatch = normalise("广东", "杭州")  # a city outside the province given is not trusted
    assert (mismatch.province_code, mismatch.city) == ("440000", None)


def test_every_province_and_city_matches_its_own_official_and_short_name() -> None:
    index = divisions()
    provinces = [d for d in index.by_code.values() if d.level == "province"]
    assert len(provinces) == 34
    for div in index.by_code.values():
        if div.level == "province":
            assert normalise(div.name).province_code == div.code
            assert normalise(short_name(div.name)).province_code == div.code
        elif div.level == "city":
            assert normalise(index.by_code[div.parent or ""].name, div.name).city_code == div.code, div
    assert lookup("440300") is not None and lookup("440300").name == "深圳市"  # type: ignore[union-attr]
