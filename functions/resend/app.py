"""POST /carrier/auth/resend: 运营商重发验证码 (seed 000). Idempotent on (task_id, traceId, body)."""

from functools import partial

from carrier_auth import facade
from carrier_auth.handlers import api_function

lambda_handler = api_function(
    "resendCode",
    partial(facade.signal, "resend"),
    metric="ResendRequested",
    on_context=facade.register_lambda_context,
)
