"""What the sandbox's emulators share: the reply types, the maintenance state, number helpers and
the settings each emulator is built from. Imports no other module of the sandbox."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol

import phonenumbers
from phonenumbers import carrier as phone_carrier

logger = logging.getLogger("carrier_auth.sandbox")

# (status, body): a JSON value, a str sent as text/plain, a ``Text``, or a ``Late`` answer
Reply = tuple[int, Any]
Query = dict[str, str]


class Emulator(Protocol):
    """What the server mounts under a path prefix (``path`` is the rest after it)."""

    def handle(self, method: str, path: str, query: Query, headers: Any, body: Any) -> Reply: ...


@dataclass(frozen=True)
class Settings:
    """What ``SandboxProviders`` builds every emulator from (each module's ``build``)."""

    juxinli_org_name: str
    juxinli_client_secret: str
    juxinli_query_pwd_key: str
    collect_polls_before_done: int
    three_factor_token: str
    moxie_apikey: str
    yuxin_token: str
    yuxin_aes_key: str
    late_answer_seconds: float


@dataclass(frozen=True)
class Text:
    """An answer body that is not JSON (an HTML error page, truncated JSON) and its content type."""

    text: str
    content_type: str = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class Late:
    """An answer decided now - the emulator's state has already changed - but sent ``seconds``
    later, outside the server's lock: a call that took effect and timed out."""

    body: Any
    seconds: float


MAINTENANCE_PAGE = Text("<html><body>系统维护中</body></html>", "text/html; charset=utf-8")


class Maintenance:
    """Who is "under maintenance" for the ``MAINTENANCE`` scenario: HTTP 200 with
    ``MAINTENANCE_PAGE`` to every request about that number.

    The first emulator asked to log the number in goes down, and stays down for every retry,
    until another emulator is asked to log it in: that one is healthy and the first recovers.
    So whichever provider a gateway tries first finds it down and fails over to the next one,
    with no setting to keep in step with the gateway's provider order. The emulators of one
    ``SandboxProviders`` share one (``mount`` hands it over); they call it under the server's
    lock."""

    def __init__(self) -> None:
        self._down: object | None = None

    def applies(self, emulator: object, login: bool) -> bool:
        """Whether ``emulator`` answers a request about the number with the maintenance page;
        ``login``: the request would start a login there."""
        if login and self._down is None:
            self._down = emulator
        elif login and self._down is not emulator:
            self._down = None  # the gateway failed over: this one is healthy, the other recovers
        return self._down is emulator


# phonenumbers English carrier name -> (Juxinli website prefix, carrier name, three-factor Isp)
_CARRIERS = {
    "China Mobile": ("chinamobile", "中国移动", "移动"),
    "China Unicom": ("chinaunicom", "中国联通", "联通"),
    "China Telecom": ("chinatelecom", "中国电信", "电信"),
}
_OTHER_CARRIER = ("chinamobile", "中国移动", "")


def mask_mobile(mobile: Any) -> str:
    """138****8000 for a mobile number; never the whole value of anything else."""
    text = str(mobile or "")
    return f"{text[:3]}****{text[-4:]}" if len(text) == 11 and text.isdigit() else "****"


def mobile_number(mobile: Any) -> phonenumbers.PhoneNumber | None:
    if not (isinstance(mobile, str) and len(mobile) == 11 and mobile.isdigit()):
        return None
    number = phonenumbers.parse(mobile, "CN")
    if phonenumbers.number_type(number) != phonenumbers.PhoneNumberType.MOBILE:
        return None
    return number


def carrier_of(mobile: str) -> tuple[str, str, str]:
    number = mobile_number(mobile)
    name = phone_carrier.name_for_number(number, "en") if number else ""
    return _CARRIERS.get(name, _OTHER_CARRIER)
