"""Identity: phone three-factor check (name + id number + phone).

Two entry points, one function: the state machine's identity step (``{"task_id": ...}``) and
POST /identity/three-factor (API Gateway). Both go through the identity cache.
"""

from functools import partial

from carrier_auth import facade, flow
from carrier_auth.handlers import api_function

PROVIDER = "three_factor"

lambda_handler = api_function(
    "POST",
    "/identity/three-factor",
    partial(facade.identity_check, PROVIDER),
    metric="IdentityCheck",
    step=lambda event: flow.identity_step(event["task_id"], PROVIDER),
)
