"""What a mainland mobile number says about itself: carrier (ISP) and region, from
phonenumbers' offline data in Chinese. The carrier is the original allocation: number
portability (携号转网) can change it, so treat it as a hint.

Importing ``phonenumbers.geocoder`` loads the area data of every country (about 40 MB of
generated source, 0.3 s and more; ``phonenumbers.carrier`` another 30 ms), although one number
needs one or two of its files. ``describe`` therefore looks its prefixes up file by file
(``_PrefixFiles``, a few ms on the first call) with phonenumbers' own lookup and answers
exactly what ``geocoder.description_for_number`` / ``carrier.name_for_number`` answer
(tests/unit/test_numbers.py compares them): only a number with a mobile token (Argentina), or
data files not laid out as expected, goes to those modules themselves. phonenumbers itself is
imported on the first call too.
"""

from __future__ import annotations

import bisect
import importlib.util
import os
import re
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    import phonenumbers

# The mainland's 31 provincial-level divisions, as phonenumbers' Chinese area names begin (the
# ``province`` of ``describe``), in GB/T 2260 order -> ISO 3166-2:CN code without "CN-". The one
# province table: PROVINCES (telemetry, the dashboard) and juxinli's website suffixes derive from it.
PROVINCE_ISO_CODES: dict[str, str] = {
    "北京": "BJ", "天津": "TJ", "河北": "HE", "山西": "SX", "内蒙古": "NM", "辽宁": "LN",
    "吉林": "JL", "黑龙江": "HL", "上海": "SH", "江苏": "JS", "浙江": "ZJ", "安徽": "AH",
    "福建": "FJ", "江西": "JX", "山东": "SD", "河南": "HA", "湖北": "HB", "湖南": "HN",
    "广东": "GD", "广西": "GX", "海南": "HI", "重庆": "CQ", "四川": "SC", "贵州": "GZ",
    "云南": "YN", "西藏": "XZ", "陕西": "SN", "甘肃": "GS", "青海": "QH", "宁夏": "NX",
    "新疆": "XJ",
}  # fmt: skip
PROVINCES = tuple(PROVINCE_ISO_CODES)
LANGUAGE = "zh"


@dataclass(frozen=True)
class NumberInfo:
    isp: str  # 中国移动 / 中国联通 / 中国电信 / 中国广电, or ""
    region: str  # e.g. 江苏省常州市, or ""
    province: str  # e.g. 江苏, or ""


def describe(mobile: str) -> NumberInfo:
    import phonenumbers

    try:
        number = phonenumbers.parse(mobile, "CN")
    except phonenumbers.NumberParseException:
        return NumberInfo("", "", "")
    region = _region(number)
    province = next((p for p in PROVINCES if region.startswith(p)), "")
    return NumberInfo(_isp(number), region, province)


def _region(number: phonenumbers.PhoneNumber) -> str:
    """``geocoder.description_for_number(number, "zh")``."""
    import phonenumbers

    kind = phonenumbers.number_type(number)
    if kind == phonenumbers.PhoneNumberType.UNKNOWN:
        return ""
    areas, lookup = _prefix_files("geodata"), _lookup()
    token = phonenumbers.country_mobile_token(number.country_code)  # Argentina's "9", ...
    has_token = bool(token) and phonenumbers.national_significant_number(number).startswith(token)
    if areas is None or lookup is None or has_token:
        return _geocoder(number)
    if phonenumbers.is_number_type_geographical(kind, number.country_code):
        area = lookup(areas, areas.longest_prefix, number, LANGUAGE)
        if area != "":
            return area
    countries = _country_names()  # no area known (or not a geographical number): the country
    return _geocoder(number) if countries is None else _country_name(number, countries)


def _geocoder(number: phonenumbers.PhoneNumber) -> str:
    from phonenumbers import geocoder  # all of its data, see the module docstring

    return geocoder.description_for_number(number, LANGUAGE)


def _country_name(number: phonenumbers.PhoneNumber, countries: dict[str, dict[str, str]]) -> str:
    """``geocoder.country_name_for_number(number, "zh")``."""
    import phonenumbers

    regions = phonenumbers.region_codes_for_country_code(number.country_code)
    if len(regions) == 1:
        region = regions[0]
    else:
        region = "ZZ"
        for candidate in regions:
            if phonenumbers.is_valid_number_for_region(number, candidate):
                if region != "ZZ":
                    return ""  # valid in several regions: which one is unknown
                region = candidate
    names = countries.get(region)
    if names is None:
        return ""
    name = names.get(LANGUAGE, "")
    return names.get(name[1:], "") if name.startswith("*") else name  # "*en": the name held under "en"


