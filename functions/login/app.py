"""State machine Task ``Begin`` (statemachine/definition.py): ``flow.login``.

The identity pre-check (by the deployment's IdentityPolicy, once per task), then the carrier
login. When the provider asks for the SMS code / captcha the step parks its task token on the
session (the app's code or resend request resumes it); otherwise it completes its own task.
"""

from carrier_auth import flow
from carrier_auth.handlers import step_function

lambda_handler = step_function(flow.login)
