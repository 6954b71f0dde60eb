"""What a mainland mobile number says about itself: carrier (ISP) and region, from
phonenumbers' offline data in Chinese. The carrier is the original allocation: number
portability (携号转网) can change it, so treat it as a hint."""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
from phonenumbers import carrier, geocoder

PROVINCES = (
    "北京", "天津", "河北", "山西", "内蒙古", "辽宁", "吉林", "黑龙江", "上海", "江苏", "浙江", "安徽",
    "福建", "江西", "山东", "河南", "湖北", "湖南", "广东", "广西", "海南", "重庆", "四川", "贵州",
    "云南", "西藏", "陕西", "甘肃", "青海", "宁夏", "新疆",
)


@dataclass(frozen=True)
class NumberInfo:
    isp: str  # 中国移动 / 中国联通 / 中国电信 / 中国广电, or ""
    region: str  # e.g. 江苏省常州市, or ""
    province: str  # e.g. 江苏, or ""


def describe(mobile: str) -> NumberInfo:
    try:
        number = phonenumbers.parse(mobile, "CN")
    except phonenumbers.NumberParseException:
        return NumberInfo("", "", "")
    region = geocoder.description_for_number(number, "zh")
    province = next((p for p in PROVINCES if region.startswith(p)), "")
    return NumberInfo(carrier.name_for_number(number, "zh"), region, province)