def _isp(number: phonenumbers.PhoneNumber) -> str:
    """``carrier.name_for_number(number, "zh")``."""
    import phonenumbers

    if phonenumbers.number_type(number) not in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
        phonenumbers.PhoneNumberType.PAGER,
    ):
        return ""
    carriers, lookup = _prefix_files("carrierdata"), _lookup()
    if carriers is None or lookup is None:
        from phonenumbers import carrier

        return carrier.name_for_number(number, LANGUAGE)
    return lookup(carriers, carriers.longest_prefix, number, LANGUAGE)


class _PrefixFiles:
    """The prefix -> {language: text} data of phonenumbers' ``geodata`` or ``carrierdata``
    package, one generated file at a time.

    The package merges ``data0.py`` ... ``dataN.py``: the keys sorted, cut into files of 10,000.
    A prefix can only be in the file whose first key is the greatest one not above it, so only
    that file is loaded (under its own name, not registered: the package itself stays unloaded).
    """

    _DATA_FILE = re.compile(r"data([0-9]+)\.py")
    _FIRST_KEY = re.compile(r"^data = \{\s*'([0-9]+)'", re.MULTILINE)
    _LONGEST = re.compile(r"^[A-Z]+_LONGEST_PREFIX = ([0-9]+)$", re.MULTILINE)

    def __init__(self, package: str) -> None:
        import phonenumbers

        folder = os.path.join(os.path.dirname(phonenumbers.__file__), package)
        with open(os.path.join(folder, "__init__.py"), encoding="utf-8") as f:
            init = f.read()
        self.longest_prefix = int(self._match(self._LONGEST, init))
        indexed = sorted((int(m.group(1)), n) for n in os.listdir(folder) if (m := self._DATA_FILE.fullmatch(n)))
        if [i for i, _ in indexed] != list(range(len(indexed))) or not indexed:
            raise LookupError(f"{package}: unexpected data files")
        self._module = f"phonenumbers.{package}.data"
        self._paths = [os.path.join(folder, name) for _, name in indexed]
        self._first_keys = []
        for path in self._paths:
            with open(path, encoding="utf-8") as f:
                self._first_keys.append(self._match(self._FIRST_KEY, f.read(8192)))
        if any(a >= b for a, b in zip(self._first_keys, self._first_keys[1:])):
            raise LookupError(f"{package}: data files not in key order")
        self._files: dict[int, dict[str, Any]] = {}

    @staticmethod
    def _match(pattern: re.Pattern[str], text: str) -> str:
        found = pattern.search(text)
        if found is None:
            raise LookupError(f"no {pattern.pattern!r}")
        return found.group(1)

    def _file(self, prefix: str) -> dict[str, Any]:
        index = bisect.bisect_right(self._first_keys, prefix) - 1
        if index < 0:
            return {}
        if index not in self._files:
            self._files[index] = _load(f"{self._module}{index}", self._paths[index]).data
        return self._files[index]

    def __contains__(self, prefix: str) -> bool:
        return prefix in self._file(prefix)

    def __getitem__(self, prefix: str) -> Any:
        return self._file(prefix)[prefix]


def _load(name: str, path: str) -> Any:
    """One generated phonenumbers module, by path: its package (and the rest of the data) stays
    unloaded. Not registered in sys.modules; its compiled .pyc is used as for any import."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise LookupError(path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@cache
def _country_names() -> dict[str, dict[str, str]] | None:
    """``phonenumbers.geodata.locale.LOCALE_DATA``: country names by language."""
    import phonenumbers

    path = os.path.join(os.path.dirname(phonenumbers.__file__), "geodata", "locale.py")
    try:
        return _load("phonenumbers.geodata.locale", path).LOCALE_DATA
    except (OSError, LookupError, AttributeError):
        return None  # phonenumbers' own modules answer


@cache
def _prefix_files(package: str) -> _PrefixFiles | None:
    try:
        return _PrefixFiles(package)
    except (OSError, LookupError, ValueError):
        return None  # phonenumbers' own modules answer


@cache
def _lookup() -> Callable[..., str] | None:
    try:
        from phonenumbers.prefix import _prefix_description_for_number
    except ImportError:
        return None
    return _prefix_description_for_number
