"""carrier_auth.numbers.PROVINCE_ISO_CODES is the one province table: the province names
(``numbers.PROVINCES``: describe, telemetry, the dashboard) and Juxinli's website suffixes
(``juxinli.PROVINCE_CODES``) are computed from it, and no other module spells a province."""

from __future__ import annotations

import ast
from pathlib import Path

from carrier_auth import numbers
from carrier_auth.providers import juxinli

PACKAGE = Path(numbers.__file__).parent


def test_the_table_holds_each_province_once() -> None:
    table = numbers.PROVINCE_ISO_CODES
    assert len(table) == len(set(table.values())) == 31
    assert all(len(code) == 2 and code.isascii() and code.isalpha() and code.isupper() for code in table.values())
    # a name that starts another would make describe's prefix match depend on the order
    assert not [(a, b) for a in table for b in table if a != b and b.startswith(a)]


def test_province_names_come_from_the_table() -> None:
    assert numbers.PROVINCES == tuple(numbers.PROVINCE_ISO_CODES)


def test_juxinli_website_suffixes_come_from_the_table() -> None:
    assert list(juxinli.PROVINCE_CODES.items()) == [
        (province, code.lower()) for province, code in numbers.PROVINCE_ISO_CODES.items()
    ]


def test_no_other_module_keeps_a_province_table() -> None:
    provinces = set(numbers.PROVINCES)
    spelled = {
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path.name != "numbers.py" or path.parent != PACKAGE
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant) and node.value in provinces
    }
    assert not spelled, f"province names outside numbers.py (derive them from numbers.PROVINCE_ISO_CODES): {spelled}"
