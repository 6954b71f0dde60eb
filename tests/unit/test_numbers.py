"""numbers.describe reads phonenumbers' prefix data file by file: it must answer exactly what
phonenumbers' geocoder and carrier modules answer (a phonenumbers upgrade that lays the data out
differently makes it fall back to them, never answer differently)."""

from __future__ import annotations

import random

import phonenumbers
import pytest
from phonenumbers import carrier, geocoder
from phonenumbers.carrierdata import CARRIER_DATA
from phonenumbers.geodata import GEOCODE_DATA

from carrier_auth import numbers


def official(mobile: str) -> numbers.NumberInfo:
    try:
        number = phonenumbers.parse(mobile, "CN")
    except phonenumbers.NumberParseException:
        return numbers.NumberInfo("", "", "")
    region = geocoder.description_for_number(number, "zh")
    province = next((p for p in numbers.PROVINCES if region.startswith(p)), "")
    return numbers.NumberInfo(carrier.name_for_number(number, "zh"), region, province)


def _complete(prefix: str, rnd: random.Random) -> str:
    """A national number that starts with a CN prefix (86...): mobile 11 digits, else 0 + area."""
    national = prefix[2:]
    if national.startswith("1"):
        return national + "".join(rnd.choice("0123456789") for _ in range(11 - len(national)))
    return "0" + national + "".join(rnd.choice("0123456789") for _ in range(max(0, 10 - len(national))))


def test_the_data_files_are_read_one_at_a_time() -> None:
    assert numbers._prefix_files("geodata") is not None
    assert numbers._prefix_files("carrierdata") is not None
    assert numbers._lookup() is not None


def test_every_kind_of_number_matches_phonenumbers() -> None:
    rnd = random.Random(8)
    cn = sorted(k for k in GEOCODE_DATA if k.startswith("86"))
    cases = [_complete(p, rnd) for p in rnd.sample(cn, 3000)]
    cases += [_complete(p, rnd) for p in CARRIER_DATA if p.startswith("86")]
    cases += ["1" + "".join(rnd.choice("0123456789") for _ in range(10)) for _ in range(2000)]
    cases += ["", "abc", "13800138000", "+8613800138000", "008613800138000", "1380013800", "95588", "400-810-8888",
              "+16502530000", "+442083661177", "+5491123456789", "+541123456789", "+5215512345678", "+85291234567",
              "+886912345678", "+61412345678", "+8640081088888", "+861012345678", "+8616512345678"]
    assert [c for c in cases if numbers.describe(c) != official(c)] == []


@pytest.mark.parametrize("mobile", ["13912345678", "18612345678", "17712345678"])
def test_a_mainland_mobile_has_carrier_and_province(mobile: str) -> None:
    info = numbers.describe(mobile)
    assert info.isp.startswith("中国")
    assert info.province in numbers.PROVINCES and info.region.startswith(info.province)


def test_a_range_without_area_data_answers_the_country() -> None:
    assert numbers.describe("19912345678") == official("19912345678") == numbers.NumberInfo("中国电信", "中国", "")
