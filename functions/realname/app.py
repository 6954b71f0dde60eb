"""Identity: 驭信 real-name mobile check (verifyMobile, AES-encrypted logon).

Two entry points, one function: the state machine's identity step (``{"task_id": ...}``) and
POST /identity/realname (API Gateway). Both go through the identity cache.
"""

from functools import partial

from carrier_auth import facade, flow
from carrier_auth.handlers import api_function

PROVIDER = "yuxin"

lambda_handler = api_function(
    "POST",
    "/identity/realname",
    partial(facade.identity_check, PROVIDER),
    metric="IdentityCheck",
    step=lambda event: flow.identity_step(event["task_id"], PROVIDER),
)
