"""Identity: phone three-factor check (name + id number + phone).

POST /identity/three-factor (API Gateway), through the identity cache. The carrier
flow's pre-check runs the same check inside its begin step (``identity.verify_person``).
"""

from functools import partial

from carrier_auth import facade
from carrier_auth.handlers import api_function

PROVIDER = "three_factor"

lambda_handler = api_function(
    "checkThreeFactor",
    partial(facade.identity_check, PROVIDER),
    metric="IdentityCheck",
    traced=("botocore", "requests"),
)
