"""The plaintext-secret scan both stack suites end with (integration, browser)."""

from __future__ import annotations

import re


def pattern(secret: str) -> re.Pattern:
    # codes are short (123456, ab12): do not match them inside hex ids, uuids (task tokens),
    # base64 ciphertexts or timestamps
    if len(secret) < 10:
        return re.compile(rf"(?<![0-9A-Za-z+/-]){re.escape(secret)}(?![0-9A-Za-z+/=-])")
    return re.compile(re.escape(secret))


def leaks(text: str, secrets: set[str]) -> list[str]:
    """The secrets that appear in ``text``."""
    return sorted(s for s in secrets if pattern(s).search(text))
