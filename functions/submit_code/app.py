"""POST /carrier/auth/code: 运营商提交验证码 (seed 000), also the image captcha / query password.

Idempotent on (task_id, traceId, body): an exact replay answers the first answer."""

from functools import partial

from carrier_auth import facade
from carrier_auth.handlers import api_function

lambda_handler = api_function(
    "submitCode",
    partial(facade.signal, "submit"),
    metric="SubmitRequested",
    on_context=facade.register_lambda_context,
)
