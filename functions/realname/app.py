"""Identity: 驭信 real-name mobile check (verifyMobile, AES-encrypted logon).

POST /identity/realname (API Gateway), through the identity cache. The carrier
flow's pre-check runs the same check inside its begin step (``identity.verify_person``).
"""

from functools import partial

from carrier_auth import facade
from carrier_auth.handlers import api_function

PROVIDER = "yuxin"

lambda_handler = api_function(
    "checkRealname",
    partial(facade.identity_check, PROVIDER),
    metric="IdentityCheck",
    traced=("botocore", "requests"),
)
