"""The sandbox's three-factor emulator: the aggregator's PhoneVerification business code (seed
002). Local and tests only, never deployed.

Served by ``SandboxProviders`` under ``PREFIX``: ``POST /tech/ai/celerity/universal`` with the
``Authorization`` token (else errcode 401) and ``{"buscode": "PhoneVerification", "group":
"real", "data": {"IdCard", "Name", "Phone"}}`` (else errcode 400). The ``Result`` is the
number's ``three_factor`` in ``local.sandbox.scenarios`` ("0", 认证通过, for any other number);
``Isp`` is the number's carrier for Results 0 and -4. Log lines carry a masked mobile and the
Result only.
"""

from __future__ import annotations

import uuid
from typing import Any

from .common import Query, Reply, Settings, carrier_of, logger, mask_mobile
from .scenarios import scenario

PREFIX = "/three-factor"

_DESCRIPTIONS = {
    "0": "认证通过",
    "-4": "信息不一致",
    "-6": "手机号码不合法",
    "-7": "身份证号码有误",
    "-8": "姓名校验不通过",
    "-9": "没有记录",
    "-11": "验证中心服务繁忙",
    "-12": "验证次数超过当日限制",
    "-13": "不支持该号段",
}


def build(settings: Settings) -> ThreeFactorEmulator:
    return ThreeFactorEmulator(settings.three_factor_token)


class ThreeFactorEmulator:
    """The aggregator's PhoneVerification business code."""

    def __init__(self, token: str) -> None:
        self._token = token

    def handle(self, method: str, path: str, query: Query, headers: Any, body: Any) -> Reply:
        if method != "POST" or path != "/tech/ai/celerity/universal":
            return 404, {"errcode": 404, "errmsg": "接口不存在", "data": None}
        if headers.get("Authorization") != self._token:
            logger.info("sandbox three-factor refused: bad Authorization")
            return 200, {"errcode": 401, "errmsg": "token无效或已过期", "data": None}
        data = body.get("data") if isinstance(body, dict) else None
        if (
            not isinstance(data, dict)
            or body.get("buscode") != "PhoneVerification"
            or body.get("group") != "real"
            or not all(data.get(key) for key in ("IdCard", "Name", "Phone"))
        ):
            logger.info("sandbox three-factor refused: bad parameters")
            return 200, {"errcode": 400, "errmsg": "参数错误", "data": None}
        mobile = str(data["Phone"])
        result = scenario(mobile).three_factor
        logger.info("sandbox three-factor mobile=%s Result=%s", mask_mobile(mobile), result)
        return 200, _verification(result, carrier_of(mobile)[2] if result in ("0", "-4") else "")


def _verification(result: str, isp: str) -> dict[str, Any]:
    response = {
        "Result": result,
        "Description": _DESCRIPTIONS[result],
        "Isp": isp,
        "RequestId": str(uuid.uuid4()),
    }
    return {
        "errcode": 0,
        "data": {
            "traceNo": str(uuid.uuid4().int)[:19],
            "result": {"responseJson": {"Response": response}},
            "status": "success",
        },
        "errmsg": "SUCCESS",
    }
